"""Roles on the gateway: the ``require(role)`` FastAPI dependency, patron and library checks, audit entries.

Credentials: ``X-API-Key: tvk_<id>_<secret>`` or ``Authorization: Bearer <key or JWT>``. No credentials:
an anonymous reader. Bad credentials: 401 on every route. A route whose role the caller does not have:
401 (problem+json with ``WWW-Authenticate``) for an anonymous caller, 403 for a lower role.

With ``THUVIEN_AUTH_ENABLED`` off (the embedded dev topology) nothing is refused for want of a role, but a
presented credential is still verified, so the audit log names who did what.

Every route declares its role with ``require(Role.X)`` (directly or through :func:`patron_path` or a router's
``dependencies``); :func:`annotate_openapi` writes it into the spec as ``x-thuvien-role``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from functools import cached_property, partial
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from audit import AuditLog
from auth.keys import KeyStore, key_id_of
from auth.roles import ANONYMOUS, Principal, Role, parse_role
from auth.tokens import JwtConfig, JwtVerifier, TokenError, looks_like_jwt
from services.common.errors import Problem
from services.common.observability import current_request_id
from services.common.settings import Settings

log = logging.getLogger("thuvien.auth")

API_KEY_HEADER = "X-API-Key"
WWW_AUTHENTICATE = 'Bearer realm="thuvien", charset="UTF-8"'
ROLE_MARK = "__thuvien_role__"
OPENAPI_ROLE = "x-thuvien-role"

_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey", description="A key from `thuvien keys create`."
)
_bearer = HTTPBearer(
    auto_error=False, scheme_name="Bearer", description="An API key, or a JWT from the library's identity provider."
)


def jwt_config(settings: Settings) -> JwtConfig:
    algorithms = tuple(a.strip() for a in settings.auth_jwt_algorithms.split(",") if a.strip())
    return JwtConfig(
        secret=settings.auth_jwt_secret,
        jwks=settings.auth_jwt_jwks,
        algorithms=algorithms,
        audience=settings.auth_jwt_audience,
        issuer=settings.auth_jwt_issuer,
        role_claim=settings.auth_jwt_role_claim,
        library_claim=settings.auth_jwt_library_claim,
        patron_claim=settings.auth_jwt_patron_claim,
        timeout_s=min(settings.service_timeout_s, 10.0),
    )


class Authenticator:
    """Turns the credentials of a request into a :class:`Principal`; the stores open on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.auth_enabled

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.settings.security_db_url)

    @cached_property
    def audit_log(self) -> AuditLog:
        return AuditLog(self.settings.security_db_url)

    @cached_property
    def jwt(self) -> JwtVerifier | None:
        config = jwt_config(self.settings)
        return JwtVerifier(config) if config.enabled else None

    def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            principal = ANONYMOUS
        elif key_id_of(credential) is not None:
            key = self.keys.verify(credential)
            if key is None:
                raise unauthorized(
                    "Khoá API không hợp lệ, đã bị thu hồi hoặc không tồn tại.",
                    "The API key is invalid, revoked or unknown.",
                )
            principal = key.principal()
        elif looks_like_jwt(credential):
            if self.jwt is None:
                raise unauthorized(
                    "Máy chủ này không nhận JWT (chưa cấu hình THUVIEN_AUTH_JWT_SECRET hoặc THUVIEN_AUTH_JWT_JWKS).",
                    "This server accepts no JWTs (THUVIEN_AUTH_JWT_SECRET or THUVIEN_AUTH_JWT_JWKS is not set).",
                )
            try:
                principal = self.jwt.verify(credential)
            except TokenError as exc:
                raise unauthorized(f"JWT không hợp lệ: {exc}", f"Invalid JWT: {exc}") from None
        else:
            raise unauthorized(
                "Thông tin xác thực không đúng dạng (cần khoá 'tvk_…' hoặc một JWT).",
                "Malformed credentials (expected a 'tvk_…' key or a JWT).",
            )
        return principal if self.enabled else replace(principal, enforced=False)


def unauthorized(vi: str, en: str) -> Problem:
    return Problem(401, vi, en, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def forbidden(vi: str, en: str, **extra: Any) -> Problem:
    return Problem(403, vi, en, **extra)


def authenticator(app: FastAPI) -> Authenticator:
    auth = getattr(app.state, "auth", None)
    if auth is None:
        settings = getattr(app.state, "settings", None) or Settings()
        auth = app.state.auth = Authenticator(settings)
    return auth


def credential_of(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    if api_key:
        return api_key.strip()
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    return None


def rate_identity(headers: dict[bytes, bytes] | list[tuple[bytes, bytes]]) -> str | None:
    """The bucket name of a request's credential without verifying it: ``key:<id>`` or ``jwt:<digest>``."""
    items = headers.items() if isinstance(headers, dict) else headers
    value = None
    for name, raw in items:
        lname = name.lower()
        if lname == b"x-api-key":
            value = raw.decode("latin-1").strip()
            break
        if lname == b"authorization":
            text = raw.decode("latin-1").strip()
            if text[:7].lower() == "bearer ":
                value = text[7:].strip()
    if not value:
        return None
    key_id = key_id_of(value)
    if key_id:
        return f"key:{key_id}"
    return "cred:" + hashlib.sha256(value.encode("latin-1", "replace")).hexdigest()[:16]


def _audit_denied(request: Request, principal: Principal, needed: Role) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    record_audit(
        request,
        principal,
        "auth.denied",
        target=f"{request.method} {request.url.path}",
        outcome="denied",
        needed=needed.label,
    )


def require(role: Role | str):
    """The dependency a route declares: the caller must have ``role`` (or higher). Returns the Principal."""
    needed = parse_role(role)

    def dependency(
        request: Request,
        api_key: Annotated[str | None, Security(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> Principal:
        auth = authenticator(request.app)
        principal = auth.authenticate(credential_of(api_key, bearer))
        request.state.principal = principal
        if not principal.enforced or principal.role >= needed:
            return principal
        if principal.anonymous:
            raise unauthorized(
                f"Cần đăng nhập với vai trò '{needed.label}' (khoá API hoặc JWT).",
                f"This needs the '{needed.label}' role: send an API key or a JWT.",
            )
        _audit_denied(request, principal, needed)
        raise forbidden(
            f"Vai trò '{principal.role.label}' không đủ quyền; cần '{needed.label}'.",
            f"The '{principal.role.label}' role may not do this; it needs '{needed.label}'.",
            required_role=needed.label,
        )

    setattr(dependency, ROLE_MARK, needed)
    return Depends(dependency)


Reader = Annotated[Principal, require(Role.READER)]
Patron = Annotated[Principal, require(Role.PATRON)]
Librarian = Annotated[Principal, require(Role.LIBRARIAN)]
Admin = Annotated[Principal, require(Role.ADMIN)]


def patron_path(request: Request, patron_id: str, principal: Patron) -> Principal:
    """For ``/patrons/{patron_id}/…``: a patron only their own id; librarians and admins any."""
    if not principal.may_read_patron(patron_id):
        _audit_denied(request, principal, Role.LIBRARIAN)
        raise forbidden(
            "Bạn chỉ xem được dữ liệu của chính mình.",
            "You may only see your own data.",
        )
    return principal


OwnPatron = Annotated[Principal, Depends(patron_path)]


def check_library(request: Request, principal: Principal, library_ids: str | set[str] | list[str]) -> None:
    """403 unless ``principal`` may change every library in ``library_ids``."""
    wanted = {library_ids} if isinstance(library_ids, str) else set(library_ids)
    other = sorted(lib for lib in wanted if not principal.may_change_library(lib))
    if other:
        _audit_denied(request, principal, Role.ADMIN)
        shown = ", ".join(other[:10])
        raise forbidden(
            f"Khoá này gắn với thư viện '{principal.library_id}'; không được thay đổi dữ liệu của: {shown}.",
            f"This credential is bound to library '{principal.library_id}'; it may not change records of: {shown}.",
            libraries=other[:10],
        )


def record_audit(
    request: Request,
    principal: Principal | None,
    action: str,
    *,
    target: str | None = None,
    library_id: str | None = None,
    outcome: str = "ok",
    **details: Any,
) -> None:
    """Append an audit event for this request (synchronous: call it through :func:`audit` from async code).

    A failing audit store is logged at ERROR and does not undo the change that was made."""
    principal = principal or getattr(request.state, "principal", None) or ANONYMOUS
    try:
        authenticator(request.app).audit_log.record(
            actor=principal.actor,
            role=principal.role_label,
            action=action,
            target=target,
            library_id=library_id,
            request_id=current_request_id() or request.headers.get("x-request-id"),
            outcome=outcome,
            details=details or None,
        )
    except Exception:  # noqa: BLE001 - the change is made; never turn it into a 500
        log.exception("could not write the audit event %s %s", action, target)


async def audit(request: Request, principal: Principal | None, action: str, **kw: Any) -> None:
    """:func:`record_audit` from async code (the audit store is synchronous)."""
    await run_in_threadpool(partial(record_audit, request, principal, action, **kw))


def route_role(route: APIRoute) -> Role | None:
    """The highest role any dependency of ``route`` declares, or None when it declares none."""
    found: list[Role] = []

    def walk(dependant) -> None:
        mark = getattr(dependant.call, ROLE_MARK, None)
        if mark is not None:
            found.append(mark)
        for sub in dependant.dependencies:
            walk(sub)

    walk(route.dependant)
    return max(found) if found else None


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details (services/common/errors.py).",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["title", "status", "detail"],
    "additionalProperties": True,
}
_401_TEXT = "No credentials where a role is needed, or bad, expired or revoked credentials (WWW-Authenticate)."
_403_TEXT = "The caller's role is below '{role}', or the record, library or patron is not theirs."


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute of ``app``, those of included routers too (FastAPI ≥ 0.16x nests them)."""
    try:
        from fastapi.routing import _iter_included_route_candidates as flatten
    except ImportError:  # older FastAPI: app.routes is already flat
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [r for r in flatten(app.routes) if isinstance(r, APIRoute)]


def annotate_openapi(app: FastAPI) -> None:
    """Write each route's role into the OpenAPI spec (``x-thuvien-role``), and say so in its description."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            role = route_role(route)
            if role is None:
                continue
            for method in route.methods:
                op = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if op is not None:
                    op[OPENAPI_ROLE] = role.label
                    responses = op.setdefault("responses", {})
                    responses.setdefault("401", _problem_response(_401_TEXT))
                    if role > Role.READER:
                        responses.setdefault("403", _problem_response(_403_TEXT.format(role=role.label)))
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault("Problem", PROBLEM_SCHEMA)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
