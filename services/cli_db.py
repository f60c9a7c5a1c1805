"""``thuvien db upgrade|current`` (mounted by services/cli.py): the SQL stores' schema, from migrations/.

The stores apply the migrations themselves when they open; ``thuvien db upgrade`` does it ahead of
time (a deploy step, e.g. a Kubernetes Job before the new pods start), or to check the database answers.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Lược đồ cơ sở dữ liệu (SQLite hoặc PostgreSQL) / the database schema (SQLite or PostgreSQL).",
    no_args_is_help=True,
)
console = Console(stderr=True)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="SQLAlchemy URL of the database (postgresql://user@host/db, sqlite:///path, or a file path); "
        "default: THUVIEN_DATABASE_URL, else the data dir's SQLite file",
    ),
]


def _url(url: str | None) -> str:
    if url:
        return url
    from services.common.settings import get_settings

    return get_settings().db_url


def _unreachable(safe: str, exc: Exception) -> typer.Exit:
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
    console.print(f"[red]✗[/red] Không kết nối được cơ sở dữ liệu {safe}: {reason}")
    console.print(f"  The database {safe} is unreachable: {reason}")
    return typer.Exit(2)


@app.command()
def upgrade(
    url: UrlOption = None,
    revision: Annotated[str, typer.Option(help="Target revision (default: the newest)")] = "head",
) -> None:
    """Apply the migrations up to REVISION (idempotent; adopts a database made before migrations)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from migrations import current, normalize_url, safe_url
    from migrations import upgrade as run_upgrade

    target = normalize_url(_url(url))
    safe = safe_url(target)
    try:
        before = run_upgrade(target, revision)
        after = current(target)
    except (OperationalError, InterfaceError) as exc:
        raise _unreachable(safe, exc) from exc
    if before == after:
        console.print(f"✓ {safe}: đã ở phiên bản / already at revision {after}")
    else:
        console.print(f"✓ {safe}: {before or 'trống / empty'} → {after}")


@app.command("current")
def show_current(url: UrlOption = None) -> None:
    """Print the revision the database is at, and the newest one."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from migrations import current, head, normalize_url, safe_url

    target = normalize_url(_url(url))
    safe = safe_url(target)
    try:
        rev = current(target)
    except (OperationalError, InterfaceError) as exc:
        raise _unreachable(safe, exc) from exc
    typer.echo(f"{safe}: {rev or '-'} (head {head()})")
    if rev != head():
        console.print("  chạy / run: thuvien db upgrade")
