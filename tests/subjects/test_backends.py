"""Each backend on a small real subset of Vinabook: accuracy above a measured floor; learn() acts at once.

Floors were measured on this subset (1,200 train / 300 test books): linear P@1 0.83, tf-idf kNN 0.82,
lexical ensemble 0.83; the floors sit well below those, the rough level of a weak baseline.
"""

from __future__ import annotations

import numpy as np
import pytest

from subjects.backends import REGISTRY, get_backend_class
from subjects.metrics import evaluate
from subjects.types import Document

from .conftest import LEXICAL


def _p1(backend, test):
    res = backend.suggest_batch([d.text for d in test], 5)
    return evaluate([set(d.subjects) for d in test], [[(s.uri, s.score) for s in r] for r in res])


def test_registry_has_all_backends():
    assert {"linear", "knn", "labels", "ensemble"} <= set(REGISTRY)
    with pytest.raises(KeyError):
        get_backend_class("nope")


@pytest.fixture(scope="module")
def linear(vinabook_small):
    vocab, train, _ = vinabook_small
    b = get_backend_class("linear")(list(vocab.concepts))
    b.train(train)
    return b


def test_linear_accuracy(linear, vinabook_small):
    m = _p1(linear, vinabook_small[2])
    assert m["Precision@1"] >= 0.75
    assert m["NDCG"] >= 0.85


def test_knn_tfidf_accuracy_and_learn(vinabook_small):
    vocab, train, test = vinabook_small
    b = get_backend_class("knn")(list(vocab.concepts), {"representation": "tfidf"})
    b.train(train)
    assert b.name == "knn-tfidf"
    assert _p1(b, test)["Precision@1"] >= 0.75
    # learn: a new record with a made-up phrase, catalogued under "du-lich"
    uri = "http://thuvien.local/vinabook/topic/du-lich"
    text = "Cẩm nang khám phá quần đảo Xylofôn kỳ thú và những bãi biển Xylofôn hoang sơ"
    before = {s.uri: s.score for s in b.suggest(text, 13)}
    b.learn([Document(text, [uri])])
    after = b.suggest(text, 13)
    assert after[0].uri == uri
    assert after[0].score > before.get(uri, 0.0)


def test_linear_learn_shows_in_next_suggestion(linear):
    uri = "http://thuvien.local/vinabook/topic/nghiep-vu-bao-chi"
    text = "Kỹ thuật phỏng vấn Zorbanet trong nghề Zorbanet hiện đại"
    before = {s.uri: s.score for s in linear.suggest(text, 13)}.get(uri, 0.0)
    linear.learn([Document(text, [uri])])
    after = {s.uri: s.score for s in linear.suggest(text, 13)}.get(uri, 0.0)
    assert after > before


def test_ensemble_accuracy_sources_and_learn(vinabook_small):
    vocab, train, test = vinabook_small
    e = get_backend_class("ensemble")(list(vocab.concepts), {"members": LEXICAL})
    e.train(train)
    m = _p1(e, test)
    assert m["Precision@1"] >= 0.78
    scores, sources = e.scores_and_sources([test[0].text])
    assert np.all((scores >= 0) & (scores <= 1))
    best = int(np.argmax(scores[0]))
    assert set(sources[0][best]) <= {"linear", "knn-tfidf"} and sources[0][best]
    uri = "http://thuvien.local/vinabook/topic/sach-hoc-nghe"
    text = "Giáo trình nghề làm bánh Quixotal cho người mới bắt đầu, nghề Quixotal"
    before = {s.uri: s.score for s in e.suggest(text, 13)}.get(uri, 0.0)
    e.learn([Document(text, [uri])])
    after = {s.uri: s.score for s in e.suggest(text, 13)}.get(uri, 0.0)
    assert after > before


def test_embedding_knn_and_label_match_real_encoder(vinabook_small, tmp_path_factory):
    """The e5 backends with the real (cached) encoder on a tiny subset; the label matcher crosses languages."""
    from pathlib import Path

    from subjects.embedding import make_encoder

    vocab, train, test = vinabook_small
    enc = make_encoder(Path(__file__).resolve().parents[2] / "var" / "cache")
    knn = get_backend_class("knn")(list(vocab.concepts), {"representation": "embedding"}, encoder=enc)
    knn.train(train[:150])
    res = knn.suggest(test[0].text, 3)
    assert res and 0 < res[0].score <= 1
    uri = "http://thuvien.local/vinabook/topic/the-thao"
    text = "Sổ tay huấn luyện bóng đá cho đội tuyển trẻ"
    knn.learn([Document(text, [uri])])
    assert knn.suggest(text, 1)[0].uri == uri
    labels = {u: c.all_labels() for u, c in vocab.concepts.items()}
    lm = get_backend_class("labels")(list(vocab.concepts), encoder=enc, label_texts=labels)
    lm.train([])
    top = [s.uri for s in lm.suggest("A handbook of football and athletics training", 3)]
    assert uri in top
