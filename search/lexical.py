"""Incremental BM25 (Lucene's formula) over token lists, one instance per field.

Design (like a tiny Lucene): a *main segment* held as a scipy CSC matrix (rows = document slots,
columns = term ids, values = term frequencies) plus a small *delta segment* of postings lists that
takes new documents at once, so an upsert is searchable immediately. The delta is merged into the
main segment when it grows (``merge_every`` docs or 10% of the main segment), and deleted documents
are dropped from the postings at merge time. Between merges, deleted documents still count in the
collection statistics (N, df), exactly as in Lucene; they never match (the live mask excludes them).

Scoring: ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
``score(d, q) = Σ_t qtf(t) · idf(t) · tf·(k1+1) / (tf + k1·(1 - b + b·|d|/avgdl))``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["BM25Field"]


class BM25Field:
    def __init__(self, k1: float = 1.2, b: float = 0.75, merge_every: int = 2000) -> None:
        self.k1 = k1
        self.b = b
        self.merge_every = merge_every
        self.vocab: dict[str, int] = {}
        self._main = sp.csc_matrix((0, 0), dtype=np.float32)
        self._main_df = np.zeros(0, dtype=np.int64)  # df in the main segment (dead rows included)
        # delta segment: per document (slot, term ids, tfs); a CSC view is built lazily for queries
        self._d_slots: list[int] = []
        self._d_terms: list[np.ndarray] = []
        self._d_tfs: list[np.ndarray] = []
        self._d_df = np.zeros(0, dtype=np.int64)
        self._d_csc: sp.csc_matrix | None = None
        self._doc_len = np.zeros(0, dtype=np.float32)
        self._in_stats = np.zeros(0, dtype=bool)  # slots counted in N/avgdl (live or not yet merged away)
        self._n = 0
        self._total_len = 0.0

    # ---- sizes ---------------------------------------------------------------------------------
    @property
    def n_docs(self) -> int:
        """Documents counted in the statistics (including deleted ones not yet merged away)."""
        return self._n

    def _ensure(self, n_slots: int) -> None:
        if n_slots > len(self._doc_len):
            cap = max(n_slots, int(len(self._doc_len) * 1.5) + 16)
            self._doc_len = np.concatenate([self._doc_len, np.zeros(cap - len(self._doc_len), np.float32)])
            self._in_stats = np.concatenate([self._in_stats, np.zeros(cap - len(self._in_stats), bool)])

    # ---- writes --------------------------------------------------------------------------------
    def add(self, slot: int, tokens: Sequence[str]) -> None:
        """Index a new document under ``slot`` (slots are never reused)."""
        self._ensure(slot + 1)
        if self._in_stats[slot]:
            raise ValueError(f"slot {slot} is already indexed")
        counts = Counter(tokens)
        vocab = self.vocab
        tids = np.empty(len(counts), dtype=np.int64)
        for i, term in enumerate(counts):
            tid = vocab.get(term)
            if tid is None:
                tid = vocab[term] = len(vocab)
            tids[i] = tid
        tfs = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        if len(vocab) > len(self._d_df):
            grown = np.zeros(max(len(vocab), 2 * len(self._d_df) + 1024), dtype=np.int64)
            grown[: len(self._d_df)] = self._d_df
            self._d_df = grown
        self._d_df[tids] += 1
        self._d_slots.append(slot)
        self._d_terms.append(tids)
        self._d_tfs.append(tfs)
        self._d_csc = None
        self._doc_len[slot] = len(tokens)
        self._in_stats[slot] = True
        self._n += 1
        self._total_len += len(tokens)

    def _delta_matrix(self, n_slots: int) -> sp.csc_matrix | None:
        if not self._d_slots:
            return None
        if self._d_csc is None or self._d_csc.shape != (n_slots, len(self.vocab)):
            rows = np.repeat(np.asarray(self._d_slots, dtype=np.int64), [len(t) for t in self._d_terms])
            cols = np.concatenate(self._d_terms)
            vals = np.concatenate(self._d_tfs)
            keep = rows < n_slots
            self._d_csc = sp.csc_matrix((vals[keep], (rows[keep], cols[keep])), shape=(n_slots, len(self.vocab)))
            self._d_csc.sort_indices()
        return self._d_csc

    def needs_merge(self, dead: int = 0) -> bool:
        main_docs = self._n - len(self._d_slots)
        return len(self._d_slots) > max(self.merge_every, main_docs // 10) or dead > max(1000, self._n // 5)

    def merge(self, alive: np.ndarray) -> None:
        """Fold the delta into the main segment and drop postings of dead slots.

        Sparse addition of the two CSC segments, then one filtering pass over the postings: no COO
        copy of the whole index (at 100k documents that copy pushed an ingest past 2 GB)."""
        n_slots = max(len(self._doc_len), len(alive))
        self._ensure(n_slots)
        live = np.zeros(n_slots, dtype=bool)
        live[: len(alive)] = alive
        live &= self._in_stats
        shape = (n_slots, len(self.vocab))
        main = self._main
        if main.shape != shape:  # more slots and more terms: same postings, a wider index pointer
            extra = shape[1] - main.shape[1]
            indptr = np.concatenate([main.indptr, np.full(extra, main.indptr[-1], dtype=main.indptr.dtype)])
            main = sp.csc_matrix((main.data, main.indices, indptr), shape=shape)
        delta = self._delta_matrix(n_slots)
        merged = (main + delta).tocsc() if delta is not None else main
        merged.sort_indices()
        dead = self._in_stats & ~live
        if dead.any():
            keep = live[merged.indices]
            kept_before = np.concatenate([[0], np.cumsum(keep)])
            merged = sp.csc_matrix((merged.data[keep], merged.indices[keep], kept_before[merged.indptr]), shape=shape)
        self._main = sp.csc_matrix(merged, dtype=np.float32)
        self._main_df = np.diff(self._main.indptr).astype(np.int64)
        self._d_slots, self._d_terms, self._d_tfs = [], [], []
        self._d_df = np.zeros(0, dtype=np.int64)
        self._d_csc = None
        self._total_len -= float(self._doc_len[dead].sum())
        self._doc_len[dead] = 0
        self._in_stats = live
        self._n = int(live.sum())

    # ---- reads ---------------------------------------------------------------------------------
    def df(self, term: str) -> int:
        tid = self.vocab.get(term)
        if tid is None:
            return 0
        main = int(self._main_df[tid]) if tid < len(self._main_df) else 0
        return main + (int(self._d_df[tid]) if tid < len(self._d_df) else 0)

    def idf(self, term: str) -> float:
        df = self.df(term)
        return float(np.log(1.0 + (self._n - df + 0.5) / (df + 0.5)))

    def scores(self, query_tokens: Iterable[str], n_slots: int) -> np.ndarray:
        """BM25 score of every slot (0 where nothing matches), float32 array of length n_slots."""
        out = np.zeros(n_slots, dtype=np.float32)
        if self._n == 0:
            return out
        avgdl = max(self._total_len / self._n, 1e-9)
        k1, b = self.k1, self.b
        qtf = Counter(query_tokens)
        dl = self._doc_len
        delta = self._delta_matrix(max(n_slots, len(self._doc_len)))
        for term, qn in qtf.items():
            tid = self.vocab.get(term)
            if tid is None:
                continue
            idf = self.idf(term) * qn
            parts = []
            for mat in (self._main, delta):
                if mat is not None and tid < mat.shape[1]:
                    s, e = mat.indptr[tid], mat.indptr[tid + 1]
                    if e > s:
                        parts.append((mat.indices[s:e], mat.data[s:e]))
            for rows, tf in parts:
                if len(rows) and rows[-1] >= n_slots:
                    keep = rows < n_slots
                    rows, tf = rows[keep], tf[keep]
                norm = k1 * (1.0 - b + b * dl[rows] / avgdl)
                out[rows] += (idf * tf * (k1 + 1.0) / (tf + norm)).astype(np.float32)
        return out

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: Path, alive: np.ndarray) -> None:
        """Merge, then write one .npz (the caller makes the directory swap atomic)."""
        self.merge(alive)
        terms = np.array(list(self.vocab), dtype=object)
        np.savez(
            path,
            indptr=self._main.indptr,
            indices=self._main.indices,
            data=self._main.data,
            shape=np.array(self._main.shape, dtype=np.int64),
            doc_len=self._doc_len,
            in_stats=self._in_stats,
            params=np.array([self.k1, self.b], dtype=np.float64),
            terms="\x1e".join(terms.tolist()),
        )

    @classmethod
    def load(cls, path: Path, merge_every: int = 2000) -> BM25Field:
        with np.load(path, allow_pickle=False) as z:
            k1, b = (float(x) for x in z["params"])
            f = cls(k1=k1, b=b, merge_every=merge_every)
            shape = tuple(int(x) for x in z["shape"])
            f._main = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
            f._main_df = np.diff(f._main.indptr).astype(np.int64)
            f._doc_len = z["doc_len"].astype(np.float32)
            f._in_stats = z["in_stats"].astype(bool)
            terms = str(z["terms"])
        f.vocab = {t: i for i, t in enumerate(terms.split("\x1e"))} if terms else {}
        if len(f.vocab) != shape[1]:
            raise ValueError(f"damaged lexical index {path}: {len(f.vocab)} terms for {shape[1]} columns")
        f._n = int(f._in_stats.sum())
        f._total_len = float(f._doc_len[f._in_stats].sum())
        return f
