"""Content-based: a patron's profile is the sum of the vectors of what they borrowed; items are
ranked by cosine to it. Works for items nobody has borrowed yet and for patrons with one loan.

Item vectors are a dense array (record embeddings) or a sparse L2-normalised matrix
(:mod:`recommender.features`); they are supplied at construction, aligned with the item ids.

Dense vectors over a large catalogue are searched through an inverted-file index (faiss
``IndexIVFFlat``, inner product; built once in :meth:`Content.prepare` and saved with the model):
a request scans ``nprobe`` of ``nlist`` cells instead of every item, so the top candidates are
approximate but their scores exact. Below ``ANN_MIN_ITEMS`` items the search is exhaustive.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.base import Model, Reason, top_unordered
from recommender.interactions import Interactions

#: dense catalogues at least this large get an inverted-file index; smaller ones are searched exhaustively
ANN_MIN_ITEMS = 20_000
#: cells probed per query (of about 2 * sqrt(n_items) cells)
ANN_NPROBE = 24


class Content(Model):
    name = "content"

    def __init__(self, vectors, item_ids: Sequence[str] | None = None, ann=None) -> None:
        """``ann``: an index already built over these same vectors (:func:`build_ann`), to share."""
        super().__init__()
        self.vectors = vectors.tocsr().astype(np.float32) if sp.issparse(vectors) else np.asarray(vectors, np.float32)
        self._given_ids = None if item_ids is None else np.asarray(item_ids, dtype=object)
        self.ann_ = ann  # faiss index over dense vectors (see prepare)

    def _fit(self, interactions: Interactions) -> None:
        if self.vectors.shape[0] != interactions.n_items:
            raise ValueError(
                f"content vectors have {self.vectors.shape[0]} rows but there are {interactions.n_items} items"
            )
        if self._given_ids is not None and not np.array_equal(self._given_ids, interactions.item_ids):
            raise ValueError("content vectors are not aligned with the interaction items")
        if not sp.issparse(self.vectors):
            if self.ann_ is not None and self.ann_.ntotal != self.vectors.shape[0]:
                self.ann_ = None
            self.prepare()  # the search index is part of fitting, not of the first request

    def prepare(self) -> None:
        if sp.issparse(self.vectors):
            self._vt = self.vectors.T.tocsr()  # token -> items posting lists
        elif self.ann_ is None and self.vectors.shape[0] >= ANN_MIN_ITEMS:
            self.ann_ = build_ann(self.vectors)

    def _dense_top(self, h: sp.csr_matrix, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n by inner product with the profile, history and disallowed items left out."""
        u, n_items = h.shape[0], self.vectors.shape[0]
        prof = np.ascontiguousarray(np.asarray(self.profiles(h), dtype=np.float32))
        lens = np.diff(h.indptr)
        idx = np.full((u, n), -1, dtype=np.int64)
        vals = np.zeros((u, n), dtype=np.float32)
        if self.ann_ is None and n_items >= ANN_MIN_ITEMS:
            self.prepare()
        if self.ann_ is None:  # small catalogue: exhaustive
            s = prof @ self.vectors.T
            s[h.nonzero()] = -np.inf
            if allowed is not None:
                s[:, ~allowed] = -np.inf
            m = min(n, n_items)
            c = np.argpartition(-s, m - 1, axis=1)[:, :m]
            d = np.take_along_axis(s, c, axis=1)
            ok = np.isfinite(d) & (d > 0)
            idx[:, :m] = np.where(ok, c, -1)
            vals[:, :m] = np.where(ok, d, 0.0)
            return idx, vals
        import faiss

        want = int(min(n + lens.max(initial=0), n_items))
        params = faiss.SearchParametersIVF(nprobe=ANN_NPROBE)
        if allowed is not None:
            bits = np.packbits(allowed.astype(bool), bitorder="little")
            params = faiss.SearchParametersIVF(
                nprobe=ANN_NPROBE, sel=faiss.IDSelectorBitmap(n_items, faiss.swig_ptr(bits))
            )
        if u <= 8:  # a request: one OpenMP thread (on busy cores OpenMP's barriers cost far more than they save)
            prev = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                dist, ids = self.ann_.search(prof, want, params=params)
            finally:
                faiss.omp_set_num_threads(prev)
        else:
            dist, ids = self.ann_.search(prof, want, params=params)
        for r in range(u):
            c, d = ids[r], dist[r]
            hist = h.indices[h.indptr[r] : h.indptr[r + 1]]
            ok = (c >= 0) & (d > 0) & ~np.isin(c, hist)
            c, d = c[ok][:n], d[ok][:n]
            idx[r, : len(c)] = c
            vals[r, : len(c)] = d
        return idx, vals

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
        items and items outside ``allowed`` left out.

        A short profile walks only the posting lists of its features; a long one (a reader with
        hundreds of loans touches most of the catalogue) is scored by one pass over all item vectors,
        whichever reads fewer entries."""
        h = histories.tocsr()
        if not sp.issparse(self.vectors):
            return self._dense_top(h, n, allowed)
        vt = getattr(self, "_vt", None)
        if vt is None or vt.shape[1] != self.vectors.shape[0]:
            self.prepare()
            vt = self._vt
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
        if sp.issparse(va):
            s = va @ vb.T
        else:  # a request-sized product: one BLAS thread
            from recommender.als import _one_blas_thread

            with _one_blas_thread():
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


def build_ann(vectors: np.ndarray, nprobe: int = ANN_NPROBE, seed: int = 0):
    """An inner-product IVF index (faiss) over dense item vectors; about 2 * sqrt(n) cells, trained
    on a fixed-seed sample."""
    import faiss

    n, d = vectors.shape
    nlist = int(max(16, min(4096, round(2 * np.sqrt(n)))))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))]
    index.cp.seed = seed
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    index.nprobe = nprobe
    return index
