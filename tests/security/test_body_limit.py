"""THUVIEN_MAX_BODY_BYTES is enforced while the body arrives: 413 problem+json, before the route sees it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from services.common.app import make_app
from services.common.settings import Settings
from services.gateway.app import create_app

LIMIT = 1000


def client() -> TestClient:
    # No services behind the gateway: a body that gets through reaches the route, which answers 503.
    return TestClient(create_app({}, Settings(max_body_bytes=LIMIT)))


def test_declared_length_over_the_limit_is_refused_unread():
    with client() as c:
        r = c.post("/api/v1/records/import", params={"library_id": "x"}, content=b"a" * (LIMIT + 1))
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert str(LIMIT) in r.json()["detail"] and r.json()["max_bytes"] == LIMIT
        en = c.post("/api/v1/records", content=b"a" * (LIMIT + 1), headers={"Accept-Language": "en"})
        assert en.status_code == 413 and "exceeds" in en.json()["detail"]


def test_chunked_body_over_the_limit_is_cut_off():
    sent = []

    def chunks():
        for _ in range(50):
            sent.append(1)
            yield b"b" * 100

    router = APIRouter()
    reached: list[int] = []

    @router.post("/echo")
    async def echo(request: Request) -> dict:
        body = await request.body()
        reached.append(len(body))
        return {"n": len(body)}

    app = make_app("test", [router], max_body_bytes=LIMIT)
    with TestClient(app) as c:
        r = c.post("/echo", content=chunks())
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert reached == []  # the route never got the body
        assert c.post("/echo", content=iter([b"c" * 400, b"c" * 400])).json() == {"n": 800}
        assert reached == [800]


def test_bodies_within_the_limit_pass_and_bad_lengths_are_400():
    with client() as c:
        r = c.post("/api/v1/records/import", params={"library_id": "x"}, content=b"a" * LIMIT)
        assert r.status_code == 503, r.text  # reached the route: no catalog service here
        r = c.post("/api/v1/records", content=b"x", headers={"Content-Length": "-5"})
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
