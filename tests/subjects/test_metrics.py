"""Annif's metrics on hand-computed cases."""

import math

import pytest

from subjects.metrics import evaluate, ndcg, prf


def test_prf_single_document():
    p, r, f = prf({"a", "b"}, ["a", "c", "d"])
    assert p == pytest.approx(1 / 3)
    assert r == pytest.approx(1 / 2)
    assert f == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_ndcg_hand_computed():
    # gold {a, b}; ranked [c, a, b]: DCG = 1/log2(3) + 1/log2(4); IDCG = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg({"a", "b"}, ["c", "a", "b"]) == pytest.approx(expected)
    # @1: only c counts -> 0
    assert ndcg({"a", "b"}, ["c", "a", "b"], limit=1) == 0.0
    assert ndcg(set(), ["x"]) == 1.0


def test_evaluate_annif_conventions():
    gold = [{"a"}, {"a", "b"}]
    pred = [
        [("a", 0.9), ("x", 0.5), ("y", 0.0)],  # zero scores are not suggestions
        [("x", 0.8), ("b", 0.7), ("a", 0.1), ("z", 0.05), ("w", 0.04), ("v", 0.03)],
    ]
    m = evaluate(gold, pred)
    # P@1: doc1 1.0, doc2 0.0
    assert m["Precision@1"] == pytest.approx(0.5)
    # P@3: doc1 has only 2 suggestions -> 1/2 (sklearn divides by what was suggested); doc2 2/3
    assert m["Precision@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # F1@5: doc1 p=1/2 r=1 -> 2/3; doc2 top5 = x,b,a,z,w: p=2/5, r=1 -> 4/7
    assert m["F1@5"] == pytest.approx((2 / 3 + 4 / 7) / 2)
    # doc-averaged recall over all suggestions
    assert m["Recall (doc avg)"] == pytest.approx(1.0)
    assert m["Documents evaluated"] == 2


def test_evaluate_document_without_suggestions_scores_zero():
    m = evaluate([{"a"}], [[]])
    assert m["Precision@1"] == 0.0 and m["F1@5"] == 0.0 and m["NDCG"] == 0.0


def test_evaluate_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        evaluate([{"a"}], [])
