"""Qdrant as the vector backend of the search index (qdrant-client; a server or local mode).

* One collection per embedding model id (:func:`collection_name`), cosine distance, the model id
  and dimension kept in the collection metadata and checked on open (:class:`ModelMismatchError`).
* Point id = document slot. Payload: ``record_key``, ``library_id``, ``language``, ``year``,
  ``type``, ``kind``, ``subject_keys`` (see :func:`search.vectors.doc_payload`), with payload
  indexes on the filter fields; :func:`qdrant_filter` turns :class:`search.filters.Filters` into a
  Qdrant filter that mirrors :meth:`search.store.DocStore.mask`.
* Upserts go in batches (``batch_size`` points, 256 by default) and wait for the server.
* Searches: the caller's boolean ``allowed`` mask becomes a ``has_id`` condition when it allows
  few slots (or a ``must_not has_id`` when it excludes few); otherwise the search over-fetches
  and keeps the allowed slots, growing the fetch until ``k`` are found. ``filters`` are pushed
  down as payload conditions. The mask is always applied to what comes back.

Crash safety (the store is not versioned by index generation, unlike FAISS): ``remove`` only
hides points; they are deleted at ``commit``, which :class:`search.index.SearchIndex` calls after
a generation became current, so Qdrant always holds every vector of the committed generation.
``reconcile`` (on open) deletes the points whose slots are not alive in the generation that was
loaded: the vectors upserted after the last save, before a crash. Upserts are idempotent by slot.
One index directory owns a collection: two writers on one collection would undo each other.

Local mode (``path=``) locks its directory: one process at a time; :func:`open_client` shares one
client per directory inside a process. Use a server (``THUVIEN_QDRANT_URL``) for several search
replicas. Backups: :func:`snapshot_collection`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import shutil
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException

from search.vectors import (
    ModelMismatchError,
    VectorConfig,
    VectorStoreUnavailable,
    check_slots,
    check_vectors,
)

__all__ = [
    "QdrantVectors",
    "collection_name",
    "qdrant_filter",
    "open_client",
    "snapshot_collection",
    "KEYWORD_FIELDS",
    "INTEGER_FIELDS",
]

log = logging.getLogger("thuvien.search.qdrant")

KEYWORD_FIELDS = ("library_id", "language", "type", "record_key", "subject_keys", "kind")
INTEGER_FIELDS = ("year",)
HAS_ID_MAX = 10_000  # largest id list sent as a has_id condition
OVERSAMPLE = 4  # first fetch of a post-filtered search: k * OVERSAMPLE
EXACT_BELOW = 20_000  # server: exact search when at most this many points are allowed
SCROLL_PAGE = 10_000
META_FILE = "qdrant.json"


def collection_name(model_id: str, prefix: str = "thuvien") -> str:
    """``<prefix>__<readable model id>__<8 hex of its hash>``: one collection per model id."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", model_id).strip("-")[:60] or "model"
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}__{slug}__{digest}"


# ---- clients -------------------------------------------------------------------------------------
_clients: dict[str, list[Any]] = {}  # resolved local path -> [client, references]
_clients_lock = threading.Lock()


def open_client(config: VectorConfig) -> tuple[QdrantClient, bool, Callable[[], None]]:
    """(client, is_local, release) for the configured Qdrant. Local directories are locked by
    qdrant-client, so one client per directory is shared inside a process and closed with its
    last user; ``:memory:`` gives a new, private store."""
    if config.qdrant_url:
        client = QdrantClient(url=config.qdrant_url, timeout=int(max(1, config.timeout_s)), check_compatibility=False)
        return client, False, client.close
    location = config.qdrant_path or ":memory:"
    if location == ":memory:":
        client = QdrantClient(location=":memory:")
        return client, True, client.close
    key = str(Path(location).resolve())
    with _clients_lock:
        entry = _clients.get(key)
        if entry is None:
            Path(key).mkdir(parents=True, exist_ok=True)
            try:
                entry = _clients[key] = [QdrantClient(path=key), 0]
            except RuntimeError as e:  # the directory is locked by another process
                raise VectorStoreUnavailable(f"Qdrant local storage {key}: {e}") from e
        entry[1] += 1
    released = False

    def release() -> None:
        nonlocal released
        with _clients_lock:
            if released:
                return
            released = True
            entry[1] -= 1
            if entry[1] <= 0 and _clients.get(key) is entry:
                del _clients[key]
                entry[0].close()

    return entry[0], True, release


@contextlib.contextmanager
def _remote_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ApiException as e:
        raise VectorStoreUnavailable(f"Qdrant {what} failed: {e}") from e
    except (OSError, TimeoutError) as e:
        raise VectorStoreUnavailable(f"Qdrant {what} failed: {e}") from e


# ---- filters -------------------------------------------------------------------------------------
def qdrant_filter(filters: Any) -> list[models.Condition]:
    """Payload conditions equivalent to ``DocStore.mask(filters, strict=False)`` (all must hold)."""
    from search.filters import norm_value

    if filters is None or filters.is_empty():
        return []
    must: list[models.Condition] = []
    libs = filters.libraries()
    if libs:
        must.append(models.FieldCondition(key="library_id", match=models.MatchAny(any=list(libs))))
    if filters.language is not None:
        lang = filters.language.strip().lower()
        must.append(models.FieldCondition(key="language", match=models.MatchValue(value=lang)))
    if filters.type is not None:
        must.append(models.FieldCondition(key="type", match=models.MatchValue(value=filters.type)))
    if filters.year_from is not None or filters.year_to is not None:
        must.append(models.FieldCondition(key="year", range=models.Range(gte=filters.year_from, lte=filters.year_to)))
    if filters.subject is not None:
        key = norm_value(filters.subject)
        must.append(models.FieldCondition(key="subject_keys", match=models.MatchValue(value=key)))
    return must


# ---- the backend ---------------------------------------------------------------------------------
class QdrantVectors:
    """A :class:`search.vectors.VectorBackend` on one Qdrant collection."""

    uses_payloads = True

    def __init__(
        self,
        client: QdrantClient,
        model_id: str,
        dim: int,
        *,
        prefix: str = "thuvien",
        batch_size: int = 256,
        local: bool = True,
        replication_factor: int | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.client = client
        self.model_id = model_id
        self.dim = dim
        self.collection = collection_name(model_id, prefix)
        self.batch_size = batch_size
        self.local = local
        self._on_close = on_close
        self._stored = np.zeros(1024, dtype=bool)  # a point exists in Qdrant
        self._live = np.zeros(1024, dtype=bool)  # stored and not removed
        self._pending: set[int] = set()  # removed, deleted from Qdrant at the next commit
        self._n_live = 0
        self._ensure_collection(replication_factor)
        self._load_ids()

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: VectorConfig, model_id: str, dim: int) -> QdrantVectors:
        client, local, release = open_client(config)
        try:
            return cls(
                client,
                model_id,
                dim,
                prefix=config.collection_prefix,
                batch_size=config.batch_size,
                local=local,
                replication_factor=config.replication_factor,
                on_close=release,
            )
        except BaseException:
            release()
            raise

    @classmethod
    def check_saved(cls, directory: Path, model_id: str, dim: int) -> None:
        """Refuse a generation whose vectors were put in Qdrant by another model."""
        path = Path(directory) / META_FILE
        if not path.exists():
            return
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("model_id") != model_id or int(meta.get("dim", -1)) != dim:
            raise ModelMismatchError(
                f"the index in {Path(directory).parent} keeps vectors of model {meta.get('model_id')!r} "
                f"(dimension {meta.get('dim')}) in Qdrant, not of {model_id!r} (dimension {dim}); re-index the "
                "collection (delete the index directory and run the import again)"
            )

    @classmethod
    def load(cls, client: QdrantClient, directory: Path, model_id: str, dim: int, **kw: Any) -> QdrantVectors:
        cls.check_saved(directory, model_id, dim)
        return cls(client, model_id, dim, **kw)

    @classmethod
    def load_config(cls, config: VectorConfig, directory: Path, model_id: str, dim: int) -> QdrantVectors:
        cls.check_saved(directory, model_id, dim)
        return cls.from_config(config, model_id, dim)

    def _ensure_collection(self, replication_factor: int | None) -> None:
        with _remote_errors(f"opening collection {self.collection}"):
            if self.client.collection_exists(self.collection):
                info = self.client.get_collection(self.collection)
                params = info.config.params.vectors
                size = getattr(params, "size", None)
                meta = info.config.metadata or {}
                if size != self.dim or meta.get("model_id", self.model_id) != self.model_id:
                    raise ModelMismatchError(
                        f"Qdrant collection {self.collection!r} holds vectors of model {meta.get('model_id')!r} "
                        f"(dimension {size}), not of {self.model_id!r} (dimension {self.dim}); re-index the "
                        "collection with one model"
                    )
                return
            kwargs: dict[str, Any] = {}
            if not self.local and replication_factor:
                kwargs["replication_factor"] = replication_factor
            try:
                self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.COSINE),
                    metadata={"model_id": self.model_id, "dim": self.dim, "created_by": "thuvien"},
                    **kwargs,
                )
            except (ValueError, ApiException):  # created meanwhile by another process
                if not self.client.collection_exists(self.collection):
                    raise
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # local mode: "payload indexes have no effect"
                for field in KEYWORD_FIELDS:
                    self.client.create_payload_index(
                        self.collection, field, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
                    )
                for field in INTEGER_FIELDS:
                    self.client.create_payload_index(
                        self.collection, field, field_schema=models.PayloadSchemaType.INTEGER, wait=True
                    )

    def _grow(self, n: int) -> None:
        if n <= len(self._stored):
            return
        cap = max(n, 2 * len(self._stored))
        for name in ("_stored", "_live"):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=bool)
            new[: len(old)] = old
            setattr(self, name, new)

    def _load_ids(self) -> None:
        ids: list[int] = []
        offset = None
        with _remote_errors(f"reading the ids of {self.collection}"):
            while True:
                points, offset = self.client.scroll(
                    self.collection, limit=SCROLL_PAGE, offset=offset, with_payload=False, with_vectors=False
                )
                ids.extend(int(p.id) for p in points)
                if offset is None:
                    break
        if ids:
            arr = np.asarray(ids, dtype=np.int64)
            self._grow(int(arr.max()) + 1)
            self._stored[arr] = True
            self._live[arr] = True
        self._n_live = len(ids)

    # ---- sizes ---------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Live vectors."""
        return self._n_live

    @property
    def kind(self) -> str:
        return "qdrant-local" if self.local else "qdrant"

    def check_vectors(self, vectors: Any, n: int | None = None, model_id: str | None = None) -> np.ndarray:
        return check_vectors(vectors, self.dim, self.model_id, n=n, model_id=model_id)

    # ---- writes --------------------------------------------------------------------------------
    def add(
        self,
        slots: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        payloads: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Upsert the vectors of ``slots`` (with their payloads) in batches; searchable on return."""
        v = self.check_vectors(vectors, len(slots))
        s = check_slots(slots, len(v))
        if payloads is not None and len(payloads) != len(s):
            raise ValueError(f"{len(payloads)} payloads for {len(s)} vectors")
        if len(s) == 0:
            return
        self._grow(int(s.max()) + 1)
        done = 0
        try:
            with _remote_errors(f"upsert into {self.collection}"):
                for i in range(0, len(s), self.batch_size):
                    j = min(i + self.batch_size, len(s))
                    self.client.upsert(
                        self.collection,
                        points=models.Batch(
                            ids=[int(x) for x in s[i:j]],
                            vectors=v[i:j].tolist(),
                            payloads=[dict(p) for p in payloads[i:j]] if payloads is not None else None,
                        ),
                        wait=True,
                    )
                    done = j
        except BaseException:
            # all or nothing: the batches written (and the failed one, maybe in part) are hidden and
            # deleted at the next commit, unless a later add of the same slots overwrites them first
            self._n_live -= int(self._live[s].sum())
            self._live[s] = False
            self._stored[s] = True
            self._pending.update(int(x) for x in s)
            log.warning("upsert of %d vectors failed after %d were written; they are hidden", len(s), done)
            raise
        self._mark_added(s)

    def _mark_added(self, s: np.ndarray) -> None:
        if not len(s):
            return
        self._n_live += int((~self._live[s]).sum())
        self._stored[s] = True
        self._live[s] = True
        if self._pending:
            self._pending.difference_update(int(x) for x in s)

    def remove(self, slots: Sequence[int] | np.ndarray) -> None:
        """Hide ``slots`` from results at once; their points are deleted at the next ``commit``."""
        s = np.asarray([int(x) for x in slots], dtype=np.int64)
        s = s[(s >= 0) & (s < len(self._live))]
        s = np.unique(s[self._live[s]]) if len(s) else s
        if not len(s):
            return
        self._live[s] = False
        self._n_live -= len(s)
        self._pending.update(int(x) for x in s)

    def _delete(self, slots: Sequence[int]) -> None:
        slots = sorted(int(x) for x in slots)
        with _remote_errors(f"delete from {self.collection}"):
            for i in range(0, len(slots), max(self.batch_size, 1000)):
                batch = slots[i : i + max(self.batch_size, 1000)]
                self.client.delete(self.collection, points_selector=models.PointIdsList(points=batch), wait=True)
                arr = np.asarray(batch, dtype=np.int64)
                self._stored[arr] = False
                self._pending.difference_update(batch)

    def commit(self) -> None:
        """Delete the points removed since the last commit. A Qdrant that cannot be reached only
        delays it (logged): the points stay hidden and are deleted by a later commit or on open."""
        if not self._pending:
            return
        try:
            self._delete(list(self._pending))
        except VectorStoreUnavailable as e:
            log.warning("deleting %d removed vectors is put off: %s", len(self._pending), e)

    def reconcile(self, alive: np.ndarray) -> dict[str, int]:
        """Make the collection match a generation just opened: delete the points of slots not
        ``alive`` (added after that generation was saved, or removed and not yet deleted); count
        alive slots without a point (``missing``: lost by the store, they need a re-index)."""
        alive = np.asarray(alive, dtype=bool)
        self._grow(len(alive))
        want = np.zeros(len(self._stored), dtype=bool)
        want[: len(alive)] = alive
        dead = np.flatnonzero(self._stored & ~want)
        if len(dead):
            self._delete(dead.tolist())
            self._live[dead] = False
        self._n_live = int(self._live.sum())
        missing = int((want & ~self._stored).sum())
        if missing:
            log.warning(
                "%d documents of the index have no vector in Qdrant collection %s: re-index them",
                missing,
                self.collection,
            )
        return {"removed": int(len(dead)), "missing": missing}

    # ---- reads ---------------------------------------------------------------------------------
    def search(
        self, qvec: np.ndarray, k: int, allowed: np.ndarray | None = None, filters: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (slots, scores) by cosine among live slots allowed by the mask (and ``filters``)."""
        q = self.check_vectors(qvec, 1)[0]
        empty = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if k <= 0 or self._n_live == 0:
            return empty
        eff = self._live.copy()
        if allowed is not None:
            a = np.asarray(allowed, dtype=bool)
            m = min(len(a), len(eff))
            eff[m:] = False
            eff[:m] &= a[:m]
        n_eff = int(eff.sum())
        if n_eff == 0:
            return empty
        must: list[models.Condition] = list(qdrant_filter(filters))
        must_not: list[models.Condition] = []
        post = False
        if n_eff <= HAS_ID_MAX:
            must.append(models.HasIdCondition(has_id=np.flatnonzero(eff).tolist()))
        else:
            excluded = np.flatnonzero(self._stored & ~eff)
            if len(excluded) <= HAS_ID_MAX:
                if len(excluded):
                    must_not.append(models.HasIdCondition(has_id=excluded.tolist()))
            else:
                post = True
        query_filter = models.Filter(must=must or None, must_not=must_not or None) if must or must_not else None
        n_stored = int(self._stored.sum())
        limit = min(k * OVERSAMPLE, n_stored) if post else min(k, n_eff)
        while True:
            params = None
            if not self.local:
                params = models.SearchParams(hnsw_ef=max(128, limit), exact=n_eff <= EXACT_BELOW)
            with _remote_errors(f"search in {self.collection}"):
                res = self.client.query_points(
                    self.collection,
                    query=q.tolist(),
                    limit=limit,
                    query_filter=query_filter,
                    search_params=params,
                    with_payload=False,
                    with_vectors=False,
                )
            ids = np.asarray([int(p.id) for p in res.points], dtype=np.int64)
            scores = np.asarray([p.score for p in res.points], dtype=np.float32)
            keep = np.zeros(len(ids), dtype=bool)
            inside = ids < len(eff)
            keep[inside] = eff[ids[inside]]
            if not post or int(keep.sum()) >= k or limit >= n_stored or len(ids) < limit:
                return ids[keep][:k], scores[keep][:k]
            limit = min(limit * OVERSAMPLE, n_stored)

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Record in the generation which collection holds its vectors (the points are in Qdrant)."""
        meta = {
            "backend": "qdrant",
            "model_id": self.model_id,
            "dim": self.dim,
            "collection": self.collection,
            "vectors": self._n_live,
        }
        (Path(directory) / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


# ---- backups -------------------------------------------------------------------------------------
def snapshot_collection(config: VectorConfig, model_id: str, dest: Path) -> Path:
    """A backup of the model's collection in ``dest``; returns the file or directory written.

    Server: a Qdrant collection snapshot (``create_snapshot``), downloaded to
    ``dest/<snapshot name>`` (restore it with Qdrant's snapshot recovery). Local mode: a copy of the
    storage directory in ``dest/qdrant-<time>/``, each collection's SQLite file copied with SQLite's
    online backup (consistent while the search service writes); ``QdrantClient(path=...)`` opens it
    as it is, so restoring is copying it back in place of ``<data_dir>/qdrant`` while the service is
    stopped. ``:memory:`` has nothing to back up (ValueError)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = collection_name(model_id, config.collection_prefix)
    if config.qdrant_url:
        import httpx

        client = QdrantClient(url=config.qdrant_url, timeout=int(max(1, config.timeout_s)), check_compatibility=False)
        try:
            with _remote_errors(f"snapshot of {name}"):
                desc = client.create_snapshot(name, wait=True)
        finally:
            client.close()
        if desc is None:
            raise VectorStoreUnavailable(f"Qdrant did not describe the snapshot of {name}")
        out = dest / desc.name
        url = f"{config.qdrant_url.rstrip('/')}/collections/{name}/snapshots/{desc.name}"
        try:
            with httpx.stream("GET", url, timeout=config.timeout_s) as resp:
                resp.raise_for_status()
                with out.open("wb") as fh:
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
        except httpx.HTTPError as e:
            raise VectorStoreUnavailable(f"downloading Qdrant snapshot {desc.name} failed: {e}") from e
        return out
    if not config.qdrant_path or config.qdrant_path == ":memory:":
        raise ValueError("an in-memory Qdrant has nothing to back up; set a storage path or a server URL")
    src = Path(config.qdrant_path)
    if not (src / "meta.json").exists():
        raise ValueError(f"{src} is not a Qdrant local storage directory (no meta.json)")
    out = dest / f"qdrant-{time.strftime('%Y%m%dT%H%M%S')}"
    tmp = dest / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or rel.name == ".lock" or rel.name.endswith(("-journal", "-wal", "-shm")):
            continue
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".sqlite":
            with contextlib.closing(sqlite3.connect(path)) as s, contextlib.closing(sqlite3.connect(target)) as d:
                s.backup(d)
        else:
            shutil.copy2(path, target)
    tmp.rename(out)
    return out
