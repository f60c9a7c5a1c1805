"""The recommender service and the gateway routes, on a real Book-Crossing subset."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from catalog.model import Record
from recommender.loans_store import Loan, LoansStore
from recommender.persist import list_versions, load_version
from recommender.training import train
from services.common.app import make_app
from services.recommender import create_app
from services.recommender.client import RecommenderClient

from .conftest import write_loans_csv

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def env(tmp_path_factory, bx_subset, bx_records):
    d = tmp_path_factory.mktemp("rec")
    url = f"sqlite:///{d / 'catalog.sqlite3'}"
    store = LoansStore(url)
    summary = store.import_csv(write_loans_csv(d / "loans.csv", bx_subset["ratings"]))
    assert summary.imported > 1000 and not summary.errors
    version, meta = train(store, d / "recommender", records=bx_records, ease_items=1500)
    app = create_app(data_dir=d, database_url=url, check_every_s=0)
    with TestClient(app) as client:
        yield {
            "dir": d,
            "url": url,
            "store": store,
            "client": client,
            "version": version,
            "meta": meta,
            "records": {f"{r.library_id}/{r.id}": r for r in bx_records},
            "app": app,
        }


def _patron(env, n=0) -> tuple[str, list[str]]:
    patrons = sorted({x.patron_id for x in env["store"].iter_loans()})
    p = patrons[n]
    return p, [x.record_id for x in env["store"].history(p)]


def test_patron_recommendations(env):
    p, hist = _patron(env)
    r = env["client"].get(f"/v1/patrons/{p}/recommendations", params={"k": 7})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == env["version"]
    assert len(body["items"]) == 7
    for it in body["items"]:
        assert set(it) == {"record_id", "library_id", "title", "score", "reason"}
        assert it["record_id"] not in hist
        assert it["title"] == env["records"][f"{it['library_id']}/{it['record_id']}"].title
        assert it["reason"]
    assert env["meta"]["weights_tuned"] is True


def test_unknown_patron_gets_popular_items_with_a_reason(env):
    r = env["client"].get("/v1/patrons/nobody-xyz/recommendations", params={"k": 5})
    assert r.status_code == 200
    body = r.json()
    assert len(body["items"]) == 5
    assert all("chưa có lịch sử" in it["reason"].lower() for it in body["items"])
    assert body["warnings"]
    en = env["client"].get("/v1/patrons/nobody-xyz/recommendations", headers={"accept-language": "en"}).json()
    assert "no loan history" in en["items"][0]["reason"].lower()


def test_anonymous_history_with_unknown_record(env):
    _, hist = _patron(env, 3)
    body = {
        "history": [{"record_id": h, "library_id": "bx"} for h in hist]
        + [{"record_id": "KHONG-CO", "library_id": "bx"}],
        "k": 10,
    }
    r = env["client"].post("/v1/recommendations", json=body)
    assert r.status_code == 200
    data = r.json()
    assert any("KHONG-CO" in w for w in data["warnings"])
    assert not {it["record_id"] for it in data["items"]} & set(hist)
    reasons = " ".join(it["reason"] for it in data["items"])
    assert "«" in reasons, "collaborative picks explain themselves with a borrowed title"


@pytest.mark.parametrize("k", [0, -1, 101])
def test_bad_k_is_a_problem(env, k):
    r = env["client"].get("/v1/patrons/x/recommendations", params={"k": k})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = env["client"].post("/v1/recommendations", json={"history": [], "k": k})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)


def test_similar_popular_new_available(env):
    c = env["client"]
    _, hist = _patron(env, 1)
    r = c.get(f"/v1/records/bx/{hist[0]}/similar", params={"k": 5})
    assert r.status_code == 200 and r.json()["items"]
    assert hist[0] not in {it["record_id"] for it in r.json()["items"]}
    missing = c.get("/v1/records/bx/NOPE/similar")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    pop = c.get("/v1/libraries/bx/popular", params={"k": 5}).json()
    assert len(pop["items"]) == 5 and all(it["reason"] == "Được mượn nhiều tại thư viện của bạn" for it in pop["items"])
    assert c.get("/v1/libraries/other/popular").json()["items"] == []
    p, _ = _patron(env, 2)
    new = c.get(f"/v1/patrons/{p}/new-arrivals", params={"k": 5}).json()
    counts = {f"bx/{x.record_id}" for x in env["store"].iter_loans()}
    assert new["items"] and all(f"bx/{it['record_id']}" not in counts for it in new["items"])
    assert all(it["reason"].startswith("Mới về thư viện") for it in new["items"])
    av = c.get(f"/v1/patrons/{p}/recommendations", params={"k": 10, "available_only": "true"}).json()
    assert av["items"] and all(env["records"][f"bx/{it['record_id']}"].available > 0 for it in av["items"])


def test_gateway_routes_forward_to_the_service(env):
    gw = make_app("gateway-test", [__import__("services.gateway.routes_recommender", fromlist=["router"]).router])
    gw.state.clients = {"recommender": RecommenderClient("recommender", app=env["app"])}
    p, _ = _patron(env)
    with TestClient(gw) as c:
        r = c.get(f"/api/v1/patrons/{p}/recommendations", params={"k": 3})
        assert r.status_code == 200 and len(r.json()["items"]) == 3
        assert c.get("/api/v1/libraries/bx/popular", params={"k": 2}).json()["items"]
        bad = c.post("/api/v1/recommendations", json={"history": [], "k": 0})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
        assert c.post(
            "/api/v1/loans",
            json={"loans": [{"patron_id": "gw1", "record_id": "r", "library_id": "bx", "date": "2026-01-02"}]},
        ).json() == {"imported": 1}
        assert c.delete("/api/v1/patrons/gw1/history").json()["deleted"] == 1
        miss = c.get("/api/v1/records/bx/NOPE/similar")
        assert miss.status_code == 404


def test_forgotten_patron_vanishes_from_next_model_and_service_reloads(env, bx_records):
    c, store, d = env["client"], env["store"], env["dir"]
    secret = Record(id="SECRET-1", library_id="bx", title="Nhật ký riêng", authors=["Ai Đó"])
    p, _ = _patron(env, 5)
    assert c.post(
        "/v1/loans", json={"loans": [{"patron_id": p, "record_id": "SECRET-1", "library_id": "bx"}]}
    ).json() == {"imported": 1}
    v1, m1 = train(store, d / "recommender", records=[*bx_records, secret], ease_items=1500)
    model, cat, _ = load_version(d / "recommender", v1)
    i = list(cat.keys).index("bx/SECRET-1")
    assert cat.counts[i] == 1

    r = c.delete(f"/v1/patrons/{p}/history")
    assert r.status_code == 200 and r.json()["deleted"] > 1
    assert store.history(p) == []
    v2, m2 = train(store, d / "recommender", records=[*bx_records, secret], ease_items=1500)
    assert m2["patrons"] == m1["patrons"] - 1
    _, cat2, _ = load_version(d / "recommender", v2)
    assert cat2.counts[list(cat2.keys).index("bx/SECRET-1")] == 0
    assert v2 in list_versions(d / "recommender")

    deadline = time.monotonic() + 60
    while c.get("/v1/model").json()["model"] != v2:
        assert time.monotonic() < deadline, "the service did not pick up the new model"
        time.sleep(0.2)
    body = c.get(f"/v1/patrons/{p}/recommendations", params={"k": 3}).json()
    assert body["model"] == v2 and body["warnings"]  # no history any more: popular items


def test_invalid_loan_is_422(env):
    r = env["client"].post("/v1/loans", json={"loans": [{"patron_id": "", "record_id": "r", "library_id": "bx"}]})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert Loan(patron_id=" x ", record_id="r", library_id="l").patron_id == "x"


def test_demo_library_trains_a_working_model(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    loans_csv, records_jsonl = repo / "demo" / "loans.synthetic.csv", repo / "demo" / "records.jsonl"
    assert loans_csv.is_file(), "the demo library ships its synthetic loans"
    import json

    records = [
        Record.model_validate(json.loads(line))
        for line in records_jsonl.read_text("utf-8").splitlines()
        if line.strip()
    ]
    store = LoansStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    s = store.import_csv(loans_csv)
    assert s.imported > 0 and not s.errors
    version, _ = train(store, tmp_path / "recommender", records=records)
    app = create_app(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    patron = next(iter(store.iter_loans())).patron_id
    titles = {r.title for r in records}
    with TestClient(app) as c:
        body = c.get(f"/v1/patrons/{patron}/recommendations", params={"k": 5}).json()
    assert body["model"] == version and body["items"]
    assert all(it["title"] in titles for it in body["items"])


def test_new_arrivals_available_only_through_the_gateway(env):
    """Live availability (a callback, as the catalogue store gives) filters new arrivals too."""
    new_keys = set(env["records"]) - {f"bx/{x.record_id}" for x in env["store"].iter_loans()}
    on_loan = set(sorted(new_keys)[::2])

    def availability(keys: list[str]) -> dict[str, int]:
        return {k: 0 if k in on_loan else 1 for k in keys}

    service = create_app(data_dir=env["dir"], database_url=env["url"], availability=availability)
    gw = make_app("gateway-test", [__import__("services.gateway.routes_recommender", fromlist=["router"]).router])
    gw.state.clients = {"recommender": RecommenderClient("recommender", app=service)}
    p, _ = _patron(env, 2)
    with TestClient(gw) as c:
        every = c.get(f"/api/v1/patrons/{p}/new-arrivals", params={"k": 10}).json()["items"]
        assert {f"bx/{it['record_id']}" for it in every} & on_loan, "some new arrivals are on loan"
        shelf = c.get(f"/api/v1/patrons/{p}/new-arrivals", params={"k": 10, "available_only": "true"}).json()
        assert shelf["items"] and not {f"bx/{it['record_id']}" for it in shelf["items"]} & on_loan
