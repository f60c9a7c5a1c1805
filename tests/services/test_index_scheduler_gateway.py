"""Group commit through the real embedded suite: concurrent POST /api/v1/records share index saves, each record
is searchable when its own POST returns, and a failed run is a 503 problem+json for its writers, never a 500."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.gateway.app import create_app
from services.suite import build_suite
from tests.services.test_gateway_search import assert_problem

POSTS = 8
# one made-up word per record, so that each title has a term no other record holds
WORDS = ("xuyến", "khoảnh", "nguýt", "quềnh", "thoãng", "khuềnh", "ngoẵng", "trịch")
LIBRARY = "tv-nhomghi"


def _row(i: int) -> dict:
    return {
        "id": f"gc-{i:02d}",
        "library_id": LIBRARY,
        "title": f"Sổ tay ghi nhóm {WORDS[i]} số {i}",
        "authors": ["Người Thử Nghiệm"],
        "year": 2025,
        "language": "vi",
        "summary": f"Biểu ghi thử nghiệm {WORDS[i]} cho việc ghi chỉ mục theo nhóm.",
    }


def test_concurrent_posts_share_index_saves_and_are_searchable_on_return(api: TestClient) -> None:
    search = api.app.state.clients["search"]
    generation_before = api.portal.call(search.stats)["generation"]  # the index's own count of saves
    scheduler = api.app.state.index_scheduler
    runs_before = scheduler.runs

    async def post_then_search(http: httpx.AsyncClient, i: int) -> tuple[int, list[str]]:
        body = json.dumps(_row(i), ensure_ascii=False).encode()
        r = await http.post("/api/v1/records", content=body, headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        assert r.json()["imported"] == 1
        # right after this POST returned, before the others are known to have finished
        s = await http.get("/api/v1/search", params={"q": _row(i)["title"], "k": 10, "library_id": LIBRARY})
        assert s.status_code == 200, s.text
        return r.status_code, [h["id"] for h in s.json()["hits"]]

    async def all_at_once() -> list[tuple[int, list[str]]]:
        # the app already runs in the TestClient's event loop; these requests run there, concurrently
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=600) as http:
            return await asyncio.gather(*(post_then_search(http, i) for i in range(POSTS)))

    results = api.portal.call(all_at_once)
    for i, (_, ids) in enumerate(results):
        assert f"gc-{i:02d}" in ids, (i, ids)
    saves = api.portal.call(search.stats)["generation"] - generation_before
    runs = scheduler.runs - runs_before
    assert 1 <= saves < POSTS, saves
    # concurrent writers shared runs; a run saves one generation, none if an earlier run already took everything
    assert saves <= runs < POSTS, (saves, runs)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: nothing listens there


def test_a_failed_run_is_a_problem_for_every_concurrent_writer(tmp_path, suite_settings: Settings) -> None:
    # A real misconfiguration: the embedding service's URL points at a port nobody listens on, so indexing
    # fails after the records were stored; every concurrent writer gets the same 503, never a 500.
    settings = Settings(
        data_dir=tmp_path / "data",
        embedding_backend=suite_settings.embedding_backend,
        models_path=suite_settings.models_path,
        embedding_url=f"http://127.0.0.1:{_closed_port()}",
        service_retries=0,
    )
    suite = build_suite(settings)
    app = create_app(suite.clients, settings)
    with TestClient(app) as client:

        async def post(http: httpx.AsyncClient, i: int) -> httpx.Response:
            body = json.dumps(_row(i), ensure_ascii=False).encode()
            return await http.post("/api/v1/records", content=body, headers={"content-type": "application/x-ndjson"})

        async def all_at_once() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=600) as http:
                return await asyncio.gather(*(post(http, i) for i in range(4)))

        responses = client.portal.call(all_at_once)
        for r in responses:
            body = assert_problem(r, 503)
            assert body.get("service") == "embedding", body
        assert 1 <= app.state.index_scheduler.runs <= 4  # how many writers shared a run depends on timing
        # the records are stored (and indexed by a later run once the service is back)
        assert client.get(f"/api/v1/records/{LIBRARY}/gc-00").status_code == 200
