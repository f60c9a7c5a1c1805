"""Request ids, structured JSON logs and per-request metrics, shared by every service.

``X-Request-ID``: taken from the caller when it is a sane token (letters, digits and ``._:-``, at most 128
characters), else generated; set in a contextvar for the time of the request, returned in the response,
and sent on by :class:`~services.common.client.ServiceClient` on every call to another service, so one id
follows a request through the gateway and every service it reaches.

Logs: with ``THUVIEN_LOG_JSON`` (on by default under ``thuvien serve``) every line on stderr is one JSON
object: ``time``, ``level``, ``logger``, ``message``, ``request_id``, ``service``, ``route``, ``status``,
``duration_ms`` (null where they do not apply), plus ``method``, ``path`` and ``exception`` when present.
Every request answered gives one line from the ``thuvien.access`` logger (probes, ``/metrics`` and the calls
between the apps of one process at DEBUG).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = b"x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")

request_id_var: ContextVar[str | None] = ContextVar("thuvien_request_id", default=None)
service_var: ContextVar[str | None] = ContextVar("thuvien_service", default=None)

access_log = logging.getLogger("thuvien.access")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/favicon.ico"})


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | bytes | None) -> str | None:
    """The caller's id if it is a sane token, else None (a fresh one is then generated)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    return value if _VALID_ID.match(value) else None


def current_request_id() -> str | None:
    return request_id_var.get()


# ---------------------------------------------------------------------------------------------- logging

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_EXTRA_KEYS = ("method", "path", "client", "target", "attempt", "url")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; request id and service come from the contextvars unless given."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "service": getattr(record, "service", None) or service_var.get() or self.service,
            "route": getattr(record, "route", None),
            "status": getattr(record, "status", None),
            "duration_ms": getattr(record, "duration_ms", None),
        }
        for key in _EXTRA_KEYS:
            if key in record.__dict__:
                data[key] = record.__dict__[key]
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class _ContextFilter(logging.Filter):
    """Gives plain-text records ``request_id`` and ``service`` attributes for the format string."""

    def __init__(self, service: str | None) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or "-"
        if not getattr(record, "service", None):
            record.service = service_var.get() or self.service or "-"
        return True


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(service)s %(request_id)s] %(message)s"


def configure_logging(service: str | None, *, json_logs: bool = True, level: str = "INFO") -> None:
    """Send every log line of this process (uvicorn's too) to stderr, as JSON or as plain text."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.addFilter(_ContextFilter(service))
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    # One line per call between services would double the access log; failures are logged by our client.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


# ------------------------------------------------------------------------------------------- middleware


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/records/{library_id}/{record_id}``), or ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/"
    return "<unmatched>"


class ObservabilityMiddleware:
    """Pure ASGI (streamed responses stay streamed): request id in and out, metrics, one access log line."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == _HEADER_KEY:
                incoming = value
                break
        # Called in process by another app of this process (embedded topology): its line is the one at INFO.
        nested = request_id_var.get() is not None
        rid = clean_request_id(incoming) or new_request_id()
        rid_token = request_id_var.set(rid)
        svc_token = service_var.set(self.service)
        status = 500
        method = scope.get("method", "")
        start = perf_counter()
        gauge = HTTP_IN_FLIGHT.labels(self.service)
        gauge.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER_KEY]
                headers.append((_HEADER_KEY, rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            failed = True
            raise
        finally:
            gauge.dec()
            elapsed = perf_counter() - start
            route = route_template(scope)
            code = str(status)
            HTTP_REQUESTS.labels(self.service, method, route, code).inc()
            HTTP_LATENCY.labels(self.service, method, route, code).observe(elapsed)
            path = scope.get("path", "")
            level = logging.DEBUG if nested or (path in QUIET_PATHS and status < 400) else logging.INFO
            if path in QUIET_PATHS and not failed:
                pass  # probes: a not-ready 503 is normal while models load
            elif failed or status >= 500:
                level = logging.WARNING if status == 503 and not failed else logging.ERROR
            access_log.log(
                level,
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "request_id": rid,
                    "service": self.service,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000.0, 2),
                    "method": method,
                    "path": path,
                },
            )
            service_var.reset(svc_token)
            request_id_var.reset(rid_token)
