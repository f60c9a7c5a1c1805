"""FAISS inner-product index over L2-normalised vectors, keyed by document slot.

Exact search (``IndexFlatIP`` in an ``IndexIDMap2``) below ``hnsw_threshold`` vectors, HNSW above it
(rebuilt when the collection crosses the threshold). HNSW cannot delete, so deleted slots are kept
in a tombstone set, filtered out at search time, and the graph is rebuilt without them when they
reach a quarter of the index. The index remembers its ``model_id`` and ``dim`` and refuses vectors
or an on-disk index made by another model.
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np

__all__ = ["DenseIndex", "ModelMismatchError"]

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


class ModelMismatchError(ValueError):
    """Vectors or an index from another embedding model: the collection must be re-indexed."""


class DenseIndex:
    def __init__(self, model_id: str, dim: int, hnsw_threshold: int = 50_000) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.model_id = model_id
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.tombstones: set[int] = set()
        self._index = self._new_flat()

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

    def check_vectors(self, vectors: np.ndarray, n: int | None = None, model_id: str | None = None) -> np.ndarray:
        if model_id is not None and model_id != self.model_id:
            raise ModelMismatchError(
                f"vectors come from model {model_id!r} but this index holds {self.model_id!r}; "
                "re-index the collection with one model"
            )
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ModelMismatchError(
                f"vectors have shape {tuple(v.shape)} but the index of model {self.model_id!r} expects "
                f"dimension {self.dim}; re-index the collection with one model"
            )
        if n is not None and v.shape[0] != n:
            raise ValueError(f"{v.shape[0]} vectors for {n} documents")
        if not np.isfinite(v).all():
            raise ValueError("vectors contain NaN or infinity")
        return np.ascontiguousarray(v)

    # ---- writes --------------------------------------------------------------------------------
    def add(self, slots: np.ndarray, vectors: np.ndarray) -> None:
        v = self.check_vectors(vectors, len(slots))
        if len(slots) == 0:
            return
        self._index.add_with_ids(v, np.asarray(slots, dtype=np.int64))
        if not self.is_hnsw and self.size > self.hnsw_threshold:
            self._rebuild(hnsw=True)

    def remove(self, slots: list[int] | np.ndarray) -> None:
        slots = [int(s) for s in slots]
        if not slots:
            return
        if self.is_hnsw:
            self.tombstones.update(slots)
            if len(self.tombstones) > max(1000, self._index.ntotal // 4):
                self._rebuild(hnsw=self.size > self.hnsw_threshold)
        else:
            self._index.remove_ids(np.asarray(slots, dtype=np.int64))

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        vecs = (
            self._index.index.reconstruct_n(0, self._index.ntotal) if len(ids) else np.zeros((0, self.dim), np.float32)
        )
        if self.tombstones:
            keep = ~np.isin(ids, np.fromiter(self.tombstones, dtype=np.int64))
            ids, vecs = ids[keep], vecs[keep]
        return ids, np.ascontiguousarray(vecs, dtype=np.float32)

    def _rebuild(self, hnsw: bool) -> None:
        ids, vecs = self._all()
        self._index = self._new_hnsw() if hnsw else self._new_flat()
        self.tombstones = set()
        if len(ids):
            self._index.add_with_ids(vecs, ids)

    # ---- reads ---------------------------------------------------------------------------------
    def search(self, qvec: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (slots, scores) among slots where ``allowed`` (a boolean mask over slots) is true.

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
        return d
