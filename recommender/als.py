"""Implicit ALS (Hu, Koren & Volinsky, 2008) trained by the ``implicit`` package.

Users are folded in at query time from their history (one small linear solve), so the model
holds no per-patron factors: a forgotten patron leaves nothing behind in it.

Serving (:meth:`ALS.top_items`) does not score every item: items are kept sorted by the norm of
their factors, scored block by block, and the scan stops as soon as the n-th best score found is at
least ``|user| * |item|`` of the next item (Cauchy–Schwarz), so the result is the exact top n while
the long tail, whose factors are near zero, is never read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.base import Model, Reason
from recommender.interactions import Interactions

_CONTROLLER = None


def _one_blas_thread():
    """``threadpool_limits(1, "blas")`` without scanning the loaded libraries on every call."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


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

        with threadpool_limits(1, "blas"):  # implicit checks the BLAS pool when the model is built
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.seed,
                calculate_training_loss=False,
            )
            model.fit(interactions.binary().astype(np.float32), show_progress=False)
        self.item_factors_ = np.ascontiguousarray(np.asarray(model.item_factors, dtype=np.float32))
        self.yty_ = self.item_factors_.T @ self.item_factors_
        self._by_norm = None

    def prepare(self) -> None:
        """Items sorted by factor norm, for :meth:`top_items` (done once per loaded model)."""
        y = self.item_factors_
        norms = np.linalg.norm(y, axis=1).astype(np.float32)
        order = np.argsort(-norms, kind="stable")
        self._by_norm = (order, norms[order], np.ascontiguousarray(y[order]))

    def top_items(
        self, histories: sp.csr_matrix, n: int, allowed: np.ndarray | None = None, first_block: int = 2048
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-n items with a positive score per user (items (U, n), scores (U, n); -1 pads),
        history items and items outside ``allowed`` left out; see the module docstring."""
        if getattr(self, "_by_norm", None) is None or len(self._by_norm[0]) != len(self.item_factors_):
            self.prepare()
        with _one_blas_thread():  # small products: a contended BLAS thread pool only adds waiting
            return self._top_items(histories, n, allowed, first_block)

    def _top_items(self, histories, n, allowed, first_block):
        order, norms, ys = self._by_norm
        h = histories.tocsr()
        uf = self.user_factors(h)
        u, n_items = h.shape[0], len(order)
        idx = np.full((u, n), -1, dtype=np.int64)
        vals = np.zeros((u, n), dtype=np.float32)
        for r in range(u):
            f = uf[r]
            fn = float(np.linalg.norm(f))
            if fn == 0.0:
                continue
            banned = np.zeros(n_items, dtype=bool) if allowed is None else ~allowed
            banned[h.indices[h.indptr[r] : h.indptr[r + 1]]] = True
            best_i = np.zeros(0, dtype=np.int64)
            best_v = np.zeros(0, dtype=np.float32)
            a, size = 0, first_block
            while a < n_items:
                bound = fn * float(norms[a])  # no item from a on can score more than this
                if bound <= 0.0 or (len(best_v) >= n and float(best_v.min()) >= bound):
                    break
                b = min(a + size, n_items)
                items = order[a:b]
                s = ys[a:b] @ f
                ok = (s > 0) & ~banned[items]
                best_i = np.concatenate([best_i, items[ok]])
                best_v = np.concatenate([best_v, s[ok]])
                if len(best_v) > n:
                    keep = np.argpartition(-best_v, n - 1)[:n]
                    best_i, best_v = best_i[keep], best_v[keep]
                a, size = b, min(size * 2, 65536)
            idx[r, : len(best_i)] = best_i
            vals[r, : len(best_v)] = best_v
        return idx, vals

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
        return np.ascontiguousarray((self.item_factors_ @ uf.T).T)

    def explain(self, history: Sequence[int], item: int) -> Reason:
        if not len(history):
            return Reason("popular")
        sims = self.item_factors_[list(history)] @ self.item_factors_[item]
        best = int(np.argmax(sims))
        return Reason("because", int(list(history)[best])) if sims[best] > 0 else Reason("popular")
