"""``thuvien keys create|list|revoke``: API keys for patrons, librarians and admins (mounted by services/cli.py).

A key is printed once, on stdout, and stored only as an argon2 hash (auth/keys.py). Every create and revoke
goes to the audit log with the actor ``cli``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from auth.roles import ROLE_NAMES

app = typer.Typer(help="Khoá API / API keys: create (shown once), list, revoke.", no_args_is_help=True)
console = Console(stderr=True)


def _settings():
    from services.common.settings import Settings

    return Settings()  # fresh: THUVIEN_* as they are now


def _stores():
    from audit import AuditLog
    from auth.keys import KeyStore

    url = _settings().security_db_url
    return KeyStore(url), AuditLog(url)


def _audit(log, action: str, key, **details) -> None:
    log.record(
        actor="cli",
        role="admin",
        action=action,
        target=f"key:{key.id}",
        library_id=key.library_id,
        details={"role": key.role.label, "patron_id": key.patron_id, "name": key.name, **details},
    )


@app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of {', '.join(ROLE_NAMES[1:])}")],
    library: Annotated[
        str | None,
        typer.Option("--library", "-l", help="Library the key is bound to (required except for admin keys: '*')"),
    ] = None,
    patron: Annotated[str | None, typer.Option("--patron", "-p", help="Patron id (patron keys only)")] = None,
    name: Annotated[str, typer.Option("--name", "-n", help="A note: who or what uses the key")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the key and its fields as one JSON object")] = False,
) -> None:
    """Create a key and print it ONCE; only its hash is stored."""
    from auth.keys import KeyError_

    keys, log = _stores()
    try:
        new = keys.create(role, library, patron_id=patron, name=name)
    except (KeyError_, ValueError) as exc:
        typer.echo(f"thuvien keys create: {exc}", err=True)
        raise typer.Exit(2) from exc
    _audit(log, "keys.create", new.key)
    k = new.key
    if as_json:
        fields = {"id": k.id, "role": k.role.label, "library_id": k.library_id, "patron_id": k.patron_id}
        typer.echo(json.dumps({"key": new.secret, **fields, "name": k.name}, ensure_ascii=False))
    else:
        typer.echo(new.secret)
    console.print(
        f"[green]✓[/green] key {k.id}: role {k.role.label}, library {k.library_id}"
        + (f", patron {k.patron_id}" if k.patron_id else "")
        + "\n  Lưu khoá này ngay: nó không được hiển thị lại. / Store this key now: it is not shown again."
        + "\n  Dùng / use: header 'X-API-Key: <key>' or 'Authorization: Bearer <key>'."
    )


@app.command("list")
def list_keys(
    show_all: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """List keys (ids, roles, libraries; never secrets or hashes)."""
    keys, _ = _stores()
    rows = keys.list(include_revoked=show_all)
    if as_json:
        for k in rows:
            typer.echo(
                json.dumps(
                    {
                        "id": k.id,
                        "role": k.role.label,
                        "library_id": k.library_id,
                        "patron_id": k.patron_id,
                        "name": k.name,
                        "created_at": k.created_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table(title="Khoá API / API keys")
    for col in ("id", "role", "library", "patron", "name", "created", "revoked"):
        table.add_column(col)
    for k in rows:
        table.add_row(
            k.id,
            k.role.label,
            k.library_id,
            k.patron_id or "",
            k.name,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )
    Console(width=160).print(table)
    if not rows:
        console.print("no keys yet: `thuvien keys create --role librarian --library <id>`")


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `thuvien keys list`)")]) -> None:
    """Revoke a key at once (every server process checks on each request)."""
    from auth.keys import KeyError_

    keys, log = _stores()
    try:
        key = keys.revoke(key_id.strip())
    except KeyError_ as exc:
        typer.echo(f"thuvien keys revoke: {exc}", err=True)
        raise typer.Exit(2) from exc
    _audit(log, "keys.revoke", key)
    console.print(f"[green]✓[/green] key {key.id} revoked / đã thu hồi")
