"""The search result cache of the gateway, in Redis (THUVIEN_REDIS_URL), shared by every replica.

A result is stored under ``<prefix>search:<generation>:<sha256 of the query parameters>`` for
THUVIEN_SEARCH_CACHE_TTL_S seconds. ``<prefix>search:gen`` is the index generation: the ingest
pipeline increments it after every index change (records written, updated or deleted, through any
gateway replica or ``thuvien ingest``), so every replica stops serving older results at once.

A lookup reads the generation and the entry in one round trip (a Lua script). The result of a miss
is stored under the generation read *before* the search ran: a result computed while the index
changed lands under the old generation and is never served.

A search result does not depend on who asks (the key holds only the query parameters); a search that
ever filters by the caller's rights must add the caller's scope to the parameters.

Redis down or lost: lookups miss, nothing is stored, a warning is logged once
(services/common/redis_store.py) and the searches run as without a cache; never a 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis
from prometheus_client import Counter
from pydantic import BaseModel
from starlette.responses import Response

from services.common.redis_store import get_redis, report_failure

log = logging.getLogger("thuvien.gateway.cache")

CACHE_LOOKUPS = Counter(
    "thuvien_search_cache_lookups", "Search result cache lookups by outcome (hit, miss, unavailable).", ["result"]
)

#: Bumped when the cached response format changes, so entries of an older gateway are not served.
FORMAT = "v1"

_LOOKUP = """
local g = redis.call('GET', KEYS[1]) or '0'
return {g, redis.call('GET', ARGV[1] .. g .. ':' .. ARGV[2])}
"""


class SearchCache:
    """Search results in Redis, keyed by the index generation and the query parameters."""

    def __init__(self, url: str, *, prefix: str = "thuvien:", ttl_s: int = 300) -> None:
        self.url = url
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.gen_key = f"{prefix}search:gen"
        self._bump_pending = False  # an index change happened while Redis was unavailable

    @staticmethod
    def digest(params: Mapping[str, Any]) -> str:
        """The hash of the query parameters (canonical JSON: sorted keys, exact values)."""
        text = json.dumps({"format": FORMAT, **params}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def entry_key(self, generation: str, params: Mapping[str, Any]) -> str:
        return f"{self.prefix}search:{generation}:{self.digest(params)}"

    # -- sync (run in a worker thread by the async methods) ---------------------------------------
    def _client(self) -> redis.Redis | None:
        return get_redis(self.url)

    def lookup_sync(self, params: Mapping[str, Any]) -> tuple[str | None, bytes | None]:
        """``(generation, cached body)``; ``(None, None)`` when Redis is unavailable."""
        r = self._client()
        if r is None:
            return None, None
        try:
            if self._bump_pending:
                r.incr(self.gen_key)
                self._bump_pending = False
            script = r.register_script(_LOOKUP)
            gen, body = script(keys=[self.gen_key], args=[f"{self.prefix}search:", self.digest(params)])
        except redis.RedisError as exc:
            report_failure(self.url, exc)
            return None, None
        return (gen.decode() if isinstance(gen, bytes) else str(gen)), body

    def store_sync(self, generation: str, params: Mapping[str, Any], body: bytes) -> None:
        r = self._client()
        if r is None or self.ttl_s <= 0:
            return
        try:
            r.set(self.entry_key(generation, params), body, ex=self.ttl_s)
        except redis.RedisError as exc:
            report_failure(self.url, exc)

    def bump_sync(self) -> int | None:
        """Start a new generation (every cached result becomes stale); None if Redis is unavailable."""
        r = self._client()
        if r is not None:
            try:
                gen = int(r.incr(self.gen_key))
            except redis.RedisError as exc:
                report_failure(self.url, exc)
            else:
                self._bump_pending = False
                return gen
        # Other replicas may serve older results until their TTL ends; this one invalidates when Redis is back.
        self._bump_pending = True
        log.warning("search cache: the index changed while Redis was unavailable; the invalidation is retried")
        return None

    # -- async ------------------------------------------------------------------------------------
    async def lookup(self, params: Mapping[str, Any]) -> tuple[str | None, bytes | None]:
        return await asyncio.to_thread(self.lookup_sync, params)

    async def store(self, generation: str, params: Mapping[str, Any], body: bytes) -> None:
        await asyncio.to_thread(self.store_sync, generation, params, body)

    async def bump(self) -> None:
        await asyncio.to_thread(self.bump_sync)


def from_settings(settings: Any) -> SearchCache | None:
    """The cache the settings ask for (None without THUVIEN_REDIS_URL or with a TTL of 0)."""
    if not settings.redis_url or settings.search_cache_ttl_s <= 0:
        return None
    return SearchCache(settings.redis_url, prefix=settings.redis_key_prefix, ttl_s=settings.search_cache_ttl_s)


_UNSET = object()


def for_app(app: Any) -> SearchCache | None:
    """The gateway app's cache, made on first use from ``app.state.settings``."""
    cache = getattr(app.state, "search_cache", _UNSET)
    if cache is _UNSET:
        cache = from_settings(app.state.settings)
        app.state.search_cache = cache
    return cache


def invalidator(app: Any) -> Callable[[], Awaitable[None]]:
    """What the gateway's ingest pipeline calls after an index change: a new generation of its cache."""

    async def index_changed() -> None:
        cache = for_app(app)
        if cache is not None:
            await cache.bump()

    return index_changed


async def index_changed_from_env() -> None:
    """Invalidate the cache named by the environment's settings (used by an ingest outside a gateway,
    e.g. ``thuvien ingest`` with THUVIEN_REDIS_URL set)."""
    from services.common.settings import get_settings

    cache = from_settings(get_settings())
    if cache is not None:
        await cache.bump()


class Ticket:
    """One search request's use of the cache: ``hit`` (a ready response) or ``remember(result)``."""

    def __init__(
        self, cache: SearchCache | None, generation: str | None, params: Mapping[str, Any], body: bytes | None
    ) -> None:
        self.cache = cache
        self.generation = generation
        self.params = params
        self.hit = None if body is None else Response(body, media_type="application/json", headers=HIT_HEADERS)

    async def remember(self, result: BaseModel) -> Any:
        """Store the result (if the cache is on and answered) and return what the route should return."""
        if self.cache is None or self.generation is None:
            return result
        body = result.model_dump_json().encode("utf-8")
        await self.cache.store(self.generation, self.params, body)
        return Response(body, media_type="application/json", headers=MISS_HEADERS)


HIT_HEADERS = {"X-Cache": "hit"}
MISS_HEADERS = {"X-Cache": "miss"}


async def lookup(app: Any, params: Mapping[str, Any]) -> Ticket:
    """Look the search up in the app's cache (a miss, at once, when there is no cache or Redis is down)."""
    cache = for_app(app)
    if cache is None:
        return Ticket(None, None, params, None)
    generation, body = await cache.lookup(params)
    CACHE_LOOKUPS.labels("unavailable" if generation is None else "miss" if body is None else "hit").inc()
    return Ticket(cache, generation, params, body)
