"""GET /api/v1/search with the shared Redis cache, over a real embedded suite: two gateway replicas
share results, every record write (through either replica) invalidates them, and losing Redis at run
time only loses the cache (200s, a warning), never a 500."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.common import redis_store
from services.common.settings import Settings
from services.gateway.app import create_app
from services.suite import build_suite
from tests.stores.redistools import REDIS_URL

REPO = Path(__file__).resolve().parents[2]
BOOKS = [
    {"id": "b1", "library_id": "tv-bacgiang", "title": "Truyện Kiều", "authors": ["Nguyễn Du"], "year": 1820},
    {"id": "b2", "library_id": "tv-bacgiang", "title": "Tắt đèn", "authors": ["Ngô Tất Tố"], "year": 1939},
    {"id": "b3", "library_id": "tv-lucngan", "title": "Số đỏ", "authors": ["Vũ Trọng Phụng"], "year": 1936},
]
QUERY = {"q": "truyen kieu nguyen du", "k": 5}


def _settings(tmp_path: Path, redis_url: str, prefix: str) -> Settings:
    models = REPO / "var" / "models"
    return Settings(
        data_dir=tmp_path,
        embedding_backend="auto",
        models_path=models if (models / "current.json").exists() else None,
        redis_url=redis_url,
        redis_key_prefix=prefix,
    )


@pytest.fixture
def suite(tmp_path: Path, redis_prefix: str):
    settings = _settings(tmp_path, REDIS_URL, redis_prefix)
    s = build_suite(settings)
    yield s, settings


def test_replicas_share_results_and_writes_invalidate_them(suite, redis_prefix: str):
    s, settings = suite
    with TestClient(create_app(s.clients, settings)) as a, TestClient(create_app(s.clients, settings)) as b:
        r = a.post("/api/v1/records", json=BOOKS)
        assert r.status_code == 200, r.text
        first = a.get("/api/v1/search", params=QUERY)
        assert first.status_code == 200 and first.headers["x-cache"] == "miss"
        assert first.json()["hits"][0]["id"] == "b1"
        again = b.get("/api/v1/search", params=QUERY)  # the other replica: from the shared cache
        assert again.headers["x-cache"] == "hit" and again.content == first.content
        other = b.get("/api/v1/search", params={**QUERY, "k": 3})  # other parameters: their own entry
        assert other.headers["x-cache"] == "miss"

        # a new record through replica b: replica a must not serve the old result
        new = {"id": "b4", "library_id": "tv-yenthe", "title": "Truyện Kiều (bản chú giải)", "authors": ["Nguyễn Du"]}
        assert b.post("/api/v1/records", json=[new]).status_code == 200
        after = a.get("/api/v1/search", params=QUERY)
        assert after.headers["x-cache"] == "miss"
        assert "b4" in {h["id"] for h in after.json()["hits"]}
        assert b.get("/api/v1/search", params=QUERY).headers["x-cache"] == "hit"

        # a deletion invalidates too
        assert a.delete("/api/v1/records/tv-yenthe/b4").status_code == 200
        gone = b.get("/api/v1/search", params=QUERY)
        assert gone.headers["x-cache"] == "miss" and "b4" not in {h["id"] for h in gone.json()["hits"]}

        # bad input is still a 4xx problem, never cached
        bad = a.get("/api/v1/search", params={"q": "kieu", "year_from": 2000, "year_to": 1900})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_redis_lost_at_run_time_degrades_to_no_cache(tmp_path: Path, private_redis, redis_prefix, monkeypatch, caplog):
    monkeypatch.setattr(redis_store, "RETRY_AFTER_S", 0.0)
    settings = _settings(tmp_path, private_redis.url, redis_prefix)
    s = build_suite(settings)
    with TestClient(create_app(s.clients, settings)) as api:
        assert api.post("/api/v1/records", json=BOOKS).status_code == 200
        assert api.get("/api/v1/search", params=QUERY).headers["x-cache"] == "miss"
        assert api.get("/api/v1/search", params=QUERY).headers["x-cache"] == "hit"
        private_redis.stop()
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                r = api.get("/api/v1/search", params=QUERY)
                assert r.status_code == 200, r.text
                assert r.json()["hits"][0]["id"] == "b1"
                assert r.headers.get("x-cache") != "hit"
            # writes still work (the invalidation is kept for later)
            new = [{"id": "b5", "library_id": "tv-bacgiang", "title": "Lục Vân Tiên", "authors": ["Nguyễn Đình Chiểu"]}]
            assert api.post("/api/v1/records", json=new).status_code == 200
        warnings = [r.getMessage() for r in caplog.records if r.name == "thuvien.redis"]
        assert warnings and len(warnings) <= 2, warnings  # one per outage, not one per request
        private_redis.start()
        assert api.get("/api/v1/search", params=QUERY).headers["x-cache"] == "miss"
        assert api.get("/api/v1/search", params=QUERY).headers["x-cache"] == "hit"
