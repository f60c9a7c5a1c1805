"""Fusion of ranked lists (BM25 accented, BM25 folded, dense) into one ranking.

Two methods:

* weighted reciprocal-rank fusion: ``Σ_i w_i / (k0 + rank_i)``;
* normalised score fusion ("convex combination"): each list's scores are min-max scaled over its
  candidates (1.0 = best in the list, 0 = last or missing), then ``Σ_i w_i · s_i``.

The weights depend on the query condition (typed with diacritics or without), see
:class:`FusionConfig`; they were tuned on a validation split (``bench/search_quality.py --tune``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

__all__ = ["FusionConfig", "Weights", "Ranked", "fuse", "rrf", "top_slots"]


class Weights(BaseModel):
    acc: float = Field(1.0, ge=0, description="BM25 over accented syllables")
    fold: float = Field(1.0, ge=0, description="BM25 over folded syllables")
    dense: float = Field(1.0, ge=0, description="dense (e5) similarity")


class FusionConfig(BaseModel):
    method: Literal["rrf", "score"] = "rrf"
    rrf_k: float = Field(60.0, gt=0)
    depth: int = Field(100, ge=1, le=5000, description="candidates taken from each retriever")
    accented: Weights = Field(default_factory=Weights, description="weights for queries typed with diacritics")
    plain: Weights = Field(default_factory=Weights, description="weights for queries typed without diacritics")
    bigrams: bool = Field(False, description="index syllable bigrams in the BM25 fields")
    known_items: bool = Field(True, description="records whose whole title is the query come first (search.titles)")


class Ranked(BaseModel, arbitrary_types_allowed=True):
    """One retriever's top candidates, best first."""

    name: str
    slots: np.ndarray
    scores: np.ndarray


def top_slots(scores: np.ndarray, mask: np.ndarray | None, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``depth`` best slots with a positive score (and ``mask`` true), best first."""
    s = scores
    if mask is not None:
        s = np.where(mask[: len(s)], s, 0.0)
    nz = np.flatnonzero(s > 0)
    if len(nz) > depth:
        part = np.argpartition(-s[nz], depth - 1)[:depth]
        nz = nz[part]
    order = np.argsort(-s[nz], kind="stable")
    return nz[order].astype(np.int64), s[nz][order].astype(np.float32)


def rrf(lists: list[Ranked], weights: dict[str, float], k0: float = 60.0) -> dict[int, float]:
    out: dict[int, float] = {}
    for lst in lists:
        w = weights.get(lst.name, 0.0)
        if w <= 0:
            continue
        for rank, slot in enumerate(lst.slots.tolist(), start=1):
            out[slot] = out.get(slot, 0.0) + w / (k0 + rank)
    return out


def score_fusion(lists: list[Ranked], weights: dict[str, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for lst in lists:
        w = weights.get(lst.name, 0.0)
        if w <= 0 or len(lst.scores) == 0:
            continue
        top, low = float(lst.scores[0]), float(lst.scores[-1])
        norm = (lst.scores - low) / (top - low) if top > low else np.ones_like(lst.scores)
        for slot, sc in zip(lst.slots.tolist(), norm.tolist(), strict=True):
            out[slot] = out.get(slot, 0.0) + w * sc
    return out


def fuse(lists: list[Ranked], weights: Weights, config: FusionConfig) -> dict[int, float]:
    """Fused score per candidate slot (higher is better)."""
    w = {"acc": weights.acc, "fold": weights.fold, "dense": weights.dense}
    if config.method == "score":
        return score_fusion(lists, w)
    return rrf(lists, w, config.rrf_k)
