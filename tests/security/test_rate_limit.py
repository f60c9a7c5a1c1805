"""Rate limits on the gateway: token buckets per client IP and per API key (shared in Redis when configured);
over a limit, 429 problem+json with Retry-After."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import services.common.app as common_app
from services.common.settings import Settings
from services.gateway.app import create_app

PROBLEM = "application/problem+json"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(common_app, "monotonic", c)
    return c


def gateway(client=("203.0.113.7", 5000), **settings) -> TestClient:
    return TestClient(create_app({}, Settings(**settings)), client=client)


def test_off_by_default(clock):
    assert Settings().rate_limit_per_minute == 0
    with gateway() as c:
        assert all(c.get("/openapi.json").status_code == 200 for _ in range(60))


def test_burst_then_429_with_retry_after_then_refill(clock):
    with gateway(rate_limit_per_minute=30, rate_limit_burst=3) as c:
        assert [c.get("/openapi.json").status_code for _ in range(3)] == [200, 200, 200]
        r = c.get("/openapi.json")
        assert r.status_code == 429
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.headers["retry-after"] == "2"  # 30/min: one token every 2 s
        body = r.json()
        assert body["status"] == 429 and body["retry_after"] == 2
        assert "quá nhiều yêu cầu" in body["detail"] and body["title"] == "Quá nhiều yêu cầu"
        assert r.headers["x-content-type-options"] == "nosniff"
        en = c.get("/openapi.json", headers={"Accept-Language": "en"})
        assert en.status_code == 429 and en.json()["detail"].startswith("Too many requests")
        clock.t += 1.0  # half a token: still refused, one more second to wait
        r = c.get("/openapi.json")
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        clock.t += 1.0
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/openapi.json").status_code == 429
        clock.t += 60.0  # a long pause refills to the burst, not beyond
        assert [c.get("/openapi.json").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_limits_are_per_client_and_skip_static_files(clock):
    app = create_app({}, Settings(rate_limit_per_minute=60, rate_limit_burst=2))
    with TestClient(app, client=("198.51.100.1", 1)) as a, TestClient(app, client=("198.51.100.2", 1)) as b:
        assert [a.get("/api/v1/none").status_code for _ in range(3)] == [404, 404, 429]
        assert b.get("/api/v1/none").status_code == 404  # another client has its own bucket
        assert a.get("/static/app.js").status_code == 200  # static files are not counted
        assert a.get("/healthz").status_code == 200


def test_forwarded_for_only_when_trusted(clock):
    with gateway(rate_limit_per_minute=60, rate_limit_burst=1) as c:  # header ignored: one bucket
        assert c.get("/openapi.json", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 200
        assert c.get("/openapi.json", headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 429
    with gateway(rate_limit_per_minute=60, rate_limit_burst=1, trust_proxy_headers=True) as c:
        # the proxy appends the address it saw: the last entry counts, a spoofed first one does not
        assert c.get("/openapi.json", headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.1"}).status_code == 200
        assert c.get("/openapi.json", headers={"X-Forwarded-For": "7.7.7.7, 192.0.2.1"}).status_code == 429
        assert c.get("/openapi.json", headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 200


def test_memory_stays_bounded_under_many_addresses(clock):
    limiter = common_app.RateLimitMiddleware(app=None, per_minute=60, burst=5, max_clients=100)
    for i in range(1000):
        assert limiter.take(f"10.0.{i // 256}.{i % 256}") == 0.0
    assert len(limiter.buckets) == 100


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("THUVIEN_RATE_LIMIT_PER_MINUTE", "120")
    monkeypatch.setenv("THUVIEN_RATE_LIMIT_BURST", "20")
    monkeypatch.setenv("THUVIEN_TRUST_PROXY_HEADERS", "true")
    s = Settings()
    assert (s.rate_limit_per_minute, s.rate_limit_burst, s.trust_proxy_headers) == (120, 20, True)
    monkeypatch.setenv("THUVIEN_RATE_LIMIT_PER_MINUTE", "-1")
    with pytest.raises(ValueError):
        Settings()


# ---- per API key, failed credentials, shared in Redis ---------------------------------------------------------


def keyed_gateway(tmp_path, **settings):
    """A gateway with auth on, its keys in a fresh SQLite file, and a KeyStore to make keys with."""
    from auth.keys import KeyStore

    s = Settings(
        data_dir=tmp_path, auth_enabled=True, auth_database_url=f"sqlite:///{tmp_path / 'sec.sqlite3'}", **settings
    )
    return create_app({}, s), KeyStore(s.security_db_url)


def test_each_key_has_its_own_bucket(clock, tmp_path):
    app, keys = keyed_gateway(tmp_path, rate_limit_per_minute=30, rate_limit_burst=2, rate_limit_key_per_minute=60)
    k1, k2 = keys.create("librarian", "tv-a").secret, keys.create("patron", "tv-a", patron_id="P1").secret
    with TestClient(app, client=("203.0.113.9", 1)) as c:
        assert [c.get("/api/v1/whoami").status_code for _ in range(3)] == [200, 200, 429]  # the IP's bucket
        # the same address with a key: the key's bucket, not the exhausted IP one
        assert [c.get("/api/v1/whoami", headers={"X-API-Key": k1}).status_code for _ in range(3)] == [200, 200, 429]
        r = c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {k1}"})  # same key, other header
        assert r.status_code == 429 and r.headers["retry-after"] == "1"  # 60/min for keys: one a second
        assert r.headers["content-type"].startswith(PROBLEM)
        assert c.get("/api/v1/whoami", headers={"X-API-Key": k2}).status_code == 200
        clock.t += 1.0
        assert c.get("/api/v1/whoami", headers={"X-API-Key": k1}).status_code == 200
        assert c.get("/api/v1/whoami").status_code == 429  # the IP still waits (30/min: 2 s a token)


def test_made_up_keys_are_limited_per_client_ip(clock, tmp_path):
    app, keys = keyed_gateway(tmp_path, rate_limit_per_minute=60, rate_limit_burst=3)
    good = keys.create("librarian", "tv-a").secret
    with TestClient(app, client=("203.0.113.10", 1)) as c, TestClient(app, client=("203.0.113.11", 1)) as other:
        sprayed = [c.get("/api/v1/whoami", headers={"X-API-Key": f"tvk_{i:012x}_{'z' * 43}"}) for i in range(5)]
        # every made-up id would have a fresh bucket; the failures count against the address instead
        assert [r.status_code for r in sprayed] == [401, 401, 401, 429, 429]
        assert sprayed[-1].headers["retry-after"] == "1"
        assert c.get("/api/v1/whoami", headers={"X-API-Key": good}).status_code == 429  # this address waits
        assert other.get("/api/v1/whoami", headers={"X-API-Key": good}).status_code == 200  # others do not
        clock.t += 1.0
        assert c.get("/api/v1/whoami", headers={"X-API-Key": good}).status_code == 200


def test_buckets_are_shared_between_replicas_through_redis(tmp_path):
    import uuid

    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.fail(f"the test Redis at {url} does not answer: {exc}")
    ip = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"  # fresh buckets every run
    replica_a = create_app({}, Settings(rate_limit_per_minute=6, rate_limit_burst=2, redis_url=url))
    replica_b = create_app({}, Settings(rate_limit_per_minute=6, rate_limit_burst=2, redis_url=url))
    with TestClient(replica_a, client=(ip, 1)) as a, TestClient(replica_b, client=(ip, 1)) as b:
        assert a.get("/openapi.json").status_code == 200
        assert b.get("/openapi.json").status_code == 200
        r = a.get("/openapi.json")  # the third request of this address, whichever replica gets it
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 10
        assert b.get("/openapi.json").status_code == 429
    stored = redis.Redis.from_url(url).hgetall(f"thuvien:ratelimit:{ip}")
    assert set(stored) == {b"tokens", b"ts"}
    assert redis.Redis.from_url(url).ttl(f"thuvien:ratelimit:{ip}") > 0  # idle buckets expire


def test_losing_redis_falls_back_to_in_process_limits_with_a_warning(clock, caplog):
    dead = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    with caplog.at_level("WARNING"), gateway(rate_limit_per_minute=60, rate_limit_burst=2, redis_url=dead) as c:
        assert [c.get("/openapi.json").status_code for _ in range(3)] == [200, 200, 429]
    assert any("in process" in rec.getMessage() for rec in caplog.records)
