"""The ``thuvien`` command line: serve the suite, ingest records and files, build models, train.

Every command has ``--help``. Settings come from THUVIEN_* environment variables
(see services/common/settings.py); THUVIEN_DATA_DIR picks the data dir.
"""

from __future__ import annotations

import asyncio
import json
from importlib import import_module
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.common.settings import get_settings

app = typer.Typer(
    help="thuvien: AI services for Vietnamese libraries.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)

SERVICES = ("gateway", "nlp", "catalog", "embedding", "search", "qa", "subjects", "recommender")


@app.command()
def serve(
    service: Annotated[
        str,
        typer.Argument(
            help=f"One of {', '.join(SERVICES)}; 'gateway' runs the whole suite "
            "in this process unless THUVIEN_<SERVICE>_URL points elsewhere"
        ),
    ] = "gateway",
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Serve the gateway (with every service in process), or one service on its own."""
    from services.serve import run

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose one of {', '.join(SERVICES)}")
    try:
        run(service, get_settings(), host=host, port=port)
    except ValueError as exc:  # a service that cannot run with these settings: say which setting is missing
        typer.echo(f"thuvien serve {service}: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="MARC21 (.mrc), MARCXML, CSV, JSONL/JSON, TXT, EPUB or PDF files")
    ],
    library: Annotated[str, typer.Option("--library", "-l", help="Library id for records that do not name one")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Force a format: marc, marcxml, csv, jsonl, json, txt, epub, pdf (default: sniffed)",
        ),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            help='Column mapping for CSV/JSONL as JSON, e.g. \'{"Tiêu đề": "title"}\', or a path to such a file'
        ),
    ] = None,
    record_id: Annotated[str | None, typer.Option(help="Attach a digitized file to this existing record id")] = None,
) -> None:
    """Import records and digitized files, then index them. Idempotent and resumable."""
    from services.ingest_cli import run_ingest

    missing = [p for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"file not found: {', '.join(map(str, missing))}")
    col_map = None
    if mapping:
        text = Path(mapping).read_text(encoding="utf-8") if Path(mapping).exists() else mapping
        try:
            col_map = json.loads(text)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--mapping is not valid JSON: {exc}") from exc
    summary = asyncio.run(run_ingest(paths, library, get_settings(), fmt=fmt, mapping=col_map, record_id=record_id))
    _print_summary(summary)
    if summary.errors and not (summary.imported or summary.updated or summary.skipped):
        raise typer.Exit(1)


def _print_summary(summary) -> None:
    table = Table(title="Kết quả nhập / Import summary")
    for col in ("imported", "updated", "skipped", "errors"):
        table.add_column(col, justify="right")
    table.add_row(str(summary.imported), str(summary.updated), str(summary.skipped), str(len(summary.errors)))
    console.print(table)
    for err in summary.errors[:50]:
        console.print(f"[red]✗[/red] {err.file} · {err.position}: {err.reason}")
    if len(summary.errors) > 50:
        console.print(f"… {len(summary.errors) - 50} more errors")


def _mount_optional() -> None:
    """Sub-commands that live beside their domain's service."""
    for module, name in (
        ("services.cli_models", "models"),
        ("services.cli_subjects", "subjects"),
        ("services.cli_recommender", "recommender"),
        ("services.cli_backup", "backup"),
        ("services.cli_db", "db"),
        ("services.cli_keys", "keys"),
        ("services.cli_audit", None),  # top-level `thuvien audit` only
    ):
        try:
            sub = import_module(module)
        except ModuleNotFoundError:
            continue
        if name is not None:
            app.add_typer(sub.app, name=name)
        extra = getattr(sub, "top_level_commands", None)
        if extra:
            for cmd_name, fn in extra.items():
                app.command(cmd_name)(fn)


_mount_optional()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
