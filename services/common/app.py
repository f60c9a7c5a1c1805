"""The one way a thuvien service app is made: title, routers, problem+json errors, health, security headers.

Every app has ``/healthz`` (live: 200 as soon as the process serves), ``/readyz`` (200 when every readiness
check registered with :func:`add_readiness_check` or ``make_app(readiness=…)`` passes: models loaded, stores
reachable; else 503 problem+json naming what is not ready) and Prometheus ``/metrics``. Every request gets an
``X-Request-ID`` (the caller's, or a new one), counted in the metrics and logged as one structured line
(services/common/observability.py).

Every response carries ``X-Content-Type-Options: nosniff`` and a ``Referrer-Policy``; every HTML
response a Content-Security-Policy without inline scripts and ``X-Frame-Options: DENY``. The API
documentation pages (Swagger UI, ReDoc) are FastAPI's own: their inline scripts are allowed by hash,
never by ``'unsafe-inline'``, and their assets come from the one CDN FastAPI links.
CORS is off unless origins are allow-listed (THUVIEN_CORS_ORIGINS). Optional token buckets per client IP and
per API key (in Redis when THUVIEN_REDIS_URL is set) answer floods with 429 problem+json and ``Retry-After``
(THUVIEN_RATE_LIMIT_PER_MINUTE, THUVIEN_RATE_LIMIT_KEY_PER_MINUTE), and bodies over
THUVIEN_MAX_BODY_BYTES get a 413 as they arrive, before they are buffered.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from time import monotonic

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import rate_identity
from services.common.errors import Problem, install_error_handlers, problem_response
from services.common.metrics import metrics_response
from services.common.observability import REQUEST_ID_HEADER, ObservabilityMiddleware

log = logging.getLogger("thuvien.app")

# A readiness check: returns None or True when ready; False or a short reason (str) when not; may be async;
# an exception counts as not ready, with its message as the reason.
ReadinessCheck = Callable[[], "bool | str | None | Awaitable[bool | str | None]"]
READINESS_TIMEOUT_S = 5.0

# The search page and the services' fragments: scripts and styles from this origin's files only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# FastAPI's /docs and /redoc load Swagger UI / ReDoc from this CDN.
DOCS_CDN = "https://cdn.jsdelivr.net"
REFERRER_POLICY = "same-origin"

_INLINE = re.compile(rb"<(script|style)(?![^>]*\bsrc=)[^>]*>(.*?)</\1>", re.S | re.I)


def _hash_source(body: bytes) -> tuple[list[str], list[str]]:
    """CSP hash sources of the inline <script> and <style> blocks of an HTML page."""
    scripts, styles = [], []
    for kind, content in _INLINE.findall(body):
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        (scripts if kind.lower() == b"script" else styles).append(f"'sha256-{digest}'")
    return scripts, styles


def docs_csp(body: bytes) -> str:
    scripts, styles = _hash_source(body)
    return (
        f"default-src 'self'; script-src 'self' {DOCS_CDN} {' '.join(scripts)}; "
        f"style-src 'self' {DOCS_CDN} https://fonts.googleapis.com {' '.join(styles)}; "
        "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
        f"{DOCS_CDN}; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ).replace("  ", " ")


class SecurityHeadersMiddleware:
    """Adds the security headers (pure ASGI, so streamed responses such as SSE stay streamed)."""

    def __init__(self, app: ASGIApp, docs_paths: Sequence[str] = ()) -> None:
        self.app = app
        self.docs_paths = {p for p in docs_paths if p}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope.get("path", "") in self.docs_paths
        start: dict | None = None
        chunks: list[bytes] = []

        async def send_wrapper(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = _Headers(message.setdefault("headers", []))
                headers.setdefault(b"x-content-type-options", b"nosniff")
                headers.setdefault(b"referrer-policy", REFERRER_POLICY.encode())
                html = headers.get(b"content-type", b"").startswith(b"text/html")
                if html:
                    headers.setdefault(b"x-frame-options", b"DENY")
                    if is_docs:  # the CSP needs the page's inline scripts: hold the (small) page
                        start = message
                        return
                    headers.setdefault(b"content-security-policy", CSP.encode())
                await send(message)
                return
            if start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                _Headers(start["headers"]).setdefault(b"content-security-policy", docs_csp(body).encode())
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_wrapper)


class _Headers:
    def __init__(self, raw: list) -> None:
        self.raw = raw

    def get(self, name: bytes, default: bytes = b"") -> bytes:
        for k, v in self.raw:
            if k.lower() == name:
                return v
        return default

    def setdefault(self, name: bytes, value: bytes) -> None:
        if not any(k.lower() == name for k, _ in self.raw):
            self.raw.append((name, value))


class RateLimitMiddleware:
    """Token buckets per client IP and per API key: ``per_minute`` requests a minute, ``burst`` at once.

    A request without credentials counts against its client IP's bucket; one with an API key or a token
    (``X-API-Key`` or ``Authorization: Bearer``) against that key's bucket (``key_per_minute``), named by the
    key's public id, so a library's staff behind one address do not share the readers' limit. Credentials
    that fail (a 401) count against the client IP's failure bucket, and once it is empty every credentialed
    request from that IP is refused, so spraying made-up key ids buys nothing.

    Over a limit: 429 application/problem+json with ``Retry-After`` (whole seconds until one request is
    allowed again). Static files and the probes (``/healthz``, ``/readyz``, ``/metrics``) are not counted.
    In process, buckets of idle clients are dropped once more than ``max_clients`` are tracked. With
    ``redis_url`` the buckets live in Redis (shared by every replica); when Redis fails the limiter falls
    back to in-process buckets with a warning, and goes back to Redis once it answers again.
    """

    EXEMPT = ("/static/", "/healthz", "/readyz", "/metrics", "/favicon.ico")

    def __init__(
        self,
        app: ASGIApp,
        per_minute: int,
        burst: int = 0,
        *,
        key_per_minute: int | None = None,
        trust_proxy_headers: bool = False,
        max_clients: int = 100_000,
        redis_url: str | None = None,
    ) -> None:
        self.app = app
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        key_per_minute = per_minute if key_per_minute is None else key_per_minute
        self.key_rate = key_per_minute / 60.0
        self.key_capacity = float(burst or key_per_minute)
        self.trust_proxy_headers = trust_proxy_headers
        self.max_clients = max_clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, last time)
        self.redis = RedisBuckets(redis_url) if redis_url else None

    def client_key(self, scope: Scope) -> str:
        if self.trust_proxy_headers:
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-for":
                    last = value.decode("latin-1").split(",")[-1].strip()
                    if last:
                        return last
        client = scope.get("client")
        return client[0] if client else "unknown"

    def take(self, key: str, rate: float | None = None, capacity: float | None = None, cost: float = 1.0) -> float:
        """Take ``cost`` tokens (0: only look) for ``key``, in process; 0.0 if allowed, else the seconds to wait."""
        rate = self.rate if rate is None else rate
        capacity = self.capacity if capacity is None else capacity
        now = monotonic()
        tokens, last = self.buckets.pop(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= cost
        else:
            wait = (1.0 - tokens) / rate
        self.buckets[key] = (tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return wait

    async def take_shared(self, key: str, rate: float, capacity: float, cost: float = 1.0) -> float:
        """Like :meth:`take`, in Redis when configured and reachable; no limit when ``rate`` is 0."""
        if rate <= 0:
            return 0.0
        if self.redis is not None:
            wait = await self.redis.take(key, rate, capacity, cost)
            if wait is not None:
                return wait
        return self.take(key, rate, capacity, cost)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        ip = self.client_key(scope)
        ident = rate_identity(scope.get("headers", []))
        if ident is None:
            wait = await self.take_shared(ip, self.rate, self.capacity)
        else:
            wait = await self.take_shared(f"fail:{ip}", self.rate, self.capacity, cost=0.0)
            if wait <= 0.0:
                wait = await self.take_shared(ident, self.key_rate, self.key_capacity)
        if wait <= 0.0:
            if ident is None:
                await self.app(scope, receive, send)
                return
            status = 0

            async def watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, watch)
            if status == 401:
                await self.take_shared(f"fail:{ip}", self.rate, self.capacity)
            return
        retry = max(1, math.ceil(wait))
        problem = Problem(
            429,
            f"Bạn gửi quá nhiều yêu cầu; hãy thử lại sau {retry} giây.",
            f"Too many requests; try again in {retry} s.",
            headers={"Retry-After": str(retry)},
            retry_after=retry,
        )
        await problem_response(Request(scope), problem)(scope, receive, send)


# A token bucket in one Redis hash, atomically: refill by the server's clock, take ``cost``, say how long to wait.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - cost
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


class RedisBuckets:
    """Rate-limit buckets in Redis (``get_redis`` of services/common/redis_store.py), shared by every replica.

    ``take`` answers None while Redis is unset or down: the caller then counts in process. One warning when
    that starts and one when Redis is back; the Redis client has short socket timeouts and runs off the
    event loop."""

    PREFIX = "thuvien:ratelimit:"

    def __init__(self, url: str) -> None:
        self.url = url
        self._scripts: dict[int, object] = {}
        self._degraded = False

    def _degrade(self, why: str) -> None:
        if not self._degraded:
            self._degraded = True
            log.warning("rate limits are counted in process (not shared by replicas): Redis %s", why)

    def _take(self, key: str, rate: float, capacity: float, cost: float) -> float | None:
        import redis

        from services.common.redis_store import get_redis, report_failure

        client = get_redis(self.url)
        if client is None:
            self._degrade("does not answer")
            return None
        try:
            script = self._scripts.get(id(client))
            if script is None:
                script = self._scripts[id(client)] = client.register_script(_BUCKET_LUA)
            wait = float(script(keys=[self.PREFIX + key], args=[repr(rate), repr(capacity), repr(cost)]))
        except (redis.RedisError, OSError, ValueError) as exc:
            report_failure(self.url, exc)
            self._degrade(f"failed: {type(exc).__name__}: {exc}")
            return None
        if self._degraded:
            self._degraded = False
            log.warning("rate limits are shared in Redis again")
        return wait

    async def take(self, key: str, rate: float, capacity: float, cost: float = 1.0) -> float | None:
        return await run_in_threadpool(self._take, key, rate, capacity, cost)


class BodyLimitMiddleware:
    """Refuses a request body over ``max_bytes`` with 413 while it arrives: by its Content-Length before a byte
    is read, and by counting a chunked body, so an oversized upload is never held in memory whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def too_large(self) -> Problem:
        return Problem(
            413,
            f"Dữ liệu gửi lên vượt quá {self.max_bytes} byte; không có gì được ghi.",
            f"The request body exceeds {self.max_bytes} bytes; nothing was written.",
            max_bytes=self.max_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    bad = Problem(400, "Content-Length không hợp lệ.", "Invalid Content-Length header.")
                    await problem_response(Request(scope), bad)(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await problem_response(Request(scope), self.too_large())(scope, receive, send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self.too_large()  # rendered as problem+json by the app's Problem handler
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Problem as exc:
            if started or exc.status != 413:
                raise
            await problem_response(Request(scope), exc)(scope, receive, send)


def parse_origins(value: str | Iterable[str] | None) -> list[str]:
    """``"https://a.vn, https://b.vn"`` (or a list) → the allow-listed origins; '*' is refused."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    origins = [o.strip().rstrip("/") for o in items if o and o.strip()]
    if "*" in origins:
        raise ValueError("THUVIEN_CORS_ORIGINS must list origins explicitly; '*' is not allowed")
    return origins


def add_readiness_check(app: FastAPI, name: str, check: ReadinessCheck) -> None:
    """Register ``check`` under ``name``; ``/readyz`` answers 200 only when every check passes."""
    app.state.readiness_checks[name] = check


async def _run_check(check: ReadinessCheck) -> str | None:
    """None when ready, else the reason."""
    try:
        if inspect.iscoroutinefunction(check):
            result = await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
        else:
            result = await asyncio.wait_for(run_in_threadpool(check), READINESS_TIMEOUT_S)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, READINESS_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {READINESS_TIMEOUT_S:g} s"
    except Exception as exc:  # a failing check means "not ready", never a 500
        return f"{type(exc).__name__}: {exc}"[:300]
    if result is None or result is True:
        return None
    if result is False or not str(result).strip():
        return "not ready"
    return str(result)


async def readiness(app: FastAPI) -> dict[str, str]:
    """Every registered check of ``app``: name → "ok" or the reason it is not ready."""
    checks: dict[str, ReadinessCheck] = dict(app.state.readiness_checks)
    reasons = await asyncio.gather(*(_run_check(c) for c in checks.values()))
    return {name: reason or "ok" for name, reason in zip(checks, reasons, strict=True)}


def make_app(
    name: str,
    routers: Iterable[APIRouter] = (),
    *,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    version: str = "0.1.0",
    cors_origins: str | Iterable[str] | None = None,
    rate_limit_per_minute: int = 0,
    rate_limit_burst: int = 0,
    rate_limit_key_per_minute: int = 0,
    redis_url: str | None = None,
    trust_proxy_headers: bool = False,
    max_body_bytes: int | None = None,
    **kwargs,
) -> FastAPI:
    app = FastAPI(title=f"thuvien {name}", version=version, **kwargs)
    app.state.service_name = name
    app.state.readiness_checks = dict(readiness_checks or {})
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Live: the process serves requests."""
        return {"status": "ok", "service": name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Ready: models loaded and stores reachable (every registered check passes)."""
        checks = await readiness(request.app)
        bad = {k: v for k, v in checks.items() if v != "ok"}
        if not bad:
            return JSONResponse({"status": "ready", "service": name, "checks": checks})
        what = "; ".join(f"{k}: {v}" for k, v in bad.items())
        log.info("service '%s' is not ready: %s", name, what)
        raise Problem(
            503,
            f"Dịch vụ '{name}' chưa sẵn sàng ({what}).",
            f"The '{name}' service is not ready ({what}).",
            headers={"Retry-After": "5"},
            service=name,
            not_ready=sorted(bad),
            checks=checks,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text exposition: request counts and latencies per route, model inference time."""
        return metrics_response()

    origins = parse_origins(cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Accept", "Accept-Language", "Content-Type", "Authorization", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
            allow_credentials=False,
            max_age=600,
        )
    if max_body_bytes:
        app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if rate_limit_per_minute > 0 or rate_limit_key_per_minute > 0:
        app.add_middleware(
            RateLimitMiddleware,
            per_minute=rate_limit_per_minute,
            burst=rate_limit_burst,
            key_per_minute=rate_limit_key_per_minute or rate_limit_per_minute,
            trust_proxy_headers=trust_proxy_headers,
            redis_url=redis_url,
        )
    # Added last, so it wraps CORS and the rate limit too: every response, 429s and preflights included, gets
    # the headers.
    app.add_middleware(
        SecurityHeadersMiddleware,
        docs_paths=[app.docs_url or "", app.redoc_url or "", app.swagger_ui_oauth2_redirect_url or ""],
    )
    # Outermost: every response (429s, 413s and 500s too) carries X-Request-ID and is counted and logged.
    app.add_middleware(ObservabilityMiddleware, service=name)
    return app
