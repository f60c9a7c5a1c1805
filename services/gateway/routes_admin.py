"""Who am I (any caller) and the audit log (admins): GET /api/v1/whoami, GET /api/v1/audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from audit import AuditEvent, parse_since
from services.common.auth import Admin, Reader, authenticator
from services.common.errors import Problem

router = APIRouter(prefix="/api/v1", tags=["auth"])


class WhoAmI(BaseModel):
    actor: str
    role: str
    library_id: str | None = None
    patron_id: str | None = None
    auth_enabled: bool


@router.get("/whoami", response_model=WhoAmI, summary="The caller's identity and role")
async def whoami(request: Request, principal: Reader) -> WhoAmI:
    return WhoAmI(
        actor=principal.actor,
        role=principal.role.label,
        library_id=principal.library_id,
        patron_id=principal.patron_id,
        auth_enabled=authenticator(request.app).enabled,
    )


@router.get("/audit", response_model=list[AuditEvent], summary="The audit log, newest first (admins)")
async def audit_log(
    request: Request,
    _: Admin,
    since: Annotated[str | None, Query(max_length=64, description="ISO time or age: 30m, 2h, 7d")] = None,
    actor: Annotated[str | None, Query(max_length=200, description="key:<id>, jwt:<sub>, cli, anonymous")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. records.import, or records")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AuditEvent]:
    try:
        start = parse_since(since) if since else None
    except ValueError as exc:
        raise Problem(
            422,
            f"Không đọc được thời điểm '{since}' (ví dụ: 2026-11-26, 2h, 7d).",
            str(exc),
            errors=[{"loc": ["query", "since"], "msg": str(exc)}],
        ) from None
    log = authenticator(request.app).audit_log
    return await run_in_threadpool(log.query, since=start, actor=actor, action=action, limit=limit)
