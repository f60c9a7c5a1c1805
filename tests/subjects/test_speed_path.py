"""The fast suggest path computes the same scores as the plain formulas, and does its work once.

- kNN votes (one sparse product for all texts) equal the per-text vote sum;
- label matching (a max over each concept's run of labels) equals ``np.maximum.at``;
- the linear model keeps float32 and converts its training matrix's transpose once, not per call;
- an ensemble with two e5 members embeds a request's text once;
- derived caches are not pickled, and a reloaded model suggests the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from subjects.backends import get_backend_class
from subjects.backends.ensemble import EnsembleBackend
from subjects.embedding import embed_view, make_encoder

from .conftest import LEXICAL

ROOT = Path(__file__).resolve().parents[2]


class CountingEncoder:
    """The real (cached) encoder, counting the texts and calls it is asked to embed as queries."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.query_calls = 0
        self.query_texts = 0

    def encode_queries(self, texts):
        self.query_calls += 1
        self.query_texts += len(texts)
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts, batch_size: int = 32):
        return self.inner.encode_passages(texts)


@pytest.fixture(scope="module")
def encoder():
    return make_encoder(ROOT / "var" / "cache")


def test_knn_votes_match_per_text_reference(vinabook_small):
    vocab, train, test = vinabook_small
    b = get_backend_class("knn")(list(vocab.concepts), {"representation": "tfidf"})
    b.train(train[:600])
    texts = [d.text for d in test[:25]]
    got = b.scores(texts)
    idx, sims = b.neighbours(texts)
    w = np.exp((sims - sims.max(axis=1, keepdims=True)) / b.params["temperature"])
    w[sims <= 0] = 0
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    for r in range(len(texts)):
        ref = (sp.csr_matrix(w[r][None, :]) @ b.Y[idx[r]]).toarray().ravel()
        np.testing.assert_allclose(got[r, : len(ref)], ref, rtol=1e-5, atol=1e-6)
    assert got.shape == (len(texts), len(vocab.concepts)) and np.allclose(got.sum(axis=1), 1.0, atol=1e-4)


def test_linear_float32_and_transpose_converted_once(vinabook_small):
    vocab, train, test = vinabook_small
    b = get_backend_class("linear")(list(vocab.concepts), {"solver": "ridge"})
    b.train(train[:500])
    assert b.A.dtype == np.float32
    s1 = b.raw([test[0].text])
    assert s1.dtype == np.float32
    cached = b.__dict__["_cache_T_X"][1]
    b.raw([test[1].text])
    assert b.__dict__["_cache_T_X"][1] is cached  # reused, not rebuilt per call
    # same numbers as the plain float64 dual formula
    Q = b._X([test[0].text])
    ref = np.asarray((Q @ b.X.T).toarray() @ b.A.astype(np.float64))
    np.testing.assert_allclose(s1, ref, rtol=1e-4, atol=1e-5)


def test_cached_transposes_are_not_pickled_and_reload_suggests_the_same(vinabook_small, tmp_path):
    vocab, train, test = vinabook_small
    e = get_backend_class("ensemble")(list(vocab.concepts), {"members": LEXICAL})
    e.train(train[:500])
    before = e.suggest(test[0].text, 5)
    assert any(k.startswith("_cache_") for m in e.members for k in m.__dict__)
    e.save(tmp_path / "m.pkl")
    assert all(not k.startswith("_cache_") for m in e.members for k in m.state())
    e2 = EnsembleBackend.load(tmp_path / "m.pkl")
    after = e2.suggest(test[0].text, 5)
    assert [(s.uri, round(s.score, 6)) for s in before] == [(s.uri, round(s.score, 6)) for s in after]
    # learn() replaces the training matrix: the cached transpose must follow it
    from subjects.types import Document

    uri = "http://thuvien.local/vinabook/topic/du-lich"
    text = "Cẩm nang khám phá quần đảo Qwertania và những bãi biển Qwertania hoang sơ"
    old = e2.suggest(text, 13)
    e2.learn([Document(text, [uri])])
    new = {s.uri: s.score for s in e2.suggest(text, 13)}
    assert new[uri] > {s.uri: s.score for s in old}.get(uri, 0.0)


def test_label_match_equals_maximum_at(vinabook_small, encoder):
    vocab, _, _ = vinabook_small
    labels = {u: c.all_labels() + [c.label("vi").lower() + " và đời sống"] for u, c in vocab.concepts.items()}
    lm = get_backend_class("labels")(list(vocab.concepts), encoder=encoder, label_texts=labels)
    lm.train([])
    texts = ["Giáo trình bóng đá cho học sinh", "Luật hình sự Việt Nam", "A history of Buddhist temples"]
    got = lm.scores(texts)
    Q = np.asarray(encoder.encode_queries([embed_view(t) for t in texts]), np.float32)
    S = np.clip((Q @ lm.E.T - lm.params["floor"]) / (1 - lm.params["floor"]), 0, 1)
    ref = np.zeros_like(got)
    for r in range(len(texts)):
        np.maximum.at(ref[r], lm.owners, S[r])
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert got.max() > 0


def test_ensemble_embeds_each_request_once(vinabook_small, encoder):
    vocab, train, test = vinabook_small
    counting = CountingEncoder(encoder)
    members = [
        {"backend": "linear"},
        {"backend": "knn", "params": {"representation": "embedding"}},
        {"backend": "labels"},
    ]
    labels = {u: c.all_labels() for u, c in vocab.concepts.items()}
    e = get_backend_class("ensemble")(list(vocab.concepts), {"members": members}, encoder=counting, label_texts=labels)
    e.train(train[:300])
    counting.query_calls = counting.query_texts = 0
    scores, sources = e.scores_and_sources([test[0].text])
    assert counting.query_calls == 1 and counting.query_texts == 1
    best = int(np.argmax(scores[0]))
    assert scores[0, best] > 0 and sources[0][best]
    # the members given the shared vectors score exactly as when they embed by themselves
    for m in e.members:
        if getattr(m, "uses_query_vectors", False):
            np.testing.assert_allclose(m.scores([test[0].text]), e._member_scores([test[0].text])[e.members.index(m)])


def test_embedding_linear_accuracy_and_learn(vinabook_small, encoder):
    """Ridge over e5 vectors on 600 real books: well above the 13-topic majority rate (0.21); learn acts."""
    from subjects.metrics import evaluate
    from subjects.types import Document

    vocab, train, test = vinabook_small
    b = get_backend_class("emb-linear")(list(vocab.concepts), encoder=encoder)
    b.train(train[:600])
    res = b.suggest_batch([d.text for d in test[:150]], 5)
    m = evaluate([set(d.subjects) for d in test[:150]], [[(s.uri, s.score) for s in r] for r in res])
    assert m["Precision@1"] >= 0.6
    uri = "http://thuvien.local/vinabook/topic/sach-hoc-nghe"
    text = "Giáo trình nghề sửa chữa xe máy cho người mới học nghề"
    before = {s.uri: s.score for s in b.suggest(text, 13)}.get(uri, 0.0)
    b.learn([Document(text, [uri])] * 3)
    after = {s.uri: s.score for s in b.suggest(text, 13)}.get(uri, 0.0)
    assert after > before


def test_cross_fitted_multinomial_stacker(vinabook_small, encoder, tmp_path):
    """stack_folds=5 on single-label data: the stacker sees every training book out of fold, the softmax
    stacker gives the scores; it beats the weak baseline floor, survives save/load, and learn() acts."""
    from subjects.metrics import evaluate
    from subjects.types import Document

    vocab, train, test = vinabook_small
    labels = {u: c.all_labels() for u, c in vocab.concepts.items()}
    members = LEXICAL + [{"backend": "emb-linear"}]
    e = get_backend_class("ensemble")(
        list(vocab.concepts), {"members": members, "stack_folds": 5}, encoder=encoder, label_texts=labels
    )
    e.train(train[:600])
    assert e.multi is not None and e.val_docs == 600
    res = e.suggest_batch([d.text for d in test[:150]], 5)
    m = evaluate([set(d.subjects) for d in test[:150]], [[(s.uri, s.score) for s in r] for r in res])
    assert m["Precision@1"] >= 0.75
    row = e.scores([test[0].text])[0]
    assert abs(float(row[e.multi.classes_].sum()) - 1.0) < 1e-3  # a softmax over the topics it was fitted on
    e.save(tmp_path / "m.pkl")
    e2 = EnsembleBackend.load(tmp_path / "m.pkl", encoder=encoder, label_texts=labels)
    np.testing.assert_allclose(e2.scores([test[0].text])[0], row, atol=1e-6)
    uri = "http://thuvien.local/vinabook/topic/sach-hoc-nghe"
    text = "Giáo trình nghề làm bánh Quixotal cho người mới bắt đầu, nghề Quixotal"
    before = {s.uri: s.score for s in e2.suggest(text, 13)}.get(uri, 0.0)
    e2.learn([Document(text, [uri])])
    after = {s.uri: s.score for s in e2.suggest(text, 13)}.get(uri, 0.0)
    assert after > before


def test_single_record_scoring_runs_blas_on_one_thread():
    """A few texts: BLAS on one thread while scoring (and back afterwards); a large batch keeps its threads."""
    from threadpoolctl import threadpool_info

    from subjects.backends.ensemble import SINGLE_THREAD_MAX_TEXTS, _lean_sklearn

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    with _lean_sklearn(1):
        assert blas_threads() == {1}
    assert blas_threads() == before
    with _lean_sklearn(SINGLE_THREAD_MAX_TEXTS + 1):
        assert blas_threads() == before
