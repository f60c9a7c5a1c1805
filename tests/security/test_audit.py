"""The audit log: every change through the gateway (records, loans, patron erasure, subject feedback) and
every key made or revoked is recorded with who, when, what and the request id; refused changes too;
``thuvien audit`` and ``GET /api/v1/audit`` query it. SQLite and the real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from audit import AuditLog, parse_since
from auth.keys import KeyStore
from services.cli import app as cli_app
from services.common.client import ServiceClient
from services.gateway.app import create_app
from services.subjects.client import SubjectsClient
from subjects import corpora
from subjects.project import ProjectConfig, ProjectStore
from tests.security.test_auth_routes import LIB, secured_settings
from tests.stores.pgtools import pg_schema


@pytest.fixture(scope="module")
def subjects_store(tmp_path_factory, shared_data) -> ProjectStore:
    """A real subjects project (the vinabook topics, a linear model on 200 books) to send feedback to."""
    split = corpora.vinabook(shared_data / "vinabook" / "books.jsonl")
    store = ProjectStore(tmp_path_factory.mktemp("audit-subjects"))
    store.put_vocab(split.vocab)
    store.create(ProjectConfig("vinabook-vi", "vinabook", language="vi", params={"members": [{"backend": "linear"}]}))
    store.train("vinabook-vi", split.train[::8][:200])
    return store


@pytest.fixture(scope="module")
def gw(sec_api: TestClient, sec_settings, subjects_store, tmp_path_factory) -> TestClient:
    """Auth enforced over the security suite's services, plus a subjects service with a trained project."""
    from services.subjects import create_app as subjects_app

    clients: dict[str, ServiceClient] = dict(sec_api.app.state.clients)
    clients["subjects"] = SubjectsClient("subjects", app=subjects_app(store=subjects_store, max_chars=2000))
    return TestClient(create_app(clients, secured_settings(sec_settings, tmp_path_factory)))


@pytest.fixture(scope="module")
def log(gw: TestClient) -> AuditLog:
    return AuditLog(gw.app.state.settings.security_db_url)


@pytest.fixture(scope="module")
def keys(gw: TestClient):
    store = KeyStore(gw.app.state.settings.security_db_url)
    librarian = store.create("librarian", LIB)
    patron = store.create("patron", LIB, patron_id="P0042")
    admin = store.create("admin", None)
    return librarian, patron, admin


def test_record_changes_are_audited_with_request_id(gw: TestClient, log: AuditLog, keys):
    librarian, _, _ = keys
    h = {"X-API-Key": librarian.secret, "X-Request-ID": "audit-req-0001"}
    row = {"id": "audit-001", "library_id": LIB, "title": "Nhật ký kiểm toán thư viện", "year": 2025}
    before = datetime.now(UTC) - timedelta(seconds=1)
    r = gw.post("/api/v1/records", headers=h, json=[row])
    assert r.status_code == 200, r.text
    events = [e for e in log.query(action="records.import") if e.request_id == "audit-req-0001"]
    assert len(events) == 1
    ev = events[0]
    assert ev.actor == f"key:{librarian.key.id}" and ev.role == "librarian" and ev.library_id == LIB
    assert ev.outcome == "ok" and ev.details["imported"] + ev.details["updated"] == 1
    assert before <= ev.at <= datetime.now(UTC) + timedelta(seconds=1)
    r = gw.delete(f"/api/v1/records/{LIB}/audit-001", headers={**h, "X-Request-ID": "audit-req-0002"})
    assert r.status_code == 200
    ev = log.query(action="records.delete")[0]
    assert (ev.target, ev.request_id, ev.actor) == (f"{LIB}/audit-001", "audit-req-0002", f"key:{librarian.key.id}")


def test_import_of_a_file_is_audited(gw: TestClient, log: AuditLog, keys):
    librarian, _, _ = keys
    csv = "id,title,year\naudit-csv-1,Sổ tay kiểm kê kho sách,2024\n".encode()
    r = gw.post(
        "/api/v1/records/import",
        headers={"X-API-Key": librarian.secret, "X-Request-ID": "audit-req-csv"},
        params={"library_id": LIB, "filename": "kiemke.csv"},
        content=csv,
    )
    assert r.status_code == 200, r.text
    ev = [e for e in log.query(action="records") if e.request_id == "audit-req-csv"][0]
    assert ev.action == "records.import" and ev.target == "kiemke.csv" and ev.details["bytes"] == len(csv)
    gw.delete(f"/api/v1/records/{LIB}/audit-csv-1", headers={"X-API-Key": librarian.secret})


def test_subject_feedback_accepted_and_rejected_is_audited(gw: TestClient, log: AuditLog, keys, subjects_store):
    librarian, _, _ = keys
    vocab = subjects_store.get("vinabook-vi").vocab
    uris = sorted(vocab.concepts)[:2]
    h = {"X-API-Key": librarian.secret, "X-Request-ID": "audit-req-learn"}
    body = {
        "text": "Kỹ thuật trồng lúa năng suất cao",
        "vocab": "vinabook",
        "accepted": [uris[0]],
        "rejected": [uris[1]],
    }
    r = gw.post("/api/v1/subjects/learn", headers=h, json=body)
    assert r.status_code == 200, r.text
    ev = [e for e in log.query(action="subjects.learn") if e.request_id == "audit-req-learn"][0]
    assert ev.details["accepted"] == [uris[0]] and ev.details["rejected"] == [uris[1]]
    assert ev.target == "vinabook" and ev.actor == f"key:{librarian.key.id}"
    # the Annif-compatible feedback route too
    annif = [{"document": {"text": "Giáo trình luật dân sự"}, "subjects": [{"uri": uris[0]}]}]
    r = gw.post("/v1/projects/vinabook-vi/learn", headers={**h, "X-Request-ID": "audit-req-annif"}, json=annif)
    assert r.status_code < 300, r.text
    ev = [e for e in log.query(action="subjects.learn") if e.request_id == "audit-req-annif"][0]
    assert ev.target == "vinabook-vi" and ev.details["accepted"] == [{"uri": uris[0]}]
    # a refused suggestion that never reached the models is not feedback: nothing recorded
    n = len(log.query(action="subjects.learn", limit=1000))
    bad = gw.post("/api/v1/subjects/learn", headers=h, json={"text": "x", "vocab": "no-such-vocab", "accepted": ["u"]})
    assert bad.status_code == 404
    assert len(log.query(action="subjects.learn", limit=1000)) == n


def test_loans_patron_erasure_and_denials_are_audited(gw: TestClient, log: AuditLog, keys):
    librarian, patron, _ = keys
    loans = {"loans": [{"patron_id": "P0042", "record_id": "xss-001", "library_id": LIB, "loan_date": "2025-03-01"}]}
    r = gw.post("/api/v1/loans", headers={"X-API-Key": librarian.secret, "X-Request-ID": "audit-req-loans"}, json=loans)
    assert r.status_code == 200, r.text
    ev = [e for e in log.query(action="loans.add") if e.request_id == "audit-req-loans"][0]
    assert ev.details["loans"] == 1 and ev.target == LIB
    r = gw.delete("/api/v1/patrons/P0042/history", headers={"X-API-Key": patron.secret})
    assert r.status_code == 200, r.text
    ev = log.query(action="patrons.forget")[0]
    assert ev.actor == f"key:{patron.key.id}" and ev.role == "patron" and ev.target == "P0042"
    # a patron trying to import records: refused (403) and recorded as denied
    r = gw.post("/api/v1/records", headers={"X-API-Key": patron.secret, "X-Request-ID": "audit-req-deny"}, json=[])
    assert r.status_code == 403
    ev = [e for e in log.query(action="auth.denied") if e.request_id == "audit-req-deny"][0]
    assert ev.outcome == "denied" and ev.target == "POST /api/v1/records" and ev.details["needed"] == "librarian"


def test_api_query_is_admin_only_and_filters(gw: TestClient, keys):
    librarian, _, admin = keys
    assert gw.get("/api/v1/audit", headers={"X-API-Key": librarian.secret}).status_code == 403
    r = gw.get(
        "/api/v1/audit",
        headers={"X-API-Key": admin.secret},
        params={"actor": f"key:{librarian.key.id}", "action": "records", "since": "1h", "limit": 50},
    )
    assert r.status_code == 200
    events = r.json()
    assert events and all(e["actor"] == f"key:{librarian.key.id}" for e in events)
    assert all(e["action"].startswith("records.") for e in events)
    times = [e["at"] for e in events]
    assert times == sorted(times, reverse=True)
    bad = gw.get("/api/v1/audit", headers={"X-API-Key": admin.secret}, params={"since": "yesterday-ish"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_log(request, tmp_path):
    if request.param == "sqlite":
        yield AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
        return
    with pg_schema(request.getfixturevalue("pg_database")) as url:
        log = AuditLog(url)
        yield log
        log.engine.dispose()


def test_store_filters_on_sqlite_and_postgresql(any_log: AuditLog):
    t0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    for i, (actor, action) in enumerate(
        [("cli", "keys.create"), ("key:aaaaaaaaaaaa", "records.import"), ("key:aaaaaaaaaaaa", "records.delete")]
        + [("jwt:u1", "subjects.learn"), ("key:bbbbbbbbbbbb", "records.importer")]
    ):
        any_log.record(actor=actor, role="librarian", action=action, at=t0 + timedelta(hours=i), details={"i": i})
    assert [e.details["i"] for e in any_log.query()] == [4, 3, 2, 1, 0]
    assert [e.details["i"] for e in any_log.query(action="records")] == [4, 2, 1]
    assert [e.details["i"] for e in any_log.query(action="records.import")] == [1]  # exact, not a prefix
    assert [e.details["i"] for e in any_log.query(actor="key:aaaaaaaaaaaa")] == [2, 1]
    assert [e.details["i"] for e in any_log.query(since=t0 + timedelta(hours=2, minutes=30))] == [4, 3]
    assert [e.details["i"] for e in any_log.query(limit=2)] == [4, 3]
    ev = any_log.query(actor="jwt:u1")[0]
    assert ev.at == t0 + timedelta(hours=3) and ev.at.tzinfo is not None


def test_parse_since():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-26T08:00+07:00") == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert parse_since("2026-11-26") == datetime(2026, 11, 26, tzinfo=UTC)
    with pytest.raises(ValueError, match="relative age"):
        parse_since("last tuesday")


def run(data_dir, *args: str):
    return CliRunner().invoke(cli_app, list(args), env={"THUVIEN_DATA_DIR": str(data_dir)})


def test_cli_keys_are_audited_and_thuvien_audit_queries(tmp_path):
    data = tmp_path / "data"
    made = json.loads(run(data, "keys", "create", "--role", "librarian", "--library", LIB, "--json").stdout)
    assert run(data, "keys", "revoke", made["id"]).exit_code == 0
    r = run(data, "audit", "--json")
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(e["action"], e["actor"], e["target"]) for e in events] == [
        ("keys.revoke", "cli", f"key:{made['id']}"),
        ("keys.create", "cli", f"key:{made['id']}"),
    ]
    assert made["key"] not in r.output  # the secret is never logged
    assert [
        json.loads(x)["action"] for x in run(data, "audit", "--json", "--action", "keys.create").stdout.splitlines()
    ] == ["keys.create"]
    assert run(data, "audit", "--json", "--actor", "key:nobody").stdout.strip() == ""
    assert len(run(data, "audit", "--json", "--limit", "1").stdout.splitlines()) == 1
    assert run(data, "audit", "--json", "--since", "1h").stdout.count("\n") == 2
    future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert run(data, "audit", "--json", "--since", future).stdout.strip() == ""
    table = run(data, "audit")
    assert table.exit_code == 0 and "keys.revoke" in table.output and "2 event(s)" in table.output
    bad = run(data, "audit", "--since", "whenever")
    assert bad.exit_code == 2 and "--since" in bad.output
    help_ = run(data, "audit", "--help")
    assert help_.exit_code == 0 and "--actor" in help_.output and "--action" in help_.output
