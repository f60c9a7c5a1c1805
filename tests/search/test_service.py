"""The search service through its client, in process (ASGI). Random vectors: API behaviour only."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest

from catalog.model import Chunk, Record
from search.index import SearchIndex
from services.common.errors import Problem
from services.search.app import create_app
from services.search.client import SearchClient

DIM = 8


def run(coro):
    return asyncio.run(coro)


@pytest.fixture()
def client(tmp_path):
    idx = SearchIndex.open(tmp_path / "idx", "test-model", DIM)
    return SearchClient("search", app=create_app(idx))


def analysis(text: str, restored: str | None = None) -> dict:
    from nlp.fold import fold, has_diacritics
    from nlp.normalize import normalize

    return {
        "original": text,
        "normalized": normalize(text),
        "folded": fold(text),
        "has_diacritics": has_diacritics(text),
        "restored": restored,
        "tokens": fold(text).split(),
    }


def random_unit(n: int) -> np.ndarray:
    v = np.random.default_rng(1).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


async def _populate(c: SearchClient):
    rec = Record(id="1", library_id="tinh", title="Lịch sử Bắc Giang", year=1995, language="vi")
    ch = [Chunk(chunk_id="tinh/1#0", record_id="1", library_id="tinh", seq=0, text="Khởi nghĩa Yên Thế.")]
    docs = await c.documents([(rec, ch)])
    assert [d["embed_text"] for d in docs] == [docs[0]["text"], "Khởi nghĩa Yên Thế."]
    assert await c.upsert(docs, random_unit(len(docs)), model_id="test-model") == 2
    return docs


def test_search_round_trip_random_vectors(client):
    async def go():
        await _populate(client)
        res = await client.search(
            analysis("khoi nghia", restored="khởi nghĩa"),
            random_unit(1)[0],
            k=5,
            filters={"library_id": "tinh", "year_from": None},
        )
        assert res["total"] == 1 and res["hits"][0]["record_id"] == "1"
        assert "<mark>" in res["hits"][0]["passages"][0]["snippet"]
        # vector as a JSON list works too
        body = {"analysis": analysis("Bắc Giang"), "vector": random_unit(1)[0].tolist(), "k": 3}
        assert (await client.post_json("/v1/search", body))["total"] == 1
        assert await client.known("library_id") == ["tinh"]
        assert (await client.stats())["documents"] == 2
        assert await client.save() == 1
        assert await client.delete(["tinh/1"]) == 2
        assert (await client.search(analysis("Bắc Giang"), None))["total"] == 0

    run(go())


@pytest.mark.parametrize(
    "body_patch",
    [
        {"filters": {"library_id": "khong-co"}},
        {"filters": {"type": "spaceship"}},
        {"filters": {"year_from": 2001, "year_to": 1990}},
        {"filters": {"language": "xx"}},
        {"filters": {"subject": "Không có"}},
        {"vector": [1.0, 2.0]},
        {"vector": "not base64!"},
        {"vector": base64.b64encode(b"abc").decode()},
        {"k": -1},
        {"offset": 10**9},
        {"analysis": "nope"},
    ],
)
def test_bad_search_input_is_4xx(client, body_patch):
    async def go():
        await _populate(client)
        body = {"analysis": analysis("Bắc Giang"), "vector": None, "k": 5, **body_patch}
        with pytest.raises(Problem) as e:
            await client.post_json("/v1/search", body)
        assert 400 <= e.value.status < 500

    run(go())


def test_bad_upsert_is_4xx_and_changes_nothing(client):
    async def go():
        docs = await _populate(client)
        for vectors, model_id in (
            (random_unit(1), None),
            (np.ones((2, DIM + 1), np.float32), None),
            (random_unit(2), "another-model"),
        ):
            with pytest.raises(Problem) as e:
                await client.upsert(docs, vectors, model_id=model_id)
            assert 400 <= e.value.status < 500
        with pytest.raises(Problem) as e:
            await client.get_json("/v1/known/colour")
        assert e.value.status == 404
        assert (await client.stats())["documents"] == 2

    run(go())


def test_control_characters_and_huge_query(client):
    async def go():
        await _populate(client)
        res = await client.search(analysis("\x00\x01Bắc\x07 Giang"), None)
        assert res["total"] == 1
        res = await client.search(analysis("Bắc Giang " * 1000), random_unit(1)[0])
        assert res["total"] == 1

    run(go())
