"""The vector-backend contract of the search index, and how a backend is chosen.

A backend stores one L2-normalised passage vector per document *slot* (the integer id of a
document in :class:`search.store.DocStore`) and answers top-k inner-product (= cosine) queries.
Two backends satisfy it: :class:`search.dense.DenseIndex` (FAISS, in process, saved inside each
index generation) and :class:`search.qdrant_backend.QdrantVectors` (Qdrant through qdrant-client:
a server, or local mode with ``path=`` / ``:memory:``). ``tests/search/test_vector_contract.py``
runs the same assertions on both.

The contract (:class:`VectorBackend`):

* ``add(slots, vectors, payloads=None)``: searchable on return. Adding a slot that is already
  there replaces its vector (an upsert). ``payloads`` (one mapping per slot: ``library_id``,
  ``language``, ``year``, ``type``, ``record_key``, ``subject_keys``) lets a backend filter by
  metadata itself; FAISS ignores it.
* ``remove(slots)``: gone from results and from ``size`` on return; unknown slots are ignored.
* ``search(qvec, k, allowed=None, filters=None) -> (slots, scores)``: best first, only slots where
  the boolean mask ``allowed`` is true (slots past its end are not allowed). ``filters`` (a
  :class:`search.filters.Filters`) may be pushed down by the backend; the mask stays the rule.
* ``save(directory)`` writes what belongs to one index generation; ``commit()`` runs after that
  generation became the current one; ``reconcile(alive)`` runs when an index is opened with the
  boolean mask of slots alive in the loaded generation.
* ``model_id`` and ``dim``: vectors of another model or dimension raise :class:`ModelMismatchError`;
  NaN, infinity, a zero vector or a wrong count raise :class:`ValueError` naming the row.

Crash safety: FAISS lives inside the generation directory, so a crash leaves the previous
generation whole. Qdrant is not versioned by generation; its backend keeps the store a superset of
the committed generation instead: removals are held back (hidden from results) until ``commit``,
and ``reconcile`` deletes the points of slots not alive in the generation that was opened (the
vectors added after the last save, before a crash). Upserts are idempotent by slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

__all__ = [
    "VectorBackend",
    "VectorConfig",
    "ModelMismatchError",
    "VectorStoreUnavailable",
    "check_vectors",
    "check_slots",
    "doc_payload",
    "new_backend",
    "load_backend",
]


class ModelMismatchError(ValueError):
    """Vectors or an index from another embedding model: the collection must be re-indexed."""


class VectorStoreUnavailable(RuntimeError):
    """The vector store (a Qdrant server) cannot be reached or refused an operation."""


@runtime_checkable
class VectorBackend(Protocol):
    model_id: str
    dim: int
    uses_payloads: bool  # whether ``add`` should be given payloads (and ``search`` filters)

    @property
    def size(self) -> int: ...

    @property
    def kind(self) -> str: ...

    def check_vectors(self, vectors: Any, n: int | None = None, model_id: str | None = None) -> np.ndarray: ...

    def add(
        self,
        slots: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        payloads: Sequence[Mapping[str, Any]] | None = None,
    ) -> None: ...

    def remove(self, slots: Sequence[int] | np.ndarray) -> None: ...

    def search(
        self, qvec: np.ndarray, k: int, allowed: np.ndarray | None = None, filters: Any = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: Path) -> None: ...

    def commit(self) -> None: ...

    def reconcile(self, alive: np.ndarray) -> dict[str, int]: ...

    def close(self) -> None: ...


class VectorConfig(BaseModel):
    """Which vector backend a :class:`search.index.SearchIndex` uses (built from the settings)."""

    backend: Literal["faiss", "qdrant"] = "faiss"
    hnsw_threshold: int = Field(50_000, ge=1, description="FAISS: exact search below this many vectors, HNSW above")
    qdrant_url: str | None = Field(None, description="Qdrant server URL; None: local mode at qdrant_path")
    qdrant_path: str | None = Field(None, description="local-mode storage directory, or ':memory:'")
    collection_prefix: str = Field("thuvien", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    batch_size: int = Field(256, ge=1, le=10_000, description="points per upsert request")
    replication_factor: int | None = Field(None, ge=1, description="server: replicas of each shard of a new collection")
    timeout_s: float = Field(30.0, gt=0)


def check_vectors(
    vectors: Any, dim: int, index_model_id: str, n: int | None = None, model_id: str | None = None
) -> np.ndarray:
    """``vectors`` as a C-contiguous float32 (n, dim) array, or a clear error saying what and where."""
    if model_id is not None and model_id != index_model_id:
        raise ModelMismatchError(
            f"vectors come from model {model_id!r} but this index holds {index_model_id!r}; "
            "re-index the collection with one model"
        )
    try:
        v = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"vectors are not a numeric array: {e}") from None
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2 or v.shape[1] != dim:
        raise ModelMismatchError(
            f"vectors have shape {tuple(v.shape)} but the index of model {index_model_id!r} expects "
            f"dimension {dim}; re-index the collection with one model"
        )
    if n is not None and v.shape[0] != n:
        raise ValueError(f"{v.shape[0]} vectors for {n} documents")
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        col = int(np.flatnonzero(~np.isfinite(v[row]))[0])
        raise ValueError(f"vector {row} contains NaN or infinity (at component {col})")
    zero = ~(np.abs(v) > 0).any(axis=1)
    if zero.any():
        raise ValueError(f"vector {int(np.flatnonzero(zero)[0])} is all zeros (no direction to compare)")
    return np.ascontiguousarray(v)


def check_slots(slots: Any, n: int | None = None) -> np.ndarray:
    """Slots as an int64 array of distinct non-negative ids (``n`` of them when given)."""
    try:
        s = np.asarray(slots, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise ValueError(f"slots are not integers: {e}") from None
    if n is not None and len(s) != n:
        raise ValueError(f"{len(s)} slots for {n} vectors")
    if len(s) and s.min() < 0:
        raise ValueError(f"slot {int(s[np.argmin(s)])} at position {int(np.argmin(s))} is negative")
    if len(np.unique(s)) != len(s):
        uniq, counts = np.unique(s, return_counts=True)
        raise ValueError(f"slot {int(uniq[counts > 1][0])} appears twice in one call")
    return s


def doc_payload(doc: Any) -> dict[str, Any]:
    """Filterable metadata of an :class:`search.documents.IndexDoc`, in the forms the filters compare."""
    from search.filters import subject_keys

    keys: list[str] = []
    for heading in doc.subjects:
        keys.extend(subject_keys(heading))
    payload: dict[str, Any] = {
        "record_key": doc.record_key,
        "library_id": doc.library_id,
        "type": doc.type,
        "kind": doc.kind,
        "subject_keys": list(dict.fromkeys(keys)),
    }
    if doc.language:
        payload["language"] = doc.language.strip().lower()
    if doc.year is not None:
        payload["year"] = int(doc.year)
    return payload


def new_backend(config: VectorConfig, model_id: str, dim: int) -> VectorBackend:
    """An empty backend (for Qdrant: the model's collection, created if missing)."""
    if dim <= 0:
        raise ValueError("dim must be positive")
    if config.backend == "qdrant":
        from search.qdrant_backend import QdrantVectors

        return QdrantVectors.from_config(config, model_id, dim)
    from search.dense import DenseIndex

    return DenseIndex(model_id, dim, config.hnsw_threshold)


def load_backend(config: VectorConfig, directory: Path, model_id: str, dim: int) -> VectorBackend:
    """The backend of the generation saved in ``directory``; :class:`ModelMismatchError` if it
    was made by another model."""
    if config.backend == "qdrant":
        from search.qdrant_backend import QdrantVectors

        return QdrantVectors.load_config(config, directory, model_id, dim)
    from search.dense import DenseIndex

    if not (Path(directory) / "dense.json").exists() and (Path(directory) / "qdrant.json").exists():
        raise ValueError(
            f"the index generation {directory} keeps its vectors in Qdrant: set THUVIEN_VECTOR_BACKEND=qdrant "
            "(and THUVIEN_QDRANT_URL or THUVIEN_QDRANT_PATH as before), or re-index to use FAISS"
        )
    return DenseIndex.load(directory, model_id, dim, config.hnsw_threshold)
