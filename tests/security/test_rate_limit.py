"""Per-client-IP rate limit on the gateway: a token bucket; over it, 429 problem+json with Retry-After."""

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
