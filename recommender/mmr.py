"""Maximal marginal relevance: trade a little relevance for variety among the picks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def mmr(
    candidates: Sequence[int],
    relevance: np.ndarray,
    similarity: Callable[[list[int], list[int]], np.ndarray],
    k: int,
    lam: float = 0.8,
) -> list[int]:
    """Greedy MMR: maximise ``lam * rel - (1 - lam) * max_sim_to_picked``; ``relevance`` in [0, 1]."""
    cand = list(candidates)
    if lam >= 1.0 or len(cand) <= 1:
        return cand[:k]
    rel = np.asarray(relevance, dtype=np.float64)
    rel = rel / max(float(rel.max()), 1e-12) if len(rel) else rel
    sim = np.asarray(similarity(cand, cand), dtype=np.float64)
    picked: list[int] = []
    max_sim = np.zeros(len(cand))
    free = np.ones(len(cand), dtype=bool)
    for _ in range(min(k, len(cand))):
        val = np.where(free, lam * rel - (1.0 - lam) * max_sim, -np.inf)
        j = int(np.argmax(val))
        picked.append(j)
        free[j] = False
        max_sim = np.maximum(max_sim, sim[j])
    return [cand[j] for j in picked]
