"""A small typed client base: the same calls in process (ASGI) or over HTTP.

Embedded topology: ``ServiceClient(name, app=some_fastapi_app)`` talks to the app in this process
through ``httpx.ASGITransport``. Distributed topology: ``ServiceClient(name, base_url=URL)``.
A service's problem+json error is re-raised as :class:`~services.common.errors.Problem` with the same
status, so the gateway passes 4xx through; an unreachable service becomes a 503 naming it.

Every call:

* carries the current ``X-Request-ID`` (services/common/observability.py), also on streams opened on
  ``self._http`` directly;
* has a timeout (``timeout=``, THUVIEN_SERVICE_TIMEOUT_S; a call may pass its own ``timeout=``);
* is retried after a connection failure or timeout, ``retries`` times with jittered exponential backoff,
  only when it is idempotent: GET/HEAD/OPTIONS, or a call made with ``idempotent=True``. A 502/503/504 that
  is not the service's own problem+json (a proxy's answer) is retried the same way;
* goes through a circuit breaker per target service (shared by every client of the same name and URL):
  after ``breaker_failures`` consecutive connection failures or timeouts it opens and calls fail at once
  with a 503 naming the service and a ``Retry-After``; after ``breaker_cooldown_s`` one trial call is let
  through (half-open), and its success closes the breaker again.

A base URL that cannot be right (no http(s) scheme or no host) is logged clearly when the client is made,
and the calls that need it answer 503 naming the service: the process keeps serving everything else.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI

from services.common.errors import PROBLEM_JSON, Problem
from services.common.metrics import BREAKER_STATE, CLIENT_REQUESTS, CLIENT_RETRIES
from services.common.observability import REQUEST_ID_HEADER, current_request_id

log = logging.getLogger("thuvien.client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF_S = 2.0

# Defaults of every client made without explicit options; the composition root sets them from the settings
# (configure_client_defaults), so clients built inside a service app (qa → search) follow them too.
CLIENT_DEFAULTS: dict[str, float] = {
    "timeout": 30.0,
    "retries": 2,
    "retry_backoff_s": 0.1,
    "breaker_failures": 5,
    "breaker_cooldown_s": 10.0,
}


def configure_client_defaults(settings: Any) -> None:
    """Take timeouts, retries and breaker limits from the THUVIEN_* settings."""
    CLIENT_DEFAULTS.update(
        timeout=float(settings.service_timeout_s),
        retries=int(settings.service_retries),
        retry_backoff_s=float(settings.service_retry_backoff_s),
        breaker_failures=int(settings.service_breaker_failures),
        breaker_cooldown_s=float(settings.service_breaker_cooldown_s),
    )


def client_options(settings: Any) -> dict[str, float]:
    """Keyword arguments of a ServiceClient built from the settings."""
    return {
        "timeout": float(settings.service_timeout_s),
        "retries": int(settings.service_retries),
        "retry_backoff_s": float(settings.service_retry_backoff_s),
        "breaker_failures": int(settings.service_breaker_failures),
        "breaker_cooldown_s": float(settings.service_breaker_cooldown_s),
    }


def path_segment(value: str) -> str:
    """An id as one URL path segment of a call to another service: percent-encoded, ``/ ? # %`` included."""
    return quote(value, safe="")


class CircuitBreaker:
    """Closed → (``failures`` consecutive failures) → open → (``cooldown_s``) → half-open: one trial call;
    its success closes the breaker, its failure opens it again for another cool-down."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
    _GAUGE = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}

    def __init__(
        self, target: str, *, failures: int = 5, cooldown_s: float = 10.0, clock: Callable[[], float] = monotonic
    ) -> None:
        self.target = target
        self.threshold = max(1, int(failures))
        self.cooldown_s = float(cooldown_s)
        self.clock = clock
        self.state = self.CLOSED
        self.consecutive = 0
        self.opened_at = 0.0
        self.trial_in_flight = False
        self._lock = threading.Lock()
        BREAKER_STATE.labels(target).set(0)

    def _set(self, state: str) -> None:
        self.state = state
        BREAKER_STATE.labels(self.target).set(self._GAUGE[state])

    def retry_after(self) -> float:
        return max(0.0, self.opened_at + self.cooldown_s - self.clock())

    def acquire(self) -> bool:
        """May a call go now? Open: no (until the cool-down ends); half-open: only the one trial call."""
        with self._lock:
            if self.state == self.OPEN:
                if self.retry_after() > 0:
                    return False
                self._set(self.HALF_OPEN)
                self.trial_in_flight = False
            if self.state == self.HALF_OPEN:
                if self.trial_in_flight:
                    return False
                self.trial_in_flight = True
            return True

    def success(self) -> None:
        with self._lock:
            was = self.state
            self.consecutive = 0
            self.trial_in_flight = False
            if was != self.CLOSED:
                self._set(self.CLOSED)
        if was != self.CLOSED:
            log.warning("service '%s' answers again; its circuit breaker is closed", self.target)

    def failure(self, reason: str = "") -> None:
        with self._lock:
            self.consecutive += 1
            self.trial_in_flight = False
            opens = self.state == self.HALF_OPEN or (self.state == self.CLOSED and self.consecutive >= self.threshold)
            if opens:
                self.opened_at = self.clock()
                self._set(self.OPEN)
        if opens:
            log.error(
                "service '%s' failed %d time(s) in a row (%s); circuit breaker open: its calls answer 503 for %g s",
                self.target,
                self.consecutive,
                reason,
                self.cooldown_s,
            )

    def release(self) -> None:
        """A call ended without telling whether the service is up (cancelled): free the trial slot."""
        with self._lock:
            self.trial_in_flight = False


_BREAKERS: dict[tuple[str, str], CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(target: str, key: str, *, failures: int, cooldown_s: float) -> CircuitBreaker:
    """The breaker of one target (service name and URL), shared by every client of it in this process."""
    with _BREAKERS_LOCK:
        breaker = _BREAKERS.get((target, key))
        if breaker is None:
            breaker = _BREAKERS[(target, key)] = CircuitBreaker(target, failures=failures, cooldown_s=cooldown_s)
        return breaker


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a service's base URL, or None when it looks right."""
    try:
        parsed = httpx.URL(url)
    except Exception as exc:  # httpx.InvalidURL and friends
        return f"not a URL ({exc})"
    if parsed.scheme not in ("http", "https"):
        return f"the scheme must be http or https, not {parsed.scheme or 'none'!r}"
    if not parsed.host:
        return "no host"
    return None


async def _add_request_id(request: httpx.Request) -> None:
    rid = current_request_id()
    if rid and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = rid


class ServiceClient:
    def __init__(
        self,
        name: str,
        *,
        app: FastAPI | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        retry_backoff_s: float | None = None,
        breaker_failures: int | None = None,
        breaker_cooldown_s: float | None = None,
    ) -> None:
        if (app is None) == (base_url is None):
            raise ValueError("give exactly one of app= or base_url=")
        self.name = name
        self.base_url = base_url
        self.timeout = float(CLIENT_DEFAULTS["timeout"] if timeout is None else timeout)
        self.retries = int(CLIENT_DEFAULTS["retries"] if retries is None else retries)
        self.retry_backoff_s = float(CLIENT_DEFAULTS["retry_backoff_s"] if retry_backoff_s is None else retry_backoff_s)
        failures = int(CLIENT_DEFAULTS["breaker_failures"] if breaker_failures is None else breaker_failures)
        cooldown = float(CLIENT_DEFAULTS["breaker_cooldown_s"] if breaker_cooldown_s is None else breaker_cooldown_s)
        self.url_error = url_problem(base_url) if base_url is not None else None
        if self.url_error:
            log.error(
                "the URL of the '%s' service is wrong (%r: %s); set THUVIEN_%s_URL right. Until then the features "
                "that need it answer 503, the rest keep working",
                name,
                base_url,
                self.url_error,
                name.upper(),
            )
        key = base_url if base_url is not None else f"asgi:{id(app)}"
        self.breaker = breaker_for(name, key, failures=failures, cooldown_s=cooldown)
        transport = httpx.ASGITransport(app=app) if app is not None else None
        self._http = httpx.AsyncClient(
            transport=transport,
            base_url=(base_url if not self.url_error else None) or f"http://{name}.internal",
            timeout=self.timeout,
            event_hooks={"request": [_add_request_id]},
        )

    # ------------------------------------------------------------------------------------------ problems

    def _unavailable(self, exc: BaseException | None = None) -> Problem:
        timeout = isinstance(exc, httpx.TimeoutException)
        vi = (
            f"Dịch vụ '{self.name}' không trả lời kịp thời hạn {self.timeout:g} giây; "
            "chức năng này tạm thời không dùng được."
            if timeout
            else f"Dịch vụ '{self.name}' không trả lời; chức năng này tạm thời không dùng được."
        )
        en = (
            f"The '{self.name}' service did not answer within {self.timeout:g} s; this feature is unavailable for now."
            if timeout
            else f"The '{self.name}' service is not answering; this feature is unavailable for now."
        )
        return Problem(503, vi, en, service=self.name)

    def _breaker_open(self) -> Problem:
        wait = max(1, round(self.breaker.retry_after() + 0.499))
        return Problem(
            503,
            f"Dịch vụ '{self.name}' đang tạm ngưng sau nhiều lần liên tiếp không trả lời; chức năng này tạm thời "
            f"không dùng được, hãy thử lại sau {wait} giây.",
            f"The '{self.name}' service failed repeatedly and is paused; this feature is unavailable for now, "
            f"try again in {wait} s.",
            headers={"Retry-After": str(wait)},
            service=self.name,
            retry_after=wait,
            circuit="open",
        )

    def _bad_url(self) -> Problem:
        return Problem(
            503,
            f"Địa chỉ của dịch vụ '{self.name}' được cấu hình sai ({self.url_error}); chức năng này tạm thời không "
            "dùng được.",
            f"The URL of the '{self.name}' service is misconfigured ({self.url_error}); this feature is unavailable.",
            service=self.name,
        )

    # -------------------------------------------------------------------------------------------- calls

    def _backoff(self, attempt: int) -> float:
        base = min(MAX_BACKOFF_S, self.retry_backoff_s * (2**attempt))
        return base * (0.5 + random.random())  # jitter: 50–150 % of the exponential step

    async def request(self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any) -> httpx.Response:
        """One call; ``idempotent`` (default: GET/HEAD/OPTIONS) allows retries after transport failures."""
        if self.url_error:
            CLIENT_REQUESTS.labels(self.name, "bad_url").inc()
            raise self._bad_url()
        method = method.upper()
        idem = method in IDEMPOTENT_METHODS if idempotent is None else bool(idempotent)
        attempts = 1 + (max(0, self.retries) if idem else 0)
        resp: httpx.Response | None = None
        for attempt in range(attempts):
            if not self.breaker.acquire():
                CLIENT_REQUESTS.labels(self.name, "breaker_open").inc()
                raise self._breaker_open()
            try:
                resp = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self.breaker.failure(reason)
                CLIENT_REQUESTS.labels(self.name, "transport_error").inc()
                if attempt + 1 < attempts and self.breaker.state != CircuitBreaker.OPEN:
                    log.info(
                        "retrying %s %s on '%s' after %s (attempt %d of %d)",
                        method,
                        path,
                        self.name,
                        reason,
                        attempt + 2,
                        attempts,
                        extra={"target": self.name, "attempt": attempt + 2},
                    )
                    CLIENT_RETRIES.labels(self.name).inc()
                    await asyncio.sleep(self._backoff(attempt))
                    continue
                log.warning("%s %s on '%s' failed: %s", method, path, self.name, reason, extra={"target": self.name})
                raise self._unavailable(exc) from exc
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.success()
            proxy_error = resp.status_code in RETRY_STATUSES and not resp.headers.get("content-type", "").startswith(
                PROBLEM_JSON
            )
            if proxy_error and attempt + 1 < attempts:
                CLIENT_RETRIES.labels(self.name).inc()
                await asyncio.sleep(self._backoff(attempt))
                continue
            break
        assert resp is not None
        if resp.status_code >= 400:
            CLIENT_REQUESTS.labels(self.name, "http_error").inc()
            raise _problem_from(resp, self.name)
        CLIENT_REQUESTS.labels(self.name, "ok").inc()
        return resp

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post_json(self, path: str, payload: Any = None, *, idempotent: bool = False, **kwargs: Any) -> Any:
        """POST JSON; pass ``idempotent=True`` for a read-only call (analyse, embed, search) to allow retries."""
        return (await self.request("POST", path, json=payload, idempotent=idempotent, **kwargs)).json()

    async def probe(self, timeout: float = 3.0) -> str | None:
        """None if ``/healthz`` answers 200, else why not (for start-up log lines); never raises."""
        if self.url_error:
            return self.url_error
        try:
            resp = await self._http.get("/healthz", timeout=timeout)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None if resp.status_code == 200 else f"/healthz answered HTTP {resp.status_code}"

    async def aclose(self) -> None:
        await self._http.aclose()


def _problem_from(resp: httpx.Response, service: str) -> Problem:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    status = resp.status_code if resp.status_code < 500 else 502 if resp.status_code != 503 else 503
    extra = (
        {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance"}}
        if isinstance(body, dict)
        else {}
    )
    extra.setdefault("service", service)
    errors = extra.pop("errors", None)
    if isinstance(detail, str):
        vi = en = detail
    elif status == 503:
        vi = f"Dịch vụ '{service}' tạm thời không sẵn sàng (HTTP {resp.status_code})."
        en = f"The '{service}' service is unavailable for now (HTTP {resp.status_code})."
    else:
        vi = en = f"{service}: HTTP {resp.status_code}"
    headers = {"Retry-After": resp.headers["retry-after"]} if status == 503 and "retry-after" in resp.headers else None
    return Problem(status, vi, en, errors=errors, headers=headers, **extra)
