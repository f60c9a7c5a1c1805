"""The shared search result cache (services/gateway/search_cache.py) against the real Redis."""

from __future__ import annotations

import asyncio
import logging

import redis

from services.common import redis_store
from services.gateway.search_cache import SearchCache
from tests.stores.redistools import REDIS_URL
from tests.stores.tcpproxy import free_port

PARAMS = {"q": "Truyện Kiều", "k": 10, "offset": 0, "library_id": None, "type": None}


def test_miss_store_hit_and_ttl(redis_prefix: str):
    cache = SearchCache(REDIS_URL, prefix=redis_prefix, ttl_s=120)
    gen, body = cache.lookup_sync(PARAMS)
    assert gen == "0" and body is None
    cache.store_sync(gen, PARAMS, b'{"total": 1}')
    assert cache.lookup_sync(PARAMS) == ("0", b'{"total": 1}')
    # other parameters are another entry
    assert cache.lookup_sync({**PARAMS, "k": 11})[1] is None
    assert cache.lookup_sync({**PARAMS, "q": "truyen kieu"})[1] is None
    ttl = redis.Redis.from_url(REDIS_URL).ttl(cache.entry_key("0", PARAMS))
    assert 0 < ttl <= 120


def test_a_new_generation_invalidates_every_replica(redis_prefix: str):
    a = SearchCache(REDIS_URL, prefix=redis_prefix)
    b = SearchCache(REDIS_URL, prefix=redis_prefix)  # another gateway replica
    gen, _ = a.lookup_sync(PARAMS)
    a.store_sync(gen, PARAMS, b"old")
    assert b.lookup_sync(PARAMS)[1] == b"old"
    assert b.bump_sync() == int(gen) + 1  # b indexed a record
    new_gen, body = a.lookup_sync(PARAMS)
    assert body is None and new_gen == str(int(gen) + 1)


def test_a_result_computed_during_an_index_change_is_never_served(redis_prefix: str):
    cache = SearchCache(REDIS_URL, prefix=redis_prefix)
    gen, _ = cache.lookup_sync(PARAMS)  # the search starts
    cache.bump_sync()  # meanwhile a record is indexed
    cache.store_sync(gen, PARAMS, b"computed on the old index")  # the search ends
    assert cache.lookup_sync(PARAMS)[1] is None


def test_async_api(redis_prefix: str):
    cache = SearchCache(REDIS_URL, prefix=redis_prefix)

    async def run() -> bytes | None:
        gen, _ = await cache.lookup(PARAMS)
        await cache.store(gen, PARAMS, b"x")
        await cache.bump()
        await cache.store(gen, PARAMS, b"y")
        return (await cache.lookup(PARAMS))[1]

    assert asyncio.run(run()) is None


def test_redis_down_is_a_miss_and_the_invalidation_is_kept(private_redis, monkeypatch, caplog, redis_prefix: str):
    monkeypatch.setattr(redis_store, "RETRY_AFTER_S", 0.0)
    cache = SearchCache(private_redis.url, prefix=redis_prefix)
    gen, _ = cache.lookup_sync(PARAMS)
    cache.store_sync(gen, PARAMS, b"cached")
    private_redis.stop()
    with caplog.at_level(logging.WARNING):
        assert cache.lookup_sync(PARAMS) == (None, None)  # a miss, no exception
        cache.store_sync("0", PARAMS, b"ignored")  # nothing to do, no exception
        assert cache.bump_sync() is None  # the index changed while Redis was down
    assert any("Redis" in r.getMessage() for r in caplog.records)
    private_redis.start()  # an empty Redis again (no persistence): put the old entry back
    redis.Redis.from_url(private_redis.url).set(cache.entry_key("0", PARAMS), b"stale")
    gen2, body = cache.lookup_sync(PARAMS)
    assert body is None and gen2 == "1"  # the missed invalidation was applied first


def test_redis_never_there(redis_prefix: str):
    cache = SearchCache(f"redis://127.0.0.1:{free_port()}/0", prefix=redis_prefix)
    assert cache.lookup_sync(PARAMS) == (None, None)
    assert cache.bump_sync() is None


def test_an_ingest_outside_the_gateway_invalidates_through_the_environment(redis_prefix: str, monkeypatch):
    """`thuvien ingest` (no gateway): its pipeline bumps the generation named by THUVIEN_* settings."""
    from services.common.settings import get_settings
    from services.gateway.pipeline import IngestPipeline
    from services.gateway.search_cache import index_changed_from_env

    monkeypatch.setenv("THUVIEN_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("THUVIEN_REDIS_KEY_PREFIX", redis_prefix)
    get_settings.cache_clear()
    try:
        cache = SearchCache(REDIS_URL, prefix=redis_prefix)
        assert cache.lookup_sync(PARAMS)[0] == "0"
        asyncio.run(index_changed_from_env())
        assert cache.lookup_sync(PARAMS)[0] == "1"
        clients = {name: object() for name in ("catalog", "search", "embedding", "nlp")}
        assert IngestPipeline(clients).on_index_change is index_changed_from_env  # type: ignore[arg-type]
    finally:
        get_settings.cache_clear()
