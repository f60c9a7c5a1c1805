"""The QA service app and the gateway routes: API, SSE, bad input as problem+json."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from qa_service.generative import LlmGenerator
from qa_service.pipeline import QaPipeline
from qa_service.refuse import Answerability
from qa_service.text import contains_answer
from services.common.settings import Settings
from services.gateway.app import create_app as create_gateway
from services.qa.app import create_app
from services.qa.client import QaClient


@pytest.fixture(scope="module")
def qa_app(pipeline):
    return create_app(pipeline)


def _post(app, path, payload, **kw):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qa") as c:
            return await c.post(path, json=payload, **kw)

    return asyncio.run(go())


def _events(text: str):
    out = []
    for block in text.strip().split("\n\n"):
        ev = next(line[6:].strip() for line in block.split("\n") if line.startswith("event:"))
        data = json.loads("".join(line[5:].strip() for line in block.split("\n") if line.startswith("data:")))
        out.append((ev, data))
    return out


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"question": ""}, 422, "question"),
        ({"question": "   "}, 422, "question"),
        ({}, 422, "question"),
        ({"question": "a" * 2001}, 422, "question"),
        ({"question": "Ai?", "mode": "poetic"}, 422, "mode"),
        ({"question": "Ai?", "mode": "generative"}, 400, "mode"),
        ({"question": "Ai?", "k": 0}, 422, "k"),
        ({"question": "Ai?", "history": [{"role": "robot", "content": "x"}]}, 422, "history"),
    ],
)
def test_bad_input_is_problem_json(qa_app, payload, status, field):
    for path in ("/v1/ask", "/v1/ask/stream"):
        r = _post(qa_app, path, payload)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["detail"] and any(field in e["loc"] for e in body.get("errors", []))


def test_english_detail_on_request(qa_app):
    r = _post(qa_app, "/v1/ask", {"question": ""}, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and "empty" in r.json()["detail"]


def test_ask_and_stream_agree(qa_app, xquad_subset):
    _, qas = xquad_subset
    q = qas[0]["question"]
    r = _post(qa_app, "/v1/ask", {"question": q, "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"answer", "short_answer", "refused", "confidence", "citations", "passages"}
    assert 1 <= len(body["passages"]) <= 3 + len(body["citations"])
    s = _post(qa_app, "/v1/ask/stream", {"question": q, "k": 3})
    assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
    events = _events(s.text)
    assert events[0][0] == "meta" and events[-1][0] == "final"
    tokens = "".join(d["text"] for e, d in events if e == "token")
    assert tokens == events[-1][1]["answer"] == body["answer"]


def test_generative_endpoint_down_is_a_fallback_not_500(pipeline):
    # a real closed port on loopback: connection refused
    never_refuse = Answerability(threshold=0.0, min_window_cov=0.0, max_missing_idf=2.0)
    pl = QaPipeline(
        pipeline.retriever, generator=LlmGenerator("http://127.0.0.1:9", "x", 2.0), answerability=never_refuse
    )
    app = create_app(pl)
    r = _post(app, "/v1/ask", {"question": "Ai hát quốc ca tại Super Bowl 50?", "mode": "generative"})
    assert r.status_code == 200
    assert r.json()["fallback_reason"]


def test_end_to_end_through_the_gateway(qa_app, xquad_subset):
    """Gateway -> QA client (in process, ASGI) -> QA service -> pipeline over a real XQuAD-vi subset."""
    _, qas = xquad_subset
    gateway = create_gateway({"qa": QaClient("qa", app=qa_app)}, Settings())

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as c:
            answers = []
            for qa in qas[::10][:8]:
                r = await c.post("/api/v1/ask", json={"question": qa["question"]})
                assert r.status_code == 200
                answers.append((qa, r.json()))
            bad = await c.post("/api/v1/ask", json={"question": "x", "mode": "nope"})
            bad_stream = await c.post("/api/v1/ask/stream", json={"question": ""})
            stream = await c.post("/api/v1/ask/stream", json={"question": qas[0]["question"]})
            return answers, bad, bad_stream, stream

    answers, bad, bad_stream, stream = asyncio.run(go())
    good = sum(any(contains_answer(b["answer"], a) for a in qa["answers"]) for qa, b in answers if not b["refused"])
    assert good >= len(answers) // 2
    for _, b in answers:
        for c in b["citations"]:
            assert c["quote"] and c["chunk_id"] in {p["chunk_id"] for p in b["passages"]}
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad_stream.status_code == 422
    assert stream.status_code == 200 and _events(stream.text)[-1][0] == "final"


def test_ask_box_fragment_has_no_inline_script():
    from pathlib import Path

    static = Path(__file__).resolve().parents[2] / "services" / "qa" / "static"
    html = (static / "ask.html").read_text(encoding="utf-8")
    js = (static / "ask.js").read_text(encoding="utf-8")
    assert "<script" not in html and "onclick" not in html.lower()
    assert "/api/v1/ask/stream" in js and "innerHTML" not in js
