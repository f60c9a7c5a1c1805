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

from subjects.analyzer import make_vectorizer, prepare
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

    def _vectors(self, texts: Sequence[str], fit: bool = False):
        if self.params["representation"] == "embedding":
            return np.asarray(self.encoder.encode_queries([embed_view(t) for t in texts]), np.float32)
        prepared = [prepare(t, segment=self.params["segment"]) for t in texts]
        if fit:
            self.vectorizer = make_vectorizer(char=False, min_df=1)
            return self.vectorizer.fit_transform(prepared).tocsr()
        return self.vectorizer.transform(prepared).tocsr()

    def train(self, docs: Sequence[Document]) -> None:
        docs = [d for d in docs if d.subjects]
        self.V = self._vectors([d.text for d in docs], fit=True)
        self.Y = self._targets(docs)
        self.trained = True

    def neighbours(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        Q = self._vectors(texts)
        S = Q @ self.V.T
        S = S.toarray() if sp.issparse(S) else np.asarray(S)
        k = min(self.params["k"], S.shape[1])
        idx = np.argpartition(-S, k - 1, axis=1)[:, :k]
        sims = np.take_along_axis(S, idx, axis=1)
        return idx, sims

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        self._check()
        idx, sims = self.neighbours(texts)
        w = np.exp((sims - sims.max(axis=1, keepdims=True)) / self.params["temperature"])
        w[sims <= 0] = 0
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        out = np.zeros((len(texts), len(self.labels)), np.float32)
        Y = self.Y
        for r in range(len(texts)):
            votes = sp.csr_matrix(w[r][None, :]) @ Y[idx[r]]
            row = votes.toarray().ravel()
            out[r, : len(row)] = row
        return out

    def learn(self, docs: Sequence[Document]) -> None:
        self._check()
        docs = [d for d in docs if d.subjects]
        if not docs:
            return
        self.add_labels([u for d in docs for u in d.subjects])
        V = self._vectors([d.text for d in docs])
        self.V = sp.vstack([self.V, V]).tocsr() if sp.issparse(self.V) else np.vstack([self.V, V])
        Y = self.Y
        if Y.shape[1] < len(self.labels):
            Y = sp.hstack([Y, sp.csr_matrix((Y.shape[0], len(self.labels) - Y.shape[1]))]).tocsr()
        self.Y = sp.vstack([Y, self._targets(docs)]).tocsr()
