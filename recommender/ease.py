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

    def prepare(self) -> None:
        self.positions()

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
        rows = np.repeat(np.arange(h.shape[0]), np.diff(h.indptr))[keep]
        hs = sp.csr_matrix((h.data[keep].astype(np.float32), (rows, cols[keep])), shape=(h.shape[0], len(self.top_)))
        return np.ascontiguousarray(hs @ self.B_, dtype=np.float32)

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        out = np.full((histories.shape[0], self.n_items), -np.inf, dtype=np.float32)
        if len(self.top_):
            out[:, self.top_] = self.score_top(histories)
        return out

    def explain(self, history: Sequence[int], item: int) -> Reason:
        return self.explain_many(history, [item])[0]

    def explain_many(self, history: Sequence[int], items: Sequence[int]) -> list[Reason]:
        """The history item with the largest positive weight ``B[h, item]`` explains each item."""
        if not len(history) or not len(items) or not len(self.top_):
            return [Reason("popular") for _ in items]
        pos = self.positions()
        hist = np.asarray(list(history), dtype=np.int64)
        hp = pos[hist]
        hist, hp = hist[hp >= 0], hp[hp >= 0]
        ip = pos[np.asarray(list(items), dtype=np.int64)]
        if not len(hp):
            return [Reason("popular") for _ in items]
        w = self.B_[np.ix_(hp, np.maximum(ip, 0))]  # (history, items): one gather, no loop over the history
        best = w.argmax(axis=0)
        return [
            Reason("because", int(hist[b])) if ip[j] >= 0 and w[b, j] > 0 else Reason("popular")
            for j, b in enumerate(best)
        ]
