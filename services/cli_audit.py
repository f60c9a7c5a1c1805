"""``thuvien audit``: query the audit log (who changed what, when, under which request id)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def audit(
    since: Annotated[
        str | None,
        typer.Option(help="From this time: ISO (2026-11-26T08:00+07:00) or an age (30m, 2h, 7d)"),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor: key:<id>, jwt:<sub>, cli or anonymous")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (records.import) or family (records, keys, subjects)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many events, newest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Show the audit log: changes to records, vocabularies, keys, loans and subject feedback, newest first."""
    from audit import AuditLog, parse_since
    from services.common.settings import Settings

    try:
        start = parse_since(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc
    events = AuditLog(Settings().security_db_url).query(since=start, actor=actor, action=action, limit=limit)
    if as_json:
        for ev in events:
            typer.echo(ev.model_dump_json())
        return
    table = Table(title="Nhật ký kiểm toán / audit log")
    for col in ("time (UTC)", "actor", "role", "action", "target", "library", "outcome", "request id", "details"):
        table.add_column(col, overflow="fold")
    for ev in events:
        details = ", ".join(f"{k}={v}" for k, v in ev.details.items() if v not in (None, "", [], {}))
        table.add_row(
            f"{ev.at:%Y-%m-%d %H:%M:%S}",
            ev.actor,
            ev.role,
            ev.action,
            ev.target or "",
            ev.library_id or "",
            ev.outcome,
            ev.request_id or "",
            details[:200],
        )
    Console(width=200).print(table)
    console.print(f"{len(events)} event(s)")


top_level_commands = {"audit": audit}
