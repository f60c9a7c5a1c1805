"""The backend contract (Annif's, in Python): train on documents, score texts, learn incrementally.

A backend works over a fixed *label index* (the project's list of concept URIs) and returns a dense
``(n_texts, n_labels)`` score matrix from :meth:`Backend.scores`; :meth:`Backend.suggest` turns a row into
ranked :class:`~subjects.types.Suggestion`. Backends register themselves by name in :data:`REGISTRY`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from subjects.storage import atomic_write_pickle, read_pickle
from subjects.types import Document, Suggestion

REGISTRY: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    REGISTRY[cls.name] = cls
    return cls


def get_backend_class(name: str) -> type[Backend]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


class NotTrainedError(RuntimeError):
    pass


class Backend(ABC):
    name: ClassVar[str] = ""
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, labels: Sequence[str], params: dict[str, Any] | None = None, **context: Any) -> None:
        self.labels = list(labels)
        self.label_index = {u: i for i, u in enumerate(self.labels)}
        self.params = {**self.default_params, **(params or {})}
        self.context = context  # shared, unpicklable things (encoder, label texts)
        self.trained = False

    # -- contract -------------------------------------------------------------------------
    @abstractmethod
    def train(self, docs: Sequence[Document]) -> None: ...

    @abstractmethod
    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1], shape (len(texts), len(labels))."""

    def learn(self, docs: Sequence[Document]) -> None:
        """Take accepted subjects into account without a full retrain (default: nothing)."""
        return None

    # -- helpers --------------------------------------------------------------------------
    def suggest(self, text: str, limit: int = 10, threshold: float = 0.0, label_of=lambda uri: uri) -> list[Suggestion]:
        return self.suggest_batch([text], limit, threshold, label_of)[0]

    def suggest_batch(
        self, texts: Sequence[str], limit: int = 10, threshold: float = 0.0, label_of=lambda uri: uri
    ) -> list[list[Suggestion]]:
        self._check()
        m = self.scores(texts)
        return [top_suggestions(row, self.labels, limit, threshold, [self.name], label_of) for row in m]

    def _check(self) -> None:
        if not self.trained:
            raise NotTrainedError(f"backend {self.name!r} is not trained")

    def _targets(self, docs: Sequence[Document]):
        """Sparse (n_docs, n_labels) 0/1 matrix of the docs' subjects (unknown URIs ignored)."""
        import scipy.sparse as sp

        rows, cols = [], []
        for i, d in enumerate(docs):
            for u in dict.fromkeys(d.subjects):
                j = self.label_index.get(u)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(docs), len(self.labels)))

    def _csr_T(self, attr: str):
        """The transpose of sparse matrix ``self.<attr>`` as float32 CSR, built once per matrix object.

        ``q @ M.T`` with a CSC transpose makes scipy convert ``M.T`` to CSR on every call (tens of ms for a
        training matrix); this keeps the converted one until ``self.<attr>`` is replaced."""
        m = getattr(self, attr)
        key = f"_cache_T_{attr}"
        hit = self.__dict__.get(key)
        if hit is None or hit[0] is not m:
            hit = (m, m.T.tocsr().astype(np.float32))
            self.__dict__[key] = hit
        return hit[1]

    def _learnable(self, docs: Sequence[Document]) -> list[Document]:
        """The start of every ``learn``: a trained model, the documents that carry subjects, and their
        subjects added to the labels."""
        self._check()
        docs = [d for d in docs if d.subjects]
        self.add_labels([u for d in docs for u in d.subjects])
        return docs

    def add_labels(self, uris: Sequence[str]) -> None:
        for u in uris:
            if u not in self.label_index:
                self.label_index[u] = len(self.labels)
                self.labels.append(u)

    def state(self) -> dict[str, Any]:
        """What is pickled: everything but the context and derived caches (attributes named ``_cache_*``)."""
        return {k: v for k, v in self.__dict__.items() if k != "context" and not k.startswith("_cache_")}

    def save(self, path: Path) -> None:
        atomic_write_pickle(path, self.state())

    @classmethod
    def load(cls, path: Path, **context: Any) -> Backend:
        obj = cls.__new__(cls)
        obj.__dict__.update(read_pickle(path))
        obj.context = context
        obj.after_load()
        return obj

    def after_load(self) -> None:  # noqa: B027 - optional hook
        """Called after unpickling (subclasses rebuild caches here)."""


def top_suggestions(
    row: np.ndarray, labels: Sequence[str], limit: int, threshold: float, sources: list[str], label_of
) -> list[Suggestion]:
    n = min(limit, len(row))
    if n <= 0:
        return []
    idx = np.argpartition(-row, n - 1)[:n] if n < len(row) else np.arange(len(row))
    idx = idx[np.argsort(-row[idx], kind="stable")]
    return [
        Suggestion(labels[i], label_of(labels[i]), float(row[i]), list(sources))
        for i in idx
        if row[i] > 0 and row[i] >= threshold
    ]
