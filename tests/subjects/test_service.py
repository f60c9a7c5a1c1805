"""The subjects service: thuvien API, Annif-compatible API, bad input; annif-client over a real port."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from services.subjects import create_app

TOPIC = "http://thuvien.local/vinabook/topic/"


@pytest.fixture(scope="module")
def client(trained_store):
    app = create_app(store=trained_store, max_chars=2000)
    with TestClient(app) as c:
        yield c


def test_suggest_title_summary(client):
    r = client.post(
        "/v1/subjects/suggest",
        json={
            "title": "Giáo trình giải phẫu học",
            "summary": "Sách dành cho sinh viên y khoa về cơ thể người",
            "vocab": "vinabook",
            "limit": 3,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["project"] == "vinabook-vi" and len(body["results"]) <= 3
    top = body["results"][0]
    assert top["uri"].startswith(TOPIC) and top["label"] in {
        "Y học",
        "Khoa học cơ bản",
        "Khoa học kỹ thuật",
        "Sách học nghề",
    }  # a Vietnamese label, not the URI
    assert 0 < top["score"] <= 1 and top["sources"]
    scores = [s["score"] for s in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_threshold_and_batch(client):
    r = client.post(
        "/v1/subjects/suggest-batch",
        json={
            "vocab": "vinabook-vi",
            "threshold": 0.5,
            "documents": [
                {"id": "a", "text": "Bộ luật dân sự và các văn bản hướng dẫn thi hành"},
                {"id": "b", "title": "Kỹ thuật trồng lúa năng suất cao"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["id"] for x in res] == ["a", "b"]
    assert all(s["score"] >= 0.5 for x in res for s in x["results"])


def test_bad_input(client):
    r = client.post("/v1/subjects/suggest", json={"text": "  ", "vocab": "vinabook"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/v1/subjects/suggest", json={"text": "abc", "vocab": "no-such-vocab"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/v1/projects/nope/suggest", data={"text": "abc"})
    assert r.status_code == 404 and r.json()["status"] == 404
    r = client.post("/v1/subjects/learn", json={"text": "abc", "vocab": "vinabook", "accepted": ["http://x/nope"]})
    assert r.status_code == 422
    r = client.post("/v1/subjects/suggest", json={"text": "abc", "vocab": "vinabook", "limit": -1})
    assert r.status_code == 422


def test_long_text_truncated_with_warning(client):
    text = "Luật hình sự và tố tụng hình sự. " * 200
    r = client.post("/v1/subjects/suggest", json={"text": text, "vocab": "vinabook"})
    assert r.status_code == 200 and r.json()["warnings"] and "truncated" in r.json()["warnings"][0]
    r = client.post("/v1/projects/vinabook-vi/suggest", data={"text": text})
    assert r.status_code == 200 and r.json()["warnings"]


def test_learn_then_suggest_and_reject(client):
    text = "Nhật ký hành hương núi Kailas Vortimex"
    target = TOPIC + "du-lich"
    before = {
        s["uri"]: s["score"]
        for s in client.post("/v1/subjects/suggest", json={"text": text, "vocab": "vinabook", "limit": 13}).json()[
            "results"
        ]
    }
    r = client.post("/v1/subjects/learn", json={"text": text, "vocab": "vinabook", "accepted": [target]})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    after = {
        s["uri"]: s["score"]
        for s in client.post("/v1/subjects/suggest", json={"text": text, "vocab": "vinabook", "limit": 13}).json()[
            "results"
        ]
    }
    assert after[target] > before.get(target, 0.0)
    wrong = next(u for u in after if u != target)
    client.post("/v1/subjects/learn", json={"text": text, "vocab": "vinabook", "rejected": [wrong]})
    again = [
        s["uri"]
        for s in client.post("/v1/subjects/suggest", json={"text": text, "vocab": "vinabook", "limit": 13}).json()[
            "results"
        ]
    ]
    assert wrong not in again


def test_annif_compatible_shapes(client):
    info = client.get("/v1/").json()
    assert info["title"] == "Annif REST API"
    projects = client.get("/v1/projects").json()["projects"]
    p = next(x for x in projects if x["project_id"] == "vinabook-vi")
    assert p["backend"] == {"backend_id": "ensemble"} and p["is_trained"] is True and p["language"] == "vi"
    r = client.post("/v1/projects/vinabook-vi/suggest", data={"text": "Bài tập luyện cơ bụng", "limit": "2"})
    assert r.status_code == 200
    res = r.json()["results"]
    assert len(res) <= 2 and set(res[0]) >= {"uri", "label", "score", "notation"}
    r = client.post(
        "/v1/projects/vinabook-vi/suggest-batch?limit=1",
        json={"documents": [{"document_id": "d1", "text": "Kinh Thánh"}, {"text": "Luật đất đai"}]},
    )
    assert r.status_code == 200
    assert r.json()[0]["document_id"] == "d1" and r.json()[1]["document_id"] is None
    assert len(r.json()[0]["results"]) == 1
    r = client.post("/v1/projects/vinabook-vi/suggest-batch", json={"documents": [{"text": "x"}] * 33})
    assert r.status_code == 400
    r = client.post(
        "/v1/projects/vinabook-vi/learn",
        json=[{"text": "Sách dạy nấu ăn", "subjects": [{"uri": TOPIC + "sach-hoc-nghe"}]}],
    )
    assert r.status_code == 204


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_annif_client_against_real_server(trained_store):
    import uvicorn
    from annif_client import AnnifClient

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store=trained_store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        annif = AnnifClient(api_base=f"http://127.0.0.1:{port}/v1/")
        assert annif.api_info["title"] == "Annif REST API"
        assert "vinabook-vi" in [p["project_id"] for p in annif.projects]
        assert annif.get_project("vinabook-vi")["name"] == "Vinabook topics"
        res = annif.suggest("vinabook-vi", "Giáo trình dược lý học lâm sàng", limit=3)
        assert 1 <= len(res) <= 3 and res[0]["uri"].startswith(TOPIC)
        batch = annif.suggest_batch("vinabook-vi", [{"document_id": "x", "text": "Luật thuế"}], limit=2)
        assert batch[0]["document_id"] == "x" and len(batch[0]["results"]) <= 2
        r = annif.learn("vinabook-vi", [{"text": "Sổ tay leo núi", "subjects": [{"uri": TOPIC + "du-lich"}]}])
        assert r.status_code == 204
        with pytest.raises(ValueError):
            annif.get_project("missing")
        with pytest.raises(ValueError):
            annif.suggest("missing", "text")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_trained_project_reloads_from_disk(trained_store):
    from subjects.project import ProjectStore

    again = ProjectStore(trained_store.root.parent).get("vinabook-vi")
    assert again.is_trained
    res = again.suggest_batch(["Bộ luật hình sự"], 3)[0].results
    assert res and all(r.uri.startswith(TOPIC) for r in res)
