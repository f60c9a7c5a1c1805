"""The one interface every recommender model implements.

Models work on integer item indexes for speed (``score``), and expose ``recommend`` on item keys.
``fit(interactions)`` learns from an :class:`~recommender.interactions.Interactions`;
``recommend(history, k, filters)`` returns ``[(item, score, reason)]``. ``reason`` is a short
structured explanation (:class:`Reason`) that :mod:`recommender.reasons` renders in Vietnamese.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recommender.interactions import Interactions


@dataclass(frozen=True)
class Reason:
    kind: str  # "because" | "similar_content" | "popular" | "new_similar" | "popular_unknown"
    anchor: int | None = None  # the history item (index) that explains it, if any


class Recommendation(NamedTuple):
    item: str
    score: float
    reason: Reason


@dataclass
class Filters:
    """What may be recommended. ``allowed`` is a boolean mask over items (None = everything)."""

    allowed: np.ndarray | None = None
    exclude: set[int] = field(default_factory=set)
    exclude_history: bool = True


def history_matrix(histories: Sequence[Sequence[int]], n_items: int, weights=None) -> sp.csr_matrix:
    """Rows of item indexes -> a binary (or weighted) csr matrix."""
    indptr = np.zeros(len(histories) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(h) for h in histories])
    idx = np.fromiter((i for h in histories for i in h), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(len(idx), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
    m = sp.csr_matrix((data, idx, indptr), shape=(len(histories), n_items))
    m.sum_duplicates()
    return m


def top_unordered(scores: np.ndarray, n: int) -> np.ndarray:
    """Indexes of the n largest values of a 1-D array, in no particular order.

    Exact, and several times faster than one ``argpartition`` over a large catalogue: the n-th
    largest value of a strided sample is a threshold that at least n values reach (the sample's own
    top n), so the true top n are among the values at or above it; only those are partitioned."""
    size = scores.shape[0]
    n = min(n, size)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    stride = size // (32 * n)
    if stride < 2:
        return np.argpartition(-scores, n - 1)[:n]
    sample = scores[::stride]
    t = np.partition(sample, sample.shape[0] - n)[sample.shape[0] - n]
    cand = np.flatnonzero(scores >= t)
    if len(cand) <= n:
        return cand
    return cand[np.argpartition(-scores[cand], n - 1)[:n]]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the k largest finite scores, best first."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = top_unordered(scores, k)
    part = part[np.argsort(-scores[part], kind="stable")]
    return part[np.isfinite(scores[part])]


class Model:
    """Base class: subclasses implement ``_fit`` and ``score`` (and optionally ``explain``)."""

    name = "model"

    def __init__(self) -> None:
        self.item_ids: np.ndarray = np.zeros(0, dtype=object)
        self._index: dict[str, int] = {}

    # -- learning ---------------------------------------------------------------------------------
    def fit(self, interactions: Interactions) -> Model:
        self.item_ids = interactions.item_ids
        self._index = {str(k): i for i, k in enumerate(self.item_ids)}
        self._fit(interactions)
        return self

    def _fit(self, interactions: Interactions) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Build serving-time structures once (called when a saved model is loaded); optional."""

    # -- scoring ----------------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """(n_users, n_items) scores for the rows of a user x item history matrix."""
        raise NotImplementedError

    def explain(self, history: Sequence[int], item: int) -> Reason:
        return Reason("popular")

    def explain_many(self, history: Sequence[int], items: Sequence[int]) -> list[Reason]:
        """Reasons for several items at once (subclasses batch the work)."""
        return [self.explain(history, int(i)) for i in items]

    # -- public, on item keys ---------------------------------------------------------------------
    def indexes(self, history: Sequence[str]) -> tuple[list[int], list[str]]:
        """Known item indexes of a history, and the keys this model does not know."""
        known, unknown = [], []
        for key in history:
            i = self._index.get(str(key))
            (known if i is not None else unknown).append(i if i is not None else key)
        return known, unknown

    def recommend(self, history: Sequence[str], k: int = 10, filters: Filters | None = None) -> list[Recommendation]:
        hist, _unknown = self.indexes(history)
        scores = self.score(history_matrix([hist], self.n_items)).ravel().astype(np.float64)
        picked = select(scores, hist, k, filters)
        return [Recommendation(str(self.item_ids[i]), float(scores[i]), self.explain(hist, i)) for i in picked]


def select(scores: np.ndarray, history: Sequence[int], k: int, filters: Filters | None) -> np.ndarray:
    """Mask history and disallowed items, then take the top k."""
    f = filters or Filters()
    s = np.array(scores, dtype=np.float64, copy=True)
    if f.exclude_history and len(history):
        s[np.asarray(list(history), dtype=np.int64)] = -np.inf
    if f.exclude:
        s[np.fromiter(f.exclude, dtype=np.int64)] = -np.inf
    if f.allowed is not None:
        s[~f.allowed] = -np.inf
    return top_k(s, k)
