"""Popularity, recency-weighted: a loan counts ``0.5 ** (age_days / half_life_days)``.

Per library: items are keyed by library, so "popular at your library" is this score with the
library's items allowed (see :class:`~recommender.base.Filters`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.base import Model, Reason
from recommender.interactions import Interactions


class Popularity(Model):
    name = "popularity"

    def __init__(self, half_life_days: float | None = 365.0) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self.scores_: np.ndarray = np.zeros(0, dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        b = interactions.binary()
        if self.half_life_days and interactions.days_ago is not None:
            d = interactions.days_ago.tocsr()
            w = d.copy()
            w.data = np.where(d.data > 0, 0.5 ** (d.data / self.half_life_days), 1.0).astype(np.float32)
            self.scores_ = np.asarray(w.sum(axis=0)).ravel().astype(np.float32)
        else:
            self.scores_ = np.asarray(b.sum(axis=0)).ravel().astype(np.float32)

    def prepare(self) -> None:
        self.order()

    def order(self) -> np.ndarray:
        """Item indexes, most popular first (cached)."""
        cached = getattr(self, "_order", None)
        if cached is None or len(cached) != len(self.scores_):
            cached = self._order = np.argsort(-self.scores_, kind="stable")
        return cached

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.scores_, (histories.shape[0], self.n_items)).copy()

    def explain(self, history, item) -> Reason:
        return Reason("popular")
