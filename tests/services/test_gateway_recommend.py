"""Recommendations through the gateway: demo loans imported and a model trained by the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services.test_gateway_search import assert_problem

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(api, suite_settings):
    env = dict(
        os.environ,
        THUVIEN_DATA_DIR=str(suite_settings.data_dir),
        PYTHONPATH=str(REPO),
        THUVIEN_MODELS_DIR=str(suite_settings.models_dir),
    )
    for args in (["ingest-loans", str(REPO / "demo" / "loans.synthetic.csv")], ["recommender", "train"]):
        r = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert r.returncode == 0, r.stderr[-2000:]
    # The service picks up the new model version without a restart.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = api.get("/api/v1/patrons/P0001/recommendations", params={"k": 5})
        if r.status_code == 200 and r.json()["model"]:
            return r.json()
        time.sleep(1)
    pytest.fail(f"no trained model was picked up: {r.status_code} {r.text[:300]}")


def test_patron_gets_recommendations_with_reasons(trained):
    items = trained["items"]
    assert len(items) == 5
    assert all(i["reason"] and i["title"] for i in items)
    assert len({(i["library_id"], i["record_id"]) for i in items}) == 5


def test_recommendations_leave_out_what_was_borrowed(api, trained):
    import csv

    with open(REPO / "demo" / "loans.synthetic.csv", encoding="utf-8") as fh:
        borrowed = {(r["library_id"], r["record_id"]) for r in csv.DictReader(fh) if r["patron_id"] == "P0001"}
    assert borrowed
    assert not borrowed & {(i["library_id"], i["record_id"]) for i in trained["items"]}


def test_anonymous_history_and_unknown_records(api, trained):
    hit = api.get("/api/v1/search", params={"q": "Số đỏ Vũ Trọng Phụng"}).json()["hits"][0]
    body = {
        "history": [
            {"record_id": hit["id"], "library_id": hit["library_id"]},
            {"record_id": "no-such-book", "library_id": "tv-bacgiang"},
        ],
        "k": 5,
    }
    r = api.post("/api/v1/recommendations", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["items"] and any("no-such-book" in w for w in data["warnings"])


def test_unknown_patron_gets_popular_items(api, trained):
    r = api.get("/api/v1/patrons/P-nobody/recommendations", params={"k": 3})
    assert r.status_code == 200 and r.json()["items"]


def test_bad_k_is_4xx(api, trained):
    assert_problem(api.get("/api/v1/patrons/P0001/recommendations", params={"k": 0}), 422)
    assert_problem(api.get("/api/v1/patrons/P0001/recommendations", params={"k": 101}), 422)


def test_bad_recommendation_bodies_are_problems_not_500(api, trained):
    bad_bodies = [
        {"history": [{"record_id": "", "library_id": "tv-bacgiang"}], "k": 5},
        {"history": "not a list", "k": 5},
        {"history": [], "k": 0},
        {"history": [], "k": 101},
        {"history": [{"record_id": "x", "library_id": "tv-bacgiang"}] * 2001, "k": 5},
    ]
    for body in bad_bodies:
        assert_problem(api.post("/api/v1/recommendations", json=body), 422)
    raw = api.post("/api/v1/recommendations", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= raw.status_code < 500 and raw.headers["content-type"].startswith("application/problem+json")
    en = api.post("/api/v1/recommendations", json={"history": [], "k": 0}, headers={"accept-language": "en"})
    assert_problem(en, 422)


def test_new_arrivals_and_similar_through_the_gateway(api, trained):
    first = trained["items"][0]
    sim = api.get(f"/api/v1/records/{first['library_id']}/{first['record_id']}/similar", params={"k": 3})
    assert sim.status_code == 200 and sim.json()["items"]
    new = api.get("/api/v1/patrons/P0001/new-arrivals", params={"k": 3, "available_only": "true"})
    assert new.status_code == 200, new.text
    assert_problem(api.get("/api/v1/records/tv-bacgiang/no-such-book/similar"), 404)
