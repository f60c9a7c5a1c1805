"""FAISS inner-product index over L2-normalised vectors, keyed by document slot.

Exact search (``IndexFlatIP`` in an ``IndexIDMap2``) below ``hnsw_threshold`` vectors, HNSW above it
(rebuilt when the collection crosses the threshold). HNSW cannot delete, so deleted slots are kept
in a tombstone set, filtered out at search time, and the graph is rebuilt without them when they
reach a quarter of the index. The index remembers its ``model_id`` and ``dim`` and refuses vectors
or an on-disk index made by another model.

It is the in-process :class:`search.vectors.VectorBackend`: saved inside each index generation
(``dense.faiss`` + ``dense.json``), so ``commit`` and ``reconcile`` have nothing to repair; payloads
and pushed-down filters are ignored (the caller's ``allowed`` mask carries the filters).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from search.vectors import ModelMismatchError, check_slots, check_vectors

__all__ = ["DenseIndex", "ModelMismatchError"]

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


class DenseIndex:
    uses_payloads = False

    def __init__(self, model_id: str, dim: int, hnsw_threshold: int = 50_000) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.model_id = model_id
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.tombstones: set[int] = set()
        self._index = self._new_flat()
        self._id_bound = 0  # every stored id is below this (a cheap test for "all slots are new")
        self._present_cache: np.ndarray | None = None  # stored ids as a bitmap, built when needed

    # ---- construction --------------------------------------------------------------------------
    def _new_flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _new_hnsw(self) -> faiss.Index:
        inner = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(inner)

    @property
    def is_hnsw(self) -> bool:
        return isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSW)

    @property
    def size(self) -> int:
        """Live vectors."""
        return int(self._index.ntotal) - len(self.tombstones)

    @property
    def kind(self) -> str:
        return "hnsw" if self.is_hnsw else "flat"

    def check_vectors(self, vectors: Any, n: int | None = None, model_id: str | None = None) -> np.ndarray:
        return check_vectors(vectors, self.dim, self.model_id, n=n, model_id=model_id)

    def _ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def _present(self) -> np.ndarray:
        if self._present_cache is None:
            present = np.zeros(self._id_bound, dtype=bool)
            present[self._ids()] = True
            self._present_cache = present
        return self._present_cache

    # ---- writes --------------------------------------------------------------------------------
    def add(
        self,
        slots: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        payloads: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Add (or replace) the vectors of ``slots``; ``payloads`` are not used by FAISS."""
        v = self.check_vectors(vectors, len(slots))
        s = check_slots(slots, len(v))
        if len(s) == 0:
            return
        if int(s.min()) < self._id_bound:
            existing = s[np.isin(s, self._ids())]
            if len(existing):
                if self.is_hnsw:
                    self._rebuild(hnsw=True, drop=existing)
                else:
                    self._index.remove_ids(existing)
        self._index.add_with_ids(v, s)
        self._id_bound = max(self._id_bound, int(s.max()) + 1)
        self._present_cache = None
        if not self.is_hnsw and self.size > self.hnsw_threshold:
            self._rebuild(hnsw=True)

    def remove(self, slots: Sequence[int] | np.ndarray) -> None:
        """Drop the vectors of ``slots`` (slots not in the index are ignored)."""
        slots = [int(s) for s in slots]
        if not slots:
            return
        if self.is_hnsw:
            ids = np.asarray(slots, dtype=np.int64)
            known = ids[np.isin(ids, self._ids())]
            self.tombstones.update(int(x) for x in known)
            if len(self.tombstones) > max(1000, self._index.ntotal // 4):
                self._rebuild(hnsw=self.size > self.hnsw_threshold)
        else:
            self._index.remove_ids(np.asarray(slots, dtype=np.int64))
            self._present_cache = None

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self._ids()
        vecs = (
            self._index.index.reconstruct_n(0, self._index.ntotal) if len(ids) else np.zeros((0, self.dim), np.float32)
        )
        if self.tombstones:
            keep = ~np.isin(ids, np.fromiter(self.tombstones, dtype=np.int64))
            ids, vecs = ids[keep], vecs[keep]
        return ids, np.ascontiguousarray(vecs, dtype=np.float32)

    def _rebuild(self, hnsw: bool, drop: np.ndarray | None = None) -> None:
        ids, vecs = self._all()
        if drop is not None and len(drop):
            keep = ~np.isin(ids, drop)
            ids, vecs = ids[keep], np.ascontiguousarray(vecs[keep])
        self._index = self._new_hnsw() if hnsw else self._new_flat()
        self._present_cache = None
        self.tombstones = set()
        if len(ids):
            self._index.add_with_ids(vecs, ids)

    # ---- reads ---------------------------------------------------------------------------------
    def search(
        self, qvec: np.ndarray, k: int, allowed: np.ndarray | None = None, filters: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (slots, scores) among slots where ``allowed`` (a boolean mask over slots) is true;
        ``filters`` is not used (FAISS holds no metadata: the mask carries the filters).

        One query runs on one OpenMP thread: splitting it gains nothing, and when the cores are
        busy (other requests, an ingest) OpenMP's barriers made it 100x slower (20 ms instead of
        0.2 ms at 6,000 vectors). ``omp_set_num_threads`` is per calling thread, so the setting is
        restored for this thread afterwards (index builds keep every core)."""
        prev = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._search(qvec, k, allowed)
        finally:
            faiss.omp_set_num_threads(prev)

    def _search(self, qvec: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        q = self.check_vectors(qvec, 1)
        if self._index.ntotal == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        mask = None
        if allowed is not None or self.tombstones:
            n = int(max(len(allowed) if allowed is not None else 0, self._max_id() + 1))
            mask = np.zeros(n, dtype=bool)
            if allowed is not None:
                mask[: len(allowed)] = allowed
            else:
                mask[:] = True
            if self.tombstones:
                mask[np.fromiter(self.tombstones, dtype=np.int64)] = False
            n_allowed = int(mask.sum())
            if n_allowed == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            if self.is_hnsw and n_allowed < 20_000:
                return self._exact_subset(q, k, np.flatnonzero(mask))
        k = min(k, self._index.ntotal)
        params = None
        if mask is not None:
            bitmap = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
            params = (
                faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, k))
                if self.is_hnsw
                else faiss.SearchParameters(sel=sel)
            )
            scores, ids = self._index.search(q, k, params=params)
        else:
            if self.is_hnsw:
                params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
            scores, ids = self._index.search(q, k, params=params)
        ids, scores = ids[0], scores[0]
        keep = ids >= 0
        return ids[keep].astype(np.int64), scores[keep].astype(np.float32)

    def _max_id(self) -> int:
        if self._index.ntotal == 0:
            return -1
        return int(faiss.vector_to_array(self._index.id_map).max())

    def _exact_subset(self, q: np.ndarray, k: int, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        present = self._present()
        slots = slots[slots < len(present)]
        slots = slots[present[slots]]  # a mask may allow slots that hold no vector
        if len(slots) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        vecs = self._index.reconstruct_batch(np.asarray(slots, dtype=np.int64)).astype(np.float32)
        sims = vecs @ q[0]
        top = np.argsort(-sims)[:k]
        return slots[top].astype(np.int64), sims[top].astype(np.float32)

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        faiss.write_index(self._index, str(directory / "dense.faiss"))
        meta = {
            "model_id": self.model_id,
            "dim": self.dim,
            "tombstones": sorted(self.tombstones),
            "hnsw_threshold": self.hnsw_threshold,
        }
        (directory / "dense.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, model_id: str, dim: int, hnsw_threshold: int = 50_000) -> DenseIndex:
        meta = json.loads((directory / "dense.json").read_text(encoding="utf-8"))
        if meta["model_id"] != model_id or int(meta["dim"]) != dim:
            raise ModelMismatchError(
                f"the index in {directory.parent} was built with model {meta['model_id']!r} "
                f"(dimension {meta['dim']}), not {model_id!r} (dimension {dim}); re-index the collection "
                "(delete the index directory and run the import again)"
            )
        d = cls(model_id, dim, hnsw_threshold)
        d._index = faiss.read_index(str(directory / "dense.faiss"))
        d.tombstones = set(int(x) for x in meta.get("tombstones", []))
        if d._index.d != dim:
            raise ModelMismatchError(f"the stored dense index has dimension {d._index.d}, expected {dim}")
        d._id_bound = d._max_id() + 1
        return d

    def commit(self) -> None:
        """Nothing to do: the vectors were saved inside the generation."""

    def reconcile(self, alive: np.ndarray) -> dict[str, int]:
        """Drop vectors of slots not alive in ``alive``; count alive slots without a vector."""
        ids = self._ids()
        if self.tombstones:
            ids = ids[~np.isin(ids, np.fromiter(self.tombstones, dtype=np.int64))]
        alive = np.asarray(alive, dtype=bool)
        in_range = ids < len(alive)
        ok = np.zeros(len(ids), dtype=bool)
        ok[in_range] = alive[ids[in_range]]
        dead = ids[~ok]
        if len(dead):
            self.remove(dead)
        have = np.zeros(len(alive), dtype=bool)
        have[ids[in_range]] = True
        return {"removed": int(len(dead)), "missing": int((alive & ~have).sum())}

    def close(self) -> None:
        """Nothing to release."""
