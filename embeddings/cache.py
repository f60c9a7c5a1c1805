"""A persistent embedding cache, so a text is embedded once per model.

Keyed by (model_id, kind, sha1(text)); stored in one SQLite file per model under the cache dir.
Safe for several processes (WAL). Wraps any :class:`~embeddings.encoder.Encoder`.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from embeddings.encoder import Encoder


def _digest(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class CachedEncoder:
    """An encoder that remembers what it has embedded."""

    def __init__(self, encoder: Encoder, cache_dir: Path, progress: bool = False, cache_queries: bool = True) -> None:
        self.inner = encoder
        self.cache_queries = cache_queries
        self._lock = threading.Lock()
        self.model_id = encoder.model_id
        self.dim = encoder.dim
        self.progress = progress
        cache_dir.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.model_id)
        self._db = sqlite3.connect(cache_dir / f"embeddings-{safe}.sqlite3", timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        self._db.commit()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not self.cache_queries:
            return self.inner.encode_queries(texts)
        return self._cached(texts, "q", lambda batch: self.inner.encode_queries(batch))

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self._cached(texts, "p", lambda batch: self.inner.encode_passages(batch, batch_size=batch_size))

    def _cached(self, texts: Sequence[str], kind: str, fn) -> np.ndarray:
        with self._lock:
            return self._cached_locked(texts, kind, fn)

    def _cached_locked(self, texts: Sequence[str], kind: str, fn) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keys = [kind.encode() + _digest(t) for t in texts]
        missing: dict[bytes, list[int]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = dict(
                self._db.execute(f"SELECT k, v FROM vec WHERE k IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            )
            for i, k in enumerate(chunk, start):
                if k in rows:
                    out[i] = np.frombuffer(rows[k], dtype=np.float32)
                else:
                    missing.setdefault(k, []).append(i)
        todo = list(missing)
        step = 256
        bar = tqdm(total=len(todo), desc="embedding", unit="text", disable=not self.progress or not todo)
        for start in range(0, len(todo), step):
            batch_keys = todo[start : start + step]
            vecs = fn([texts[missing[k][0]] for k in batch_keys])
            self._db.executemany(
                "INSERT OR REPLACE INTO vec (k, v) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in zip(batch_keys, vecs, strict=True)],
            )
            self._db.commit()
            for k, v in zip(batch_keys, vecs, strict=True):
                out[missing[k]] = v
            bar.update(len(batch_keys))
        bar.close()
        return out
