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

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        self._check()
        out = np.zeros((len(texts), len(self.labels)), np.float32)
        if len(self.owners) == 0:
            return out
        Q = np.asarray(self.context["encoder"].encode_queries([embed_view(t) for t in texts]), np.float32)
        S = Q @ self.E.T
        floor = self.params["floor"]
        for r in range(len(texts)):
            np.maximum.at(out[r], self.owners, np.clip((S[r] - floor) / (1 - floor), 0, 1))
        return out

    def learn(self, docs: Sequence[Document]) -> None:
        return None
