"""A linear model over the e5 embedding of a text: ridge regression from the 384 dimensions to every subject.

One ``(d+1) x (d+1)`` solve fits all subjects at once (the bias is an extra, unpenalised column), so it is
cheap for 13 topics and for 3,000 headings alike, and scoring a text is one small product. Unlike the
kNN vote it generalises across all training records of a subject; unlike label matching it learns what
the catalogue means by a subject. ``learn`` adds the documents and refits exactly (the solve is tiny).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from subjects.backends.base import Backend, register
from subjects.embedding import embed_view
from subjects.types import Document


@register
class EmbeddingLinearBackend(Backend):
    name = "emb-linear"
    default_params = {"lambda": 0.1}
    uses_query_vectors = True

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.context.get("encoder")
        if enc is None:
            raise RuntimeError("the emb-linear backend needs an encoder in its context")
        return np.asarray(enc.encode_queries([embed_view(t) for t in texts]), np.float32)

    def _fit(self) -> None:
        E = np.hstack([self.E, np.ones((len(self.E), 1), np.float32)]).astype(np.float64)
        G = E.T @ E
        reg = np.full(E.shape[1], float(self.params["lambda"]))
        reg[-1] = 1e-6  # the bias is (almost) not penalised
        G[np.diag_indices_from(G)] += reg
        Y = self._targets(self.docs_subjects).toarray().astype(np.float64)
        self.W = np.linalg.solve(G, E.T @ Y).astype(np.float32)

    def train(self, docs: Sequence[Document]) -> None:
        docs = [d for d in docs if d.subjects]
        if not docs:
            raise ValueError("no training document has a subject of this vocabulary")
        self.E = self._embed([d.text for d in docs])
        self.docs_subjects = [Document("", list(d.subjects)) for d in docs]
        self._fit()
        self.trained = True

    def scores(self, texts: Sequence[str], query_vectors: np.ndarray | None = None) -> np.ndarray:
        """``query_vectors``: the texts' e5 query embeddings when the caller already has them."""
        self._check()
        Q = self._embed(texts) if query_vectors is None else np.asarray(query_vectors, np.float32)
        S = Q @ self.W[:-1] + self.W[-1]
        out = np.zeros((len(texts), len(self.labels)), np.float32)
        out[:, : S.shape[1]] = np.clip(S, 0.0, 1.0)
        return out

    def learn(self, docs: Sequence[Document]) -> None:
        docs = self._learnable(docs)
        if not docs:
            return
        self.E = np.vstack([self.E, self._embed([d.text for d in docs])])
        self.docs_subjects = self.docs_subjects + [Document("", list(d.subjects)) for d in docs]
        self._fit()
