"""The embedding service app and its client (in process, through ASGI)."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from embeddings.factory import get_encoder
from services.common.errors import Problem
from services.embedding.app import create_app
from services.embedding.client import EmbeddingClient


@pytest.fixture(scope="module")
def encoder(built):
    return get_encoder("auto", built.models_dir)


@pytest.fixture(scope="module")
def app(encoder):
    return create_app(encoder, max_texts=8, max_chars=500)


@pytest.fixture(scope="module")
def http(app):
    return TestClient(app)


def test_info(http, encoder):
    body = http.get("/v1/info").json()
    assert body["model_id"] == encoder.model_id and body["dim"] == 384
    assert body["max_texts"] == 8


def test_embed_float_and_base64_agree(http, encoder):
    texts = ["Truyện Kiều", "thư viện số"]
    a = http.post("/v1/embed", json={"texts": texts, "kind": "passage"}).json()
    b = http.post("/v1/embed", json={"texts": texts, "kind": "passage", "encoding": "base64"}).json()
    assert a["model_id"] == encoder.model_id and a["dim"] == 384 and a["count"] == 2
    va = np.asarray(a["vectors"], dtype=np.float32)
    vb = np.frombuffer(base64.b64decode(b["vectors_b64"]), dtype="<f4").reshape(2, 384)
    assert np.array_equal(va, vb)
    assert np.allclose(va, encoder.encode_passages(texts), atol=1e-6)


def test_query_kind_uses_the_query_prefix(http, encoder):
    q = http.post("/v1/embed", json={"texts": ["sách lịch sử"], "kind": "query"}).json()["vectors"]
    assert np.allclose(q, encoder.encode_queries(["sách lịch sử"]), atol=1e-6)


def test_empty_list_is_fine(http):
    body = http.post("/v1/embed", json={"texts": []}).json()
    assert body["count"] == 0 and body["vectors"] == []


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"texts": ["x"] * 9}, 413),
        ({"texts": ["x" * 501]}, 422),
        ({"texts": ["x"], "kind": "document"}, 422),
        ({"texts": "not a list"}, 422),
        ({"texts": [1, 2]}, 422),
        ({}, 422),
        ({"texts": ["x"], "encoding": "npy"}, 422),
    ],
)
def test_bad_input_is_problem_json(http, payload, status):
    r = http.post("/v1/embed", json=payload, headers={"accept-language": "en"})
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == status and r.json()["detail"]


def test_lone_surrogate_is_refused(http):
    body = b'{"texts": ["ok", "\\ud800"], "kind": "passage"}'
    r = http.post("/v1/embed", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "1"


def test_malformed_json_body(http):
    r = http.post("/v1/embed", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_client_in_process(app, encoder):
    async def run():
        client = EmbeddingClient("embedding", app=app)
        try:
            info = await client.info()
            texts = [f"tài liệu số {i}" for i in range(19)]  # more than max_texts: sent in batches
            v64 = await client.embed(texts, "passage", batch=8)
            vf = await client.embed(texts[:8], "passage", encoding="float", batch=8)
            q = await client.embed(["câu hỏi"], "query")
            with pytest.raises(Problem) as err:
                await client.embed(["x" * 600], "passage")
            return info, texts, v64, vf, q, err.value
        finally:
            await client.aclose()

    info, texts, v64, vf, q, problem = asyncio.run(run())
    assert info["model_id"] == encoder.model_id
    assert v64.shape == (19, 384) and v64.dtype == np.float32
    # sent in batches of 8: int8 dynamic quantisation scales activations per batch, so vectors of a
    # quantised backend move slightly with the batch; fp32 backends are batch-independent
    direct = encoder.encode_passages(texts)
    assert np.min(np.sum(v64 * direct, axis=1)) > 0.99
    assert np.array_equal(vf, v64[:8])  # same batch, two encodings: the very same floats
    assert q.shape == (1, 384)
    assert problem.status == 422
