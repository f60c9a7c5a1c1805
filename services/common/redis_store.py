"""The shared Redis connection of a service (THUVIEN_REDIS_URL): lazy, checked, and optional.

Redis only holds what several replicas share (the search result cache, rate limits). Its loss never
fails a request: callers fall back to working without it. The API is two functions:

``get_redis(url) -> redis.Redis | None``
    The client for ``url`` (one per URL and process, thread-safe, short socket timeouts). ``None`` when
    ``url`` is None/empty, or when Redis does not answer: then one warning is logged (URL without
    password), and for :data:`RETRY_AFTER_S` seconds ``get_redis`` returns ``None`` at once; after
    that it pings again, and logs once when Redis is back.

``report_failure(url, exc)``
    Call it when a command fails at run time (``except redis.RedisError as exc``): Redis is then
    treated as down (one warning) until the next successful ping after the cooldown.

Typical use::

    r = get_redis(settings.redis_url)
    if r is not None:
        try:
            value = r.get(key)
        except redis.RedisError as exc:
            report_failure(settings.redis_url, exc)
            value = None
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress
from dataclasses import dataclass

import redis

log = logging.getLogger("thuvien.redis")

#: After a failure, how long Redis is treated as down before the next ping.
RETRY_AFTER_S = 5.0
#: Socket connect/read timeout of a command: Redis on the same network answers in well under this.
SOCKET_TIMEOUT_S = 0.5


@dataclass
class _Entry:
    client: redis.Redis
    up: bool = False
    down_until: float = 0.0
    warned: bool = False


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def safe_redis_url(url: str) -> str:
    """The URL as logs may show it: the password (if any) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, at, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}" if ":" in creds else f"{scheme}://***@{host}"


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def get_redis(url: str | None) -> redis.Redis | None:
    """The shared client for ``url``, or None when unset or Redis is down (see the module doc)."""
    if not url:
        return None
    with _lock:
        entry = _entries.get(url)
        if entry is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=SOCKET_TIMEOUT_S,
                socket_timeout=SOCKET_TIMEOUT_S,
                health_check_interval=30,
            )
            entry = _entries[url] = _Entry(client)
        if entry.up:
            return entry.client
        now = time.monotonic()
        if now < entry.down_until:
            return None
        try:
            entry.client.ping()
        except (redis.RedisError, OSError) as exc:
            entry.down_until = now + RETRY_AFTER_S
            if not entry.warned:
                entry.warned = True
                log.warning(
                    "Redis at %s does not answer (%s): working without it (no shared cache or limits) "
                    "and trying again every %g s",
                    safe_redis_url(url),
                    _reason(exc),
                    RETRY_AFTER_S,
                )
            return None
        entry.up = True
        if entry.warned:
            entry.warned = False
            log.warning("Redis at %s answers again", safe_redis_url(url))
        return entry.client


def report_failure(url: str | None, exc: BaseException) -> None:
    """A command on ``url``'s client failed: treat Redis as down until a ping succeeds after the cooldown."""
    if not url:
        return
    with _lock:
        entry = _entries.get(url)
        if entry is None:
            return
        entry.up = False
        entry.down_until = time.monotonic() + RETRY_AFTER_S
        if not entry.warned:
            entry.warned = True
            log.warning(
                "Redis at %s failed (%s): working without it (no shared cache or limits) until it answers again",
                safe_redis_url(url),
                _reason(exc),
            )
        with suppress(Exception):  # dropping dead sockets is best effort
            entry.client.connection_pool.disconnect()


def reset() -> None:
    """Forget every client (tests, or after a fork)."""
    with _lock:
        for entry in _entries.values():
            with suppress(Exception):
                entry.client.close()
        _entries.clear()
