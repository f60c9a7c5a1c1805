"""k nearest catalogued records vote for their subjects, weighted by similarity.

``representation="embedding"`` uses the e5 encoder (dense cosine; works across languages);
``representation="tfidf"`` uses sparse TF-IDF cosine (exact wording, series, names). Votes are
``softmax(sim / temperature)`` over the ``k`` neighbours, so a label's score is the similarity-weighted
share of neighbours that carry it. ``learn`` adds the document to the neighbour set: it counts at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from subjects.analyzer import make_vectorizer, prepare, transform
from subjects.backends.base import Backend, register
from subjects.embedding import embed_view
from subjects.types import Document


@register
class KnnBackend(Backend):
    name = "knn"
    default_params = {"k": 30, "temperature": 0.02, "representation": "embedding", "segment": False}

    def __init__(self, labels, params=None, **context) -> None:
        super().__init__(labels, params, **context)
        if self.params["representation"] == "tfidf" and "temperature" not in (params or {}):
            self.params["temperature"] = 0.05
        self.name = "knn" if self.params["representation"] == "embedding" else "knn-tfidf"

    @property
    def encoder(self):
        enc = self.context.get("encoder")
        if enc is None:
            raise RuntimeError("the kNN backend needs an encoder in its context")
        return enc

    @property
    def uses_query_vectors(self) -> bool:
        return self.params["representation"] == "embedding"

    def _vectors(self, texts: Sequence[str], fit: bool = False, query_vectors: np.ndarray | None = None):
        if self.params["representation"] == "embedding":
            if query_vectors is not None:
                return np.asarray(query_vectors, np.float32)
            return np.asarray(self.encoder.encode_queries([embed_view(t) for t in texts]), np.float32)
        prepared = [prepare(t, segment=self.params["segment"]) for t in texts]
        if fit:
            self.vectorizer = make_vectorizer(char=False, min_df=1)
            return self.vectorizer.fit_transform(prepared).tocsr()
        return transform(self.vectorizer, prepared).tocsr()

    def train(self, docs: Sequence[Document]) -> None:
        docs = [d for d in docs if d.subjects]
        self.V = self._vectors([d.text for d in docs], fit=True)
        self.Y = self._targets(docs)
        self.trained = True

    def neighbours(
        self, texts: Sequence[str], query_vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        Q = self._vectors(texts, query_vectors=query_vectors)
        S = (Q.astype(np.float32) @ self._csr_T("V")).toarray() if sp.issparse(Q) else np.asarray(Q @ self.V.T)
        k = min(self.params["k"], S.shape[1])
        idx = np.argpartition(-S, k - 1, axis=1)[:, :k]
        sims = np.take_along_axis(S, idx, axis=1)
        return idx, sims

    def scores(self, texts: Sequence[str], query_vectors: np.ndarray | None = None) -> np.ndarray:
        """``query_vectors``: the texts' e5 query embeddings when the caller already has them."""
        self._check()
        idx, sims = self.neighbours(texts, query_vectors)
        w = np.exp((sims - sims.max(axis=1, keepdims=True)) / self.params["temperature"])
        w[sims <= 0] = 0
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        n, k = idx.shape
        # one sparse (texts x neighbours) weight matrix times the neighbours' subjects: all texts at once
        W = sp.csr_matrix(
            (w.astype(np.float32).ravel(), idx.ravel(), np.arange(0, n * k + 1, k)), shape=(n, self.Y.shape[0])
        )
        votes = (W @ self.Y).toarray()
        out = np.zeros((n, len(self.labels)), np.float32)
        out[:, : votes.shape[1]] = votes
        return out

    def learn(self, docs: Sequence[Document]) -> None:
        docs = self._learnable(docs)
        if not docs:
            return
        V = self._vectors([d.text for d in docs])
        self.V = sp.vstack([self.V, V]).tocsr() if sp.issparse(self.V) else np.vstack([self.V, V])
        Y = self.Y
        if Y.shape[1] < len(self.labels):
            Y = sp.hstack([Y, sp.csr_matrix((Y.shape[0], len(self.labels) - Y.shape[1]))]).tocsr()
        self.Y = sp.vstack([Y, self._targets(docs)]).tocsr()
