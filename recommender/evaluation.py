"""Offline evaluation: the per-user hold-out protocol and ranking metrics.

Protocol (issue 8): users with at least ``min_items`` interactions; each user's items sorted by id,
permuted by one ``numpy.random.default_rng(seed)`` consumed user by user in ascending user-id
string order; the first ``ceil(fraction * n)`` are held out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def holdout_split(
    user_items: Mapping[str, Sequence[str]], *, fraction: float = 0.2, min_items: int = 5, seed: int = 20261125
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Return (train, test) item lists of the evaluated users (users below ``min_items`` are left out)."""
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for user in sorted(user_items):
        items = sorted(set(user_items[user]))
        if len(items) < min_items:
            continue
        perm = rng.permutation(len(items))
        n_out = math.ceil(fraction * len(items))
        test[user] = [items[i] for i in perm[:n_out]]
        train[user] = [items[i] for i in perm[n_out:]]
    return train, test


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int = 20) -> float:
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(r + 2) for r, i in enumerate(ranked[:k]) if i in relevant)
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(relevant))))
    return dcg / idcg


def recall_at_k(ranked: Sequence[int], relevant: set[int], k: int = 20) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / len(relevant)


def batch_ndcg(top: np.ndarray, hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """Vectorised NDCG@k: ``hits[u, r]`` is 1 when the item at rank r is relevant."""
    k = top.shape[1]
    disc = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = (hits * disc).sum(axis=1)
    cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = cum[np.minimum(n_rel, k)]
    return np.where(idcg > 0, dcg / np.maximum(idcg, 1e-12), 0.0)
