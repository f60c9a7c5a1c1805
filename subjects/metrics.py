"""Annif's evaluation metrics, computed the way ``annif eval`` computes them.

``gold`` is one set of subject URIs per document, ``pred`` one list of ``(uri, score)`` per
document. As in Annif, only suggestions with a score > 0 count, "@k" keeps the k best, sample-
averaged precision divides by the number of suggestions actually made (not by k), a document with
no suggestion scores 0, and NDCG of a document without gold subjects is 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Pred = Sequence[tuple[str, float]]

METRIC_NAMES = (
    "Precision (doc avg)",
    "Recall (doc avg)",
    "F1 score (doc avg)",
    "F1@5",
    "NDCG",
    "NDCG@5",
    "NDCG@10",
    "Precision@1",
    "Precision@3",
    "Precision@5",
)


def _ranked(pred: Pred, k: int | None = None) -> list[str]:
    items = sorted((p for p in pred if p[1] > 0), key=lambda p: -p[1])
    if k is not None:
        items = items[:k]
    return [u for u, _ in items]


def prf(gold: set[str], ranked: list[str]) -> tuple[float, float, float]:
    """Per-document precision, recall and F1 of a suggested list (sklearn's zero_division=0)."""
    tp = len(gold.intersection(ranked))
    p = tp / len(ranked) if ranked else 0.0
    r = tp / len(gold) if gold else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f


def _dcg(gold: set[str], ranked: list[str]) -> float:
    return sum(1.0 / math.log2(i + 2) for i, u in enumerate(ranked) if u in gold)


def ndcg(gold: set[str], ranked: list[str], limit: int | None = None) -> float:
    """Annif's NDCG of one document: DCG of the (limited) suggestions over the ideal DCG."""
    n_ideal = len(gold) if limit is None else min(limit, len(gold))
    if n_ideal == 0:
        return 1.0
    idcg = sum(1.0 / math.log2(i + 2) for i in range(n_ideal))
    return _dcg(gold, ranked if limit is None else ranked[:limit]) / idcg


def evaluate(gold: Sequence[set[str]], pred: Sequence[Pred]) -> dict[str, float]:
    """Annif's metric set averaged over documents (plus "Documents evaluated")."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sets but {len(pred)} predictions")
    n = len(gold)
    if n == 0:
        raise ValueError("cannot evaluate an empty corpus")
    acc = dict.fromkeys(METRIC_NAMES, 0.0)
    for g, p in zip(gold, pred, strict=True):
        g = set(g)
        full = _ranked(p)
        pr, rc, f1 = prf(g, full)
        acc["Precision (doc avg)"] += pr
        acc["Recall (doc avg)"] += rc
        acc["F1 score (doc avg)"] += f1
        acc["F1@5"] += prf(g, full[:5])[2]
        acc["NDCG"] += ndcg(g, full)
        acc["NDCG@5"] += ndcg(g, full, 5)
        acc["NDCG@10"] += ndcg(g, full, 10)
        for k in (1, 3, 5):
            acc[f"Precision@{k}"] += prf(g, full[:k])[0]
    out = {k: v / n for k, v in acc.items()}
    out["Documents evaluated"] = n
    return out
