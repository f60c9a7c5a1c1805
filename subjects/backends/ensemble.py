"""Stacked ensemble: member backends' scores, calibrated and weighted by a model fitted on validation data.

Training carves a validation split out of the training documents (deterministic by document id),
trains every member on the rest, and fits a logistic regression over candidate (document, subject)
pairs, with each member's score and reciprocal rank and the subject's training frequency as
features. That one model is both the calibration (its output is a probability that the subject is
right) and the tuned weighting of the members. The members are then retrained on all documents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from subjects.backends.base import Backend, get_backend_class, register
from subjects.storage import atomic_write_pickle, read_pickle
from subjects.types import Document

DEFAULT_MEMBERS: list[dict[str, Any]] = [
    {"backend": "linear"},
    {"backend": "knn", "params": {"representation": "embedding"}},
    {"backend": "knn", "params": {"representation": "tfidf"}},
    {"backend": "labels"},
]


def _is_val(doc: Document, i: int, fraction: float, seed: int) -> bool:
    key = f"{seed}:{doc.id or doc.text}".encode()
    return int(hashlib.sha1(key).hexdigest(), 16) % 1000 < fraction * 1000


@register
class EnsembleBackend(Backend):
    name = "ensemble"
    default_params = {
        "members": DEFAULT_MEMBERS,
        "candidates": 25,
        "val_fraction": 0.15,
        "seed": 20261125,
        "retrain_full": True,
        "C": 1.0,
    }

    def _make_members(self) -> list[Backend]:
        members = []
        for spec in self.params["members"]:
            cls = get_backend_class(spec["backend"])
            members.append(cls(self.labels, dict(spec.get("params", {})), **self.context))
        return members

    # -- features -------------------------------------------------------------------------
    def _features(self, mats: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """Candidate label ids per text and their feature rows."""
        C = self.params["candidates"]
        n = mats[0].shape[0]
        L = len(self.labels)
        ranks = []
        tops = []
        for m in mats:
            m = m[:, :L] if m.shape[1] >= L else np.pad(m, ((0, 0), (0, L - m.shape[1])))
            k = min(C, L)
            top = np.argpartition(-m, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(m, top, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            tops.append(top)
            rank = np.zeros((n, L), np.float32)
            np.put_along_axis(rank, top, 1.0 / (1.0 + np.arange(k, dtype=np.float32))[None, :], axis=1)
            ranks.append(rank)
        cands, feats = [], []
        prior = self.prior if len(self.prior) == L else np.pad(self.prior, (0, L - len(self.prior)))
        for r in range(n):
            c = np.unique(np.concatenate([t[r] for t in tops]))
            cols = []
            for m, rank in zip(mats, ranks, strict=True):
                s = m[r, c] if m.shape[1] >= L else np.pad(m[r], (0, L - m.shape[1]))[c]
                cols += [s, rank[r, c], np.sqrt(np.maximum(s, 0))]
            cols.append(prior[c])
            cands.append(c)
            feats.append(np.stack(cols, axis=1))
        return cands, np.concatenate(feats) if feats else np.zeros((0, 3 * len(mats) + 1), np.float32)

    def _member_scores(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [m.scores(texts) for m in self.members]

    # -- contract -------------------------------------------------------------------------
    def train(self, docs: Sequence[Document]) -> None:
        from sklearn.linear_model import LogisticRegression

        docs = [d for d in docs if d.subjects]
        frac, seed = self.params["val_fraction"], self.params["seed"]
        val = [d for i, d in enumerate(docs) if _is_val(d, i, frac, seed)]
        fit = [d for i, d in enumerate(docs) if not _is_val(d, i, frac, seed)]
        counts = np.asarray(self._targets(docs).sum(axis=0)).ravel()
        self.prior = np.log1p(counts).astype(np.float32) / max(1.0, math.log1p(counts.max() if len(counts) else 1))
        self.members = self._make_members()
        for m in self.members:
            m.train(fit)
        mats = self._member_scores([d.text for d in val])
        cands, X = self._features(mats)
        Y = self._targets(val).tocsr()
        y = np.concatenate([Y[r].toarray().ravel()[c] for r, c in enumerate(cands)]) if cands else np.zeros(0)
        self.stacker = LogisticRegression(C=self.params["C"], max_iter=2000)
        self.stacker.fit(X, y > 0)
        self.val_docs = len(val)
        self.tuned_threshold = self._tune_threshold(self._combine(mats), val)
        if self.params["retrain_full"]:
            for m in self.members:
                m.train(docs)
        self.trained = True

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        self._check()
        return self._combine(self._member_scores(texts))

    def _tune_threshold(self, fused: np.ndarray, val: Sequence[Document]) -> float:
        """The score threshold that maximises F1@5 on the validation split (0 keeps everything)."""
        from subjects.metrics import evaluate

        gold = [set(d.subjects) for d in val]
        tops = []
        for row in fused:
            idx = np.argsort(-row)[:10]
            tops.append([(self.labels[j], float(row[j])) for j in idx if row[j] > 0])
        best_t, best_f = 0.0, -1.0
        for t in (0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5):
            f = evaluate(gold, [[p for p in top if p[1] >= t] for top in tops])["F1@5"]
            if f > best_f + 1e-9:
                best_t, best_f = t, f
        return best_t

    def _combine(self, mats: list[np.ndarray]) -> np.ndarray:
        L = len(self.labels)
        cands, X = self._features(mats)
        p = self.stacker.predict_proba(X)[:, 1] if len(X) else np.zeros(0)
        out = np.zeros((len(cands), L), np.float32)
        pos = 0
        for r, c in enumerate(cands):
            out[r, c] = p[pos : pos + len(c)]
            pos += len(c)
        return out

    def explain(self, texts: Sequence[str], limit: int = 10) -> list[dict[int, list[str]]]:
        """For each text, label id -> names of members that ranked it within ``limit``."""
        mats = self._member_scores(texts)
        out = []
        for r in range(len(texts)):
            d: dict[int, list[str]] = {}
            for m, mat in zip(self.members, mats, strict=True):
                row = mat[r]
                for j in np.argsort(-row)[:limit]:
                    if row[j] > 0:
                        d.setdefault(int(j), []).append(m.name)
            out.append(d)
        return out

    def scores_and_sources(
        self, texts: Sequence[str], limit: int = 10
    ) -> tuple[np.ndarray, list[dict[int, list[str]]]]:
        self._check()
        mats = self._member_scores(texts)
        srcs = []
        for r in range(len(texts)):
            d: dict[int, list[str]] = {}
            for m, mat in zip(self.members, mats, strict=True):
                row = mat[r]
                top = np.argpartition(-row, min(limit, len(row) - 1))[:limit]
                for j in top:
                    if row[j] > 0:
                        d.setdefault(int(j), []).append(m.name)
            srcs.append(d)
        return self._combine(mats), srcs

    def learn(self, docs: Sequence[Document]) -> None:
        self._check()
        self.add_labels([u for d in docs for u in d.subjects])
        for m in self.members:
            m.learn(docs)
            m.add_labels(self.labels)
        if len(self.prior) < len(self.labels):
            self.prior = np.pad(self.prior, (0, len(self.labels) - len(self.prior)))

    # -- persistence: members are saved by their own classes ----------------------------------
    def save(self, path: Path) -> None:
        path = Path(path)
        for i, m in enumerate(self.members):
            m.save(path.with_name(f"{path.stem}.member{i}.pkl"))
        state = {k: v for k, v in self.__dict__.items() if k not in ("context", "members")}
        state["member_classes"] = [type(m).__name__ for m in self.members]
        atomic_write_pickle(path, state)

    @classmethod
    def load(cls, path: Path, **context: Any) -> EnsembleBackend:
        path = Path(path)
        obj = cls.__new__(cls)
        state = read_pickle(path)
        names = state.pop("member_classes")
        obj.__dict__.update(state)
        obj.context = context
        obj.members = []
        for i, spec in enumerate(obj.params["members"]):
            mcls = get_backend_class(spec["backend"])
            assert mcls.__name__ == names[i]
            obj.members.append(mcls.load(path.with_name(f"{path.stem}.member{i}.pkl"), **context))
        return obj
