"""Content-based: a patron's profile is the sum of the vectors of what they borrowed; items are
ranked by cosine to it. Works for items nobody has borrowed yet and for patrons with one loan.

Item vectors are a dense array (record embeddings) or a sparse L2-normalised matrix
(:mod:`recommender.features`); they are supplied at construction, aligned with the item ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.base import Model, Reason, top_unordered
from recommender.interactions import Interactions


class Content(Model):
    name = "content"

    def __init__(self, vectors, item_ids: Sequence[str] | None = None) -> None:
        super().__init__()
        self.vectors = vectors.tocsr().astype(np.float32) if sp.issparse(vectors) else np.asarray(vectors, np.float32)
        self._given_ids = None if item_ids is None else np.asarray(item_ids, dtype=object)

    def _fit(self, interactions: Interactions) -> None:
        if self.vectors.shape[0] != interactions.n_items:
            raise ValueError(
                f"content vectors have {self.vectors.shape[0]} rows but there are {interactions.n_items} items"
            )
        if self._given_ids is not None and not np.array_equal(self._given_ids, interactions.item_ids):
            raise ValueError("content vectors are not aligned with the interaction items")

    def prepare(self) -> None:
        if sp.issparse(self.vectors):
            self._vt = self.vectors.T.tocsr()  # token -> items posting lists

    def profiles(self, histories: sp.csr_matrix):
        return histories.astype(np.float32) @ self.vectors

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        p = self.profiles(histories)
        if sp.issparse(self.vectors):
            vt = getattr(self, "_vt", None)
            if vt is None or vt.shape[1] != self.vectors.shape[0]:
                vt = self._vt = self.vectors.T.tocsr()  # token -> items posting lists
            if histories.shape[0] <= 8:  # few patrons: walk only the posting lists of their tokens
                return (sp.csr_matrix(p) @ vt).toarray()
            p = p.toarray() if sp.issparse(p) else np.asarray(p)
            return np.asarray(self.vectors @ p.T).T
        return np.asarray(p) @ self.vectors.T

    def score_sparse(self, histories: sp.csr_matrix) -> sp.csr_matrix:
        """Scores as a sparse matrix (only items sharing a feature with the profile); sparse vectors only."""
        vt = getattr(self, "_vt", None)
        if vt is None or vt.shape[1] != self.vectors.shape[0]:
            vt = self._vt = self.vectors.T.tocsr()
        return (sp.csr_matrix(self.profiles(histories)) @ vt).tocsr()

    def top_items(
        self, histories: sp.csr_matrix, n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items with a positive score per user (items (U, n), scores (U, n); -1 pads), history
        items and items outside ``allowed`` left out. Sparse vectors only.

        A short profile walks only the posting lists of its features; a long one (a reader with
        hundreds of loans touches most of the catalogue) is scored by one pass over all item vectors,
        whichever reads fewer entries."""
        vt = getattr(self, "_vt", None)
        if vt is None or vt.shape[1] != self.vectors.shape[0]:
            self.prepare()
            vt = self._vt
        h = histories.tocsr()
        prof = sp.csr_matrix(self.profiles(h))
        posting = np.diff(vt.indptr)
        u, n_items = h.shape[0], self.vectors.shape[0]
        idx = np.full((u, n), -1, dtype=np.int64)
        vals = np.zeros((u, n), dtype=np.float32)
        banned = None if allowed is None else ~allowed
        for r in range(u):
            p = prof[r]
            hist = h.indices[h.indptr[r] : h.indptr[r + 1]]
            # a sparse product costs several times more per entry than one pass over all vectors
            if int(posting[p.indices].sum()) * 6 > self.vectors.nnz:
                s = self.vectors @ p.toarray().ravel()
                s[hist] = 0.0
                if banned is not None:
                    s[banned] = 0.0
                c = top_unordered(s, n)
                d = s[c]
                ok = d > 0
            else:
                row = (p @ vt).tocsr()
                c, d = row.indices, row.data
                drop = np.zeros(n_items, dtype=bool) if banned is None else banned.copy()
                drop[hist] = True
                ok = (d > 0) & ~drop[c]
            c, d = c[ok], d[ok]
            if len(d) > n:
                sel = top_unordered(d, n)
                c, d = c[sel], d[sel]
            idx[r, : len(c)] = c
            vals[r, : len(c)] = d
        return idx, vals

    def similarity(self, a: Sequence[int], b: Sequence[int]) -> np.ndarray:
        a, b = list(a), list(b)
        va = self.vectors[a]
        vb = va if a == b else self.vectors[b]  # MMR asks for the pool against itself
        s = va @ vb.T
        return s.toarray() if sp.issparse(s) else np.asarray(s)

    def explain(self, history: Sequence[int], item: int) -> Reason:
        if not len(history):
            return Reason("popular")
        sims = self.similarity(list(history), [item]).ravel()
        best = int(np.argmax(sims))
        return Reason("similar_content", int(list(history)[best])) if sims[best] > 0 else Reason("popular")

    def explain_many(self, history: Sequence[int], items: Sequence[int]) -> list[Reason]:
        if not len(history) or not len(items):
            return [Reason("popular") for _ in items]
        hist = list(history)
        sims = self.similarity(hist, list(items))  # (len(history), len(items))
        best = sims.argmax(axis=0)
        return [
            Reason("similar_content", int(hist[b])) if sims[b, j] > 0 else Reason("popular") for j, b in enumerate(best)
        ]
