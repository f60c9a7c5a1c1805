"""services/common/redis_store.py against real Redis servers: lazy clients, one warning per outage,
retry after the cooldown, and recovery when Redis is back."""

from __future__ import annotations

import logging

import redis

from services.common import redis_store
from services.common.redis_store import get_redis, report_failure, safe_redis_url
from tests.stores.redistools import REDIS_URL
from tests.stores.tcpproxy import free_port


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "thuvien.redis" and r.levelno >= logging.WARNING]


def test_no_url_means_no_redis():
    assert get_redis(None) is None and get_redis("") is None


def test_one_shared_client_per_url(redis_prefix: str):
    a = get_redis(REDIS_URL)
    assert a is not None and get_redis(REDIS_URL) is a
    a.set(f"{redis_prefix}k", "giá trị")
    assert a.get(f"{redis_prefix}k").decode() == "giá trị"


def test_redis_down_at_start_warns_once_and_retries_after_the_cooldown(monkeypatch, caplog):
    url = f"redis://:p4ss@127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.WARNING, logger="thuvien.redis"):
        assert get_redis(url) is None
        assert get_redis(url) is None  # within the cooldown: at once, no second warning
        monkeypatch.setattr(redis_store, "RETRY_AFTER_S", 0.0)
        redis_store._entries[url].down_until = 0  # noqa: SLF001 - end the cooldown now
        assert get_redis(url) is None  # retried (pinged again), still down, still one warning
    msgs = _warnings(caplog)
    assert len(msgs) == 1, msgs
    assert "does not answer" in msgs[0] and "p4ss" not in msgs[0] and "***" in msgs[0]


def test_redis_lost_at_run_time_and_back(private_redis, monkeypatch, caplog):
    monkeypatch.setattr(redis_store, "RETRY_AFTER_S", 0.0)
    url = private_redis.url
    r = get_redis(url)
    assert r is not None and r.set("k", "1")
    private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="thuvien.redis"):
        try:
            r.get("k")
            raise AssertionError("a command on a stopped Redis must fail")
        except redis.RedisError as exc:
            report_failure(url, exc)
        assert get_redis(url) is None  # down: callers work without it
        assert len(_warnings(caplog)) == 1
        private_redis.start()
        back = get_redis(url)
        assert back is not None and back.ping()
    assert any("answers again" in m for m in _warnings(caplog))


def test_safe_url_hides_passwords():
    assert safe_redis_url("redis://:secret@h:6379/0") == "redis://***@h:6379/0"
    assert safe_redis_url("redis://user:secret@h:6379/0") == "redis://user:***@h:6379/0"
    assert safe_redis_url("redis://h:6379/0") == "redis://h:6379/0"
