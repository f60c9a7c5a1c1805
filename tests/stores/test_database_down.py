"""A database that is down when the service starts, or lost while it runs: a clear log line naming the
URL (never the password), a 503 problem+json for the features that need it, no crash, and recovery
without a restart once it answers again. Against the real PostgreSQL, reached through a loopback
proxy the tests stop and start."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from catalog.model import Record
from catalog.store import CatalogStore, StoreUnavailable
from recommender.loans_store import Loan, LoansStore
from services.common.settings import Settings
from services.suite import single_service_app
from tests.stores.pgtools import pg_schema
from tests.stores.tcpproxy import TcpProxy, free_port

PROBLEM = "application/problem+json"
PASSWORD = "s3cret-pw"


def _via(url: str, port: int, password: str | None = None) -> str:
    u = make_url(url).set(host="127.0.0.1", port=port)
    if password:
        u = u.set(password=password)  # trust auth ignores it; it must never show up in logs
    return u.render_as_string(hide_password=False)


def _messages(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


@pytest.fixture
def pg_url(pg_database: str):
    with pg_schema(pg_database) as url:
        yield url


def test_store_opens_with_the_database_down_and_recovers(pg_url: str, caplog):
    upstream = make_url(pg_url)
    proxy = TcpProxy((upstream.host or "127.0.0.1", upstream.port or 5432))
    url = _via(pg_url, proxy.port, PASSWORD)
    with caplog.at_level(logging.WARNING, logger="thuvien.db"):
        store = CatalogStore(url)  # the proxy is not listening: PostgreSQL is "down"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, _messages(caplog)
    line = errors[0].getMessage()
    assert f"127.0.0.1:{proxy.port}" in line and "unreachable" in line and PASSWORD not in line
    with pytest.raises(StoreUnavailable) as exc:
        store.count()
    assert PASSWORD not in str(exc.value)
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1  # one line per outage, not per call

    proxy.start()
    try:
        store.schema.retry_after_s = 0
        store.schema._next_try = 0  # noqa: SLF001 - skip the cooldown instead of sleeping
        assert store.count() == 0  # migrated on first contact
        assert store.upsert([Record(id="r1", library_id="L", title="Nhật ký trong tù")]) == ["inserted"]
        assert "answers again" in _messages(caplog)

        # lost at run time: the open connections break, new ones are refused
        proxy.stop()
        with pytest.raises(StoreUnavailable):
            store.get("L", "r1")
        proxy.start()
        assert store.get("L", "r1").title == "Nhật ký trong tù"
    finally:
        proxy.stop()
        store.close()


def test_loans_store_with_the_database_down(pg_url: str, caplog):
    port = free_port()
    with caplog.at_level(logging.WARNING, logger="thuvien.db"):
        store = LoansStore(_via(pg_url, port, PASSWORD))
    assert "loans store" in _messages(caplog) and PASSWORD not in _messages(caplog)
    with pytest.raises(StoreUnavailable):
        store.add([Loan(patron_id="p", record_id="r", library_id="L")])


def test_catalog_service_answers_503_while_the_database_is_down(tmp_path, pg_url: str):
    """`thuvien serve catalog` with PostgreSQL down: the app starts, its probes say why, calls get a 503."""
    settings = Settings(data_dir=tmp_path, database_url=_via(pg_url, free_port(), PASSWORD))
    app = single_service_app("catalog", settings)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and PASSWORD not in ready.text
        r = client.get("/v1/records/L/r1")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        body = r.json()
        assert body["service"] == "catalog" and body["detail"] and PASSWORD not in r.text
        en = client.get("/v1/stats", headers={"Accept-Language": "en"})
        assert en.status_code == 503 and "unreachable" in en.json()["detail"]


def test_gateway_keeps_serving_when_the_catalog_database_is_down(tmp_path, pg_url: str):
    """Through the gateway: record features answer 503 naming the catalog; the gateway itself is up."""
    from services.catalog.client import CatalogClient
    from services.gateway.app import create_app

    settings = Settings(data_dir=tmp_path, database_url=_via(pg_url, free_port(), PASSWORD))
    catalog = CatalogClient("catalog", app=single_service_app("catalog", settings))
    with TestClient(create_app({"catalog": catalog}, settings)) as client:
        for path in ("/api/v1/records/L/r1", "/api/v1/libraries"):
            r = client.get(path)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith(PROBLEM)
            assert r.json()["service"] == "catalog"
        assert client.get("/healthz").status_code == 200


def test_recommender_loans_answer_503_while_the_database_is_down(tmp_path, pg_url: str):
    settings = Settings(data_dir=tmp_path, database_url=_via(pg_url, free_port(), PASSWORD))
    app = single_service_app("recommender", settings)
    with TestClient(app) as client:
        r = client.post("/v1/loans", json={"loans": [{"patron_id": "p", "record_id": "r", "library_id": "L"}]})
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["service"] == "recommender"
