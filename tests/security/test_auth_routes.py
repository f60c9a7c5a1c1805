"""Roles on the gateway, over the real embedded suite (the security conftest's): every route declares a role,
anonymous callers get 401 and lower roles 403 on every non-reader route (walked from the OpenAPI spec), a
patron sees only their own data, a librarian key changes only its own library, revoked and bad keys are
refused, and the web page and reader routes work anonymously.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from auth.keys import KeyStore
from auth.roles import ROLE_NAMES
from services.common.auth import OPENAPI_ROLE, annotate_openapi, api_routes, route_role
from services.common.settings import Settings
from services.gateway.app import create_app

PROBLEM = "application/problem+json"
LIB = "tv-bacgiang"
OTHER_LIB = "tv-other"
RANK = {name: i for i, name in enumerate(ROLE_NAMES)}


class Keys:
    """One key per role (librarian and patron bound to the demo library), made with the real KeyStore."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.patron = store.create("patron", LIB, patron_id="P0001").secret
        self.other_patron = store.create("patron", LIB, patron_id="P0002").secret
        self.librarian = store.create("librarian", LIB, name="cataloguer").secret
        self.other_librarian = store.create("librarian", OTHER_LIB).secret
        self.admin = store.create("admin", None).secret

    def for_role(self, role: str) -> str:
        return {"patron": self.patron, "librarian": self.librarian, "admin": self.admin}[role]


def secured_settings(base: Settings, tmp_path_factory) -> Settings:
    db = tmp_path_factory.mktemp("auth-db") / "security.sqlite3"
    return base.model_copy(update={"auth_enabled": True, "auth_database_url": f"sqlite:///{db}"})


@pytest.fixture(scope="module")
def secured(sec_api: TestClient, sec_settings: Settings, tmp_path_factory) -> TestClient:
    """The gateway with auth enforced over the same in-process services as ``sec_api`` (no lifespan: the
    services belong to ``sec_api``)."""
    settings = secured_settings(sec_settings, tmp_path_factory)
    return TestClient(create_app(sec_api.app.state.clients, settings))


@pytest.fixture(scope="module")
def keys(secured: TestClient) -> Keys:
    return Keys(KeyStore(secured.app.state.settings.security_db_url))


def h(key: str, bearer: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}


def operations(client: TestClient) -> list[tuple[str, str, str | None]]:
    spec = client.get("/openapi.json").json()
    return [
        (method.upper(), path, op.get(OPENAPI_ROLE))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def concrete(path: str) -> str:
    """A path template with its parameters filled: patrons P0001, the demo library, a record id."""
    values = {
        "patron_id": "P0001",
        "library_id": LIB,
        "record_id": "no-such-record",
        "project_id": "x",
        "action": "learn",
    }
    return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "x"), path)


def call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None):
    return client.request(method, concrete(path), headers=headers or {})


def assert_problem(r, status: int) -> dict:
    assert r.status_code == status, (r.request.method, r.request.url.path, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body


def test_every_route_declares_a_role(secured: TestClient):
    undeclared = [r.path for r in api_routes(secured.app) if r.include_in_schema and route_role(r) is None]
    assert undeclared == []
    ops = operations(secured)
    assert len(ops) >= 20
    assert all(role in ROLE_NAMES for _, _, role in ops), [op for op in ops if op[2] not in ROLE_NAMES]
    # the spec documents the refusals, as problem+json
    spec = secured.get("/openapi.json").json()
    for method, path, role in ops:
        responses = spec["paths"][path][method.lower()]["responses"]
        assert "application/problem+json" in responses["401"]["content"], (method, path)
        assert ("403" in responses) == (role != "reader"), (method, path)
    assert spec["components"]["schemas"]["Problem"]["properties"]["detail"] == {"type": "string"}


def test_roles_of_the_routes(secured: TestClient):
    roles = {(m, p): role for m, p, role in operations(secured)}
    assert roles[("GET", "/api/v1/search")] == "reader"
    assert roles[("POST", "/api/v1/ask")] == "reader"
    assert roles[("GET", "/api/v1/patrons/{patron_id}/recommendations")] == "patron"
    assert roles[("DELETE", "/api/v1/patrons/{patron_id}/history")] == "patron"
    assert roles[("POST", "/api/v1/records")] == "librarian"
    assert roles[("POST", "/api/v1/records/import")] == "librarian"
    assert roles[("DELETE", "/api/v1/records/{library_id}/{record_id}")] == "librarian"
    assert roles[("POST", "/api/v1/loans")] == "librarian"
    assert roles[("POST", "/api/v1/subjects/learn")] == "librarian"
    assert roles[("POST", "/v1/projects/{project_id}/{action}")] == "librarian"
    assert roles[("GET", "/api/v1/audit")] == "admin"


def test_walk_openapi_anonymous_gets_401_and_lower_roles_403(secured: TestClient, keys: Keys):
    checked = 0
    for method, path, role in operations(secured):
        if role == "reader":
            continue
        body = assert_problem(call(secured, method, path), 401)
        r = call(secured, method, path)
        assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
        assert role in body["detail"]
        for lower in ROLE_NAMES[1 : RANK[role]]:  # every authenticated role below the one needed
            body = assert_problem(call(secured, method, path, h(keys.for_role(lower))), 403)
            assert body["required_role"] == role
        checked += 1
    assert checked >= 15


def test_walk_openapi_reader_routes_answer_anonymously(secured: TestClient):
    for method, path, role in operations(secured):
        if role != "reader" or method != "GET":
            continue
        params = {"q": "lịch sử"} if path.endswith("/search") else None
        r = secured.request(method, concrete(path), params=params)
        assert r.status_code not in (401, 403), (path, r.status_code, r.text[:200])


def test_right_role_passes_the_check(secured: TestClient, keys: Keys):
    for method, path, role in operations(secured):
        if role == "reader" or method != "GET":
            continue  # changes are exercised one by one below
        r = call(secured, method, path, h(keys.for_role(role)))
        assert r.status_code not in (401, 403), (path, r.status_code, r.text[:200])
    assert secured.get("/api/v1/audit", headers=h(keys.admin, bearer=True)).status_code == 200


def test_english_401(secured: TestClient):
    r = secured.post("/api/v1/loans", headers={"Accept-Language": "en"})
    assert assert_problem(r, 401)["detail"] == "This needs the 'librarian' role: send an API key or a JWT."


def test_patron_reads_only_their_own_data(secured: TestClient, keys: Keys):
    for tail in ("recommendations", "new-arrivals"):
        own = secured.get(f"/api/v1/patrons/P0001/{tail}", headers=h(keys.patron))
        assert own.status_code not in (401, 403), own.text[:200]
        other = secured.get(f"/api/v1/patrons/P0002/{tail}", headers=h(keys.patron))
        assert_problem(other, 403)
        # a librarian serves any patron at the desk
        assert secured.get(f"/api/v1/patrons/P0002/{tail}", headers=h(keys.librarian)).status_code not in (401, 403)
    assert_problem(secured.delete("/api/v1/patrons/P0001/history", headers=h(keys.other_patron)), 403)


def test_bad_and_revoked_keys_are_refused(secured: TestClient, keys: Keys):
    store = keys.store
    new = store.create("librarian", LIB)
    assert secured.get("/api/v1/whoami", headers=h(new.secret)).json()["actor"] == f"key:{new.key.id}"
    key_id = new.key.id
    wrong = new.secret[:-4] + ("AAAA" if not new.secret.endswith("AAAA") else "BBBB")
    for bad in (wrong, "tvk_000000000000_" + "x" * 43, "not-a-key", "eyJhbGciOiJIUzI1NiJ9.e30.sig"):
        r = secured.get("/api/v1/search", params={"q": "sách"}, headers=h(bad))  # even on a reader route
        assert_problem(r, 401)
        assert "www-authenticate" in r.headers
    store.revoke(key_id)
    assert_problem(secured.get("/api/v1/whoami", headers=h(new.secret)), 401)
    assert_problem(secured.post("/api/v1/records", headers=h(new.secret), json=[]), 401)


def test_librarian_key_is_bound_to_its_library(secured: TestClient, keys: Keys):
    other = h(keys.other_librarian)
    row = {"id": "auth-bound-1", "library_id": LIB, "title": "Sổ tay phân quyền thư viện", "year": 2025}
    # rows naming another library, with or without the library_id parameter
    assert_problem(secured.post("/api/v1/records", headers=other, json=[row]), 403)
    body = assert_problem(secured.post("/api/v1/records", headers=other, params={"library_id": LIB}, json=[row]), 403)
    assert body["libraries"] == [LIB]
    csv = f"id,library_id,title\nauth-bound-2,{LIB},Sách mượn trái phép\n".encode()
    r = secured.post(
        "/api/v1/records/import", headers=other, params={"library_id": OTHER_LIB, "filename": "x.csv"}, content=csv
    )
    assert_problem(r, 403)
    assert_problem(secured.post("/api/v1/records/import", headers=other, params={"library_id": LIB}, content=csv), 403)
    assert_problem(secured.delete(f"/api/v1/records/{LIB}/xss-001", headers=other), 403)
    loans = {"loans": [{"patron_id": "P0001", "record_id": "xss-001", "library_id": LIB, "loan_date": "2025-01-02"}]}
    assert_problem(secured.post("/api/v1/loans", headers=other, json=loans), 403)
    # nothing was written
    assert secured.get(f"/api/v1/records/{LIB}/auth-bound-1").status_code == 404
    assert secured.get(f"/api/v1/records/{LIB}/auth-bound-2").status_code == 404
    # its own library is fine, and rows without a library land in it
    mine = {"id": "auth-bound-3", "title": "Sổ tay của thư viện khác", "year": 2025}
    r = secured.post("/api/v1/records", headers=other, json=[mine])
    assert r.status_code == 200, r.text
    assert secured.get(f"/api/v1/records/{OTHER_LIB}/auth-bound-3").status_code == 200
    assert secured.delete(f"/api/v1/records/{OTHER_LIB}/auth-bound-3", headers=other).json() == {"deleted": True}
    # the demo library's own librarian may write there
    r = secured.post("/api/v1/records", headers=h(keys.librarian), json=[row])
    assert r.status_code == 200 and r.json()["imported"] + r.json()["updated"] == 1
    assert secured.delete(f"/api/v1/records/{LIB}/auth-bound-1", headers=h(keys.librarian)).status_code == 200


def test_web_page_and_reader_features_work_anonymously(secured: TestClient):
    page = secured.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    r = secured.get("/api/v1/search", params={"q": "lich su viet nam"})
    assert r.status_code == 200 and r.json()["hits"]
    assert secured.get("/api/v1/libraries").status_code == 200
    assert secured.get("/static/app.js").status_code == 200
    who = secured.get("/api/v1/whoami").json()
    assert who == {"actor": "anonymous", "role": "reader", "library_id": None, "patron_id": None, "auth_enabled": True}


def test_auth_off_by_default_lets_everything_through_but_still_checks_presented_keys(tmp_path):
    assert Settings().auth_enabled is False
    app = create_app({}, Settings(data_dir=tmp_path, auth_database_url=f"sqlite:///{tmp_path / 's.sqlite3'}"))
    with TestClient(app) as c:
        who = c.get("/api/v1/whoami").json()
        assert who["auth_enabled"] is False and who["actor"] == "anonymous"
        # a route that needs the admin role answers (nothing enforced), and a bad key is still refused
        assert c.get("/api/v1/audit").status_code == 200
        assert_problem(c.get("/api/v1/whoami", headers=h("tvk_0123456789ab_" + "y" * 43)), 401)


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("THUVIEN_AUTH_ENABLED", "true")
    monkeypatch.setenv("THUVIEN_AUTH_JWT_ROLE_CLAIM", "realm_access.roles")
    monkeypatch.setenv("THUVIEN_RATE_LIMIT_KEY_PER_MINUTE", "600")
    s = Settings()
    assert s.auth_enabled and s.auth_jwt_role_claim == "realm_access.roles" and s.rate_limit_key_per_minute == 600
    assert s.security_db_url == s.db_url  # keys and audit beside the catalogue, made by its migrations


def test_annotate_openapi_is_idempotent(secured: TestClient):
    annotate_openapi(secured.app)  # a second wrap changes nothing
    assert json.dumps(secured.app.openapi(), sort_keys=True) == json.dumps(secured.app.openapi(), sort_keys=True)
