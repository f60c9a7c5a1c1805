"""Match a text against the vocabulary's labels (prefLabel and altLabels, every language) by embedding.

Works across languages (a Vietnamese summary finds an English heading) and for subjects no training
record carries. A concept's score is its best label's cosine, rescaled from [floor, 1] to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from subjects.backends.base import Backend, register
from subjects.embedding import embed_view
from subjects.types import Document


@register
class LabelMatchBackend(Backend):
    name = "labels"
    default_params = {"floor": 0.75}

    def _label_texts(self) -> dict[str, list[str]]:
        texts = self.context.get("label_texts")
        if texts is None:
            raise RuntimeError("the label-matching backend needs label_texts in its context")
        return texts

    def train(self, docs: Sequence[Document] = ()) -> None:
        enc = self.context["encoder"]
        texts = self._label_texts()
        owners, strings = [], []
        for i, uri in enumerate(self.labels):
            for s in texts.get(uri, [])[:8]:
                owners.append(i)
                strings.append(s)
        self.owners = np.asarray(owners, np.int64)
        self.E = np.asarray(enc.encode_passages(strings), np.float32) if strings else np.zeros((0, 1), np.float32)
        self.trained = True

    uses_query_vectors = True

    def scores(self, texts: Sequence[str], query_vectors: np.ndarray | None = None) -> np.ndarray:
        """``query_vectors``: the texts' e5 query embeddings when the caller already has them."""
        self._check()
        out = np.zeros((len(texts), len(self.labels)), np.float32)
        if len(self.owners) == 0 or not len(texts):
            return out
        Q = query_vectors
        if Q is None:
            Q = np.asarray(self.context["encoder"].encode_queries([embed_view(t) for t in texts]), np.float32)
        floor = self.params["floor"]
        S = np.clip((Q @ self.E.T - floor) / (1 - floor), 0, 1)
        # owners ascend (labels of one concept are consecutive): a concept's score is the max over its run
        starts = np.flatnonzero(np.r_[True, self.owners[1:] != self.owners[:-1]])
        out[:, self.owners[starts]] = np.maximum.reduceat(S, starts, axis=1)
        return out

    def learn(self, docs: Sequence[Document]) -> None:
        return None
