"""EASE (Steck, 2019): a closed-form item-item linear model over the ``max_items`` most borrowed items.

``B = I - P / diag(P)`` with ``P = (XᵀX + λI)⁻¹``; the cost is one dense inverse of size
``max_items`` (torch when installed, else numpy). Items outside the top set are not scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.base import Model, Reason
from recommender.interactions import Interactions


def _inverse(g: np.ndarray) -> np.ndarray:
    try:
        import torch

        return torch.linalg.inv(torch.from_numpy(g)).numpy()
    except ImportError:  # pragma: no cover - torch is installed with the package
        return np.linalg.inv(g)


class EASE(Model):
    name = "ease"

    def __init__(self, lam: float = 100.0, max_items: int = 20_000) -> None:
        super().__init__()
        self.lam = lam
        self.max_items = max_items
        self.top_: np.ndarray = np.zeros(0, dtype=np.int64)
        self.B_: np.ndarray = np.zeros((0, 0), dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        x = interactions.binary()
        counts = np.asarray(x.sum(axis=0)).ravel()
        nz = np.flatnonzero(counts > 0)
        order = nz[np.argsort(-counts[nz], kind="stable")][: self.max_items]
        self.top_ = np.sort(order)
        xs = x[:, self.top_].astype(np.float32)
        g = (xs.T @ xs).toarray().astype(np.float32)
        g[np.diag_indices_from(g)] += self.lam
        p = _inverse(g)
        del g
        b = p / (-np.diag(p))[None, :]
        b[np.diag_indices_from(b)] = 0.0
        self.B_ = np.ascontiguousarray(b, dtype=np.float32)

    def positions(self) -> np.ndarray:
        """Item index -> column in ``B_`` (-1 for items outside the top set), cached."""
        pos = getattr(self, "_pos", None)
        if pos is None or len(pos) != self.n_items:
            pos = self._pos = np.full(self.n_items, -1, dtype=np.int64)
            pos[self.top_] = np.arange(len(self.top_))
        return pos

    def score_top(self, histories: sp.csr_matrix) -> np.ndarray:
        """(n_users, len(top_)) scores of the modelled items only."""
        pos = self.positions()
        h = histories.tocsr()
        cols = pos[h.indices]
        keep = cols >= 0
        if h.shape[0] == 1:  # one patron: a weighted sum of a few rows of B, no copy of B
            c = cols[keep]
            return (
                (h.data[keep].astype(np.float32) @ self.B_[c])[None, :]
                if len(c)
                else np.zeros((1, len(self.top_)), dtype=np.float32)
            )
        rows = np.repeat(np.arange(h.shape[0]), np.diff(h.indptr))[keep]
        hs = sp.csr_matrix((h.data[keep].astype(np.float32), (rows, cols[keep])), shape=(h.shape[0], len(self.top_)))
        return np.ascontiguousarray(hs @ self.B_, dtype=np.float32)

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        out = np.full((histories.shape[0], self.n_items), -np.inf, dtype=np.float32)
        if len(self.top_):
            out[:, self.top_] = self.score_top(histories)
        return out

    def explain(self, history: Sequence[int], item: int) -> Reason:
        pos = np.searchsorted(self.top_, item)
        cand = [(h, int(np.searchsorted(self.top_, h))) for h in history]
        cand = [(h, p) for h, p in cand if p < len(self.top_) and self.top_[p] == h]
        if not cand or pos >= len(self.top_) or self.top_[pos] != item:
            return Reason("popular")
        w = [self.B_[p, pos] for _, p in cand]
        best = int(np.argmax(w))
        return Reason("because", int(cand[best][0])) if w[best] > 0 else Reason("popular")
