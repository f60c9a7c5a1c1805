"""An append-only table of changes: records, vocabularies, keys, loans, subject feedback.

One row per change: ``at`` (UTC), ``actor`` (``key:<id>``, ``jwt:<subject>``, ``cli`` or ``anonymous``),
``role``, ``action`` (dotted, e.g. ``records.import``, ``keys.revoke``, ``subjects.learn``), ``target``,
``library_id``, ``request_id`` (the request's X-Request-ID; empty for the CLI), ``outcome`` (``ok`` or
``denied``) and ``details`` (JSON). SQLite or PostgreSQL through SQLAlchemy.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text, select

from auth.db import engine_for, ensure_schema

metadata = MetaData()
audit_t = Table(
    "thuvien_audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(500), nullable=True),
    Column("library_id", String(100), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("outcome", String(16), nullable=False, default="ok"),
    Column("details", Text, nullable=True),
)
Index("ix_audit_at", audit_t.c.at)
Index("ix_audit_actor_at", audit_t.c.actor, audit_t.c.at)

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class AuditEvent(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str | None = None
    library_id: str | None = None
    request_id: str | None = None
    outcome: str = "ok"
    details: dict[str, Any] = Field(default_factory=dict)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``2026-11-26``, ``2026-11-26T01:00``, an ISO time with offset, or relative ``30m``/``2h``/``7d``/``1w``."""
    value = value.strip()
    m = _RELATIVE.match(value)
    if m:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(
            f"cannot read time {value!r}: give an ISO date/time (2026-11-26, 2026-11-26T08:00+07:00) "
            "or a relative age (30m, 2h, 7d, 1w)"
        ) from None


class AuditLog:
    def __init__(self, url_or_engine: str | Engine) -> None:
        self.engine = engine_for(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        ensure_schema(self.engine, metadata)

    def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        target: str | None = None,
        library_id: str | None = None,
        request_id: str | None = None,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Append one event; returns its id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                audit_t.insert().values(
                    at=_utc(at or datetime.now(UTC)),
                    actor=actor[:200],
                    role=role[:16],
                    action=action[:64],
                    target=target[:500] if target else None,
                    library_id=library_id[:100] if library_id else None,
                    request_id=request_id,
                    outcome=outcome[:16],
                    details=json.dumps(details, ensure_ascii=False, default=str) if details else None,
                )
            )
            return int(result.inserted_primary_key[0])

    def query(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest first. ``action`` matches exactly or as a prefix ending at a dot (``records`` → ``records.*``)."""
        q = select(audit_t).order_by(audit_t.c.at.desc(), audit_t.c.id.desc()).limit(max(1, min(limit, 100_000)))
        if since is not None:
            q = q.where(audit_t.c.at >= _utc(since))
        if actor:
            q = q.where(audit_t.c.actor == actor)
        if action:
            q = q.where((audit_t.c.action == action) | audit_t.c.action.startswith(action.rstrip(".") + "."))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            AuditEvent(
                id=r.id,
                at=_utc(r.at),
                actor=r.actor,
                role=r.role,
                action=r.action,
                target=r.target,
                library_id=r.library_id,
                request_id=r.request_id,
                outcome=r.outcome,
                details=json.loads(r.details) if r.details else {},
            )
            for r in rows
        ]
