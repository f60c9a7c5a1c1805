"""Implicit ALS (Hu, Koren & Volinsky, 2008) trained by the ``implicit`` package.

Users are folded in at query time from their history (one small linear solve), so the model
holds no per-patron factors: a forgotten patron leaves nothing behind in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.base import Model, Reason
from recommender.interactions import Interactions


class ALS(Model):
    name = "als"

    def __init__(
        self,
        factors: int = 128,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        seed: int = 20261125,
    ) -> None:
        super().__init__()
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.item_factors_: np.ndarray = np.zeros((0, factors), dtype=np.float32)
        self.yty_: np.ndarray = np.zeros((factors, factors), dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.seed,
            calculate_training_loss=False,
        )
        with threadpool_limits(1, "blas"):
            model.fit(interactions.binary().astype(np.float32), show_progress=False)
        self.item_factors_ = np.ascontiguousarray(np.asarray(model.item_factors, dtype=np.float32))
        self.yty_ = self.item_factors_.T @ self.item_factors_

    def user_factors(self, histories: sp.csr_matrix) -> np.ndarray:
        """Fold users in as ``implicit`` does: confidence ``alpha`` on borrowed items, 1 elsewhere."""
        y = self.item_factors_
        out = np.zeros((histories.shape[0], y.shape[1]), dtype=np.float32)
        reg = self.regularization * np.eye(y.shape[1], dtype=np.float32)
        h = histories.tocsr()
        for u in range(h.shape[0]):
            idx = h.indices[h.indptr[u] : h.indptr[u + 1]]
            if len(idx) == 0:
                continue
            yu = y[idx]
            a = self.yty_ + (self.alpha - 1.0) * (yu.T @ yu) + reg
            b = self.alpha * yu.sum(axis=0)
            out[u] = np.linalg.solve(a, b)
        return out

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        uf = self.user_factors(histories)
        if histories.shape[0] <= 8:  # serving: one thread is faster than a contended BLAS pool
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1, "blas"):
                return np.ascontiguousarray((self.item_factors_ @ uf.T).T)
        return np.ascontiguousarray((self.item_factors_ @ uf.T).T)

    def explain(self, history: Sequence[int], item: int) -> Reason:
        if not len(history):
            return Reason("popular")
        sims = self.item_factors_[list(history)] @ self.item_factors_[item]
        best = int(np.argmax(sims))
        return Reason("because", int(list(history)[best])) if sims[best] > 0 else Reason("popular")
