"""Item-kNN: cosine similarity between items' borrower sets, the ``neighbours`` closest kept per item.

Heavy users are down-weighted (each user's row is scaled by ``1/sqrt(1+len/100)``) and, for the
similarity computation only, represented by a fixed random sample of ``max_user_items`` of their
items, so a reader with thousands of loans neither makes every pair of books "similar" nor makes
the item-item product quadratic in their history.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from recommender.base import Model, Reason
from recommender.interactions import Interactions


def _keep_top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row (vectorised: sort by row, then by value)."""
    m = m.tocsr()
    m.sum_duplicates()
    lens = np.diff(m.indptr)
    if m.nnz == 0 or lens.max() <= k:
        return m.astype(np.float32)
    row = np.repeat(np.arange(m.shape[0]), lens)
    order = np.lexsort((-m.data, row))
    rank = np.arange(m.nnz) - m.indptr[row[order]]
    keep = order[rank < k]
    return sp.csr_matrix((m.data[keep], (row[keep], m.indices[keep])), shape=m.shape, dtype=np.float32)


class ItemKNN(Model):
    name = "itemknn"

    def __init__(
        self,
        neighbours: int = 100,
        shrink: float = 10.0,
        block: int = 4096,
        progress: bool = False,
        max_user_items: int = 300,
        seed: int = 20261125,
    ):
        super().__init__()
        self.max_user_items = max_user_items
        self.seed = seed
        self.neighbours = neighbours
        self.shrink = shrink
        self.block = block
        self.progress = progress
        self.sim_: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        x = interactions.binary().astype(np.float32).tocsr()
        lens = np.diff(x.indptr)
        heavy = np.flatnonzero(lens > self.max_user_items)
        if len(heavy):
            rng = np.random.default_rng(self.seed)
            keep = np.ones(x.nnz, dtype=bool)
            for u in heavy:
                a, b = x.indptr[u], x.indptr[u + 1]
                drop = rng.permutation(b - a)[self.max_user_items :]
                keep[a + drop] = False
            x.data = np.where(keep, x.data, 0).astype(np.float32)
            x.eliminate_zeros()
        x = (sp.diags((1.0 / np.sqrt(1.0 + lens / 100.0)).astype(np.float32)) @ x).tocsr()
        xt = x.T.tocsr()
        norms = np.sqrt(np.asarray(xt.multiply(xt).sum(axis=1)).ravel())
        n = xt.shape[0]
        active = np.flatnonzero(norms > 0)
        rows_all, cols_all, vals_all = [], [], []
        for start in tqdm(range(0, len(active), self.block), desc="item-kNN", disable=not self.progress):
            ids = active[start : start + self.block]
            blk = (xt[ids] @ x).tocoo()  # (block, n_items) co-occurrence
            keep = ids[blk.row] != blk.col
            r, c, v = blk.row[keep], blk.col[keep], blk.data[keep]
            v = v / (norms[ids[r]] * norms[c] + self.shrink)
            top = _keep_top_per_row(
                sp.csr_matrix((v, (r, c)), shape=(len(ids), n), dtype=np.float32), self.neighbours
            ).tocoo()
            rows_all.append(ids[top.row])
            cols_all.append(top.col)
            vals_all.append(top.data)
        if rows_all:
            self.sim_ = sp.csr_matrix(
                (np.concatenate(vals_all), (np.concatenate(rows_all), np.concatenate(cols_all))),
                shape=(n, n),
                dtype=np.float32,
            )
        else:
            self.sim_ = sp.csr_matrix((n, n), dtype=np.float32)

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        return np.asarray((histories.astype(np.float32) @ self.sim_).todense())

    def explain(self, history: Sequence[int], item: int) -> Reason:
        if not len(history):
            return Reason("popular")
        col = self.sim_[list(history)][:, item].toarray().ravel()
        best = int(np.argmax(col))
        return Reason("because", int(list(history)[best])) if col[best] > 0 else Reason("popular")

    def explain_many(self, history: Sequence[int], items: Sequence[int]) -> list[Reason]:
        if not len(history) or not len(items):
            return [Reason("popular") for _ in items]
        hist = list(history)
        sims = self.sim_[hist][:, list(items)].toarray()
        best = sims.argmax(axis=0)
        return [Reason("because", int(hist[b])) if sims[b, j] > 0 else Reason("popular") for j, b in enumerate(best)]
