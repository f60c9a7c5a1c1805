"""Stacked ensemble: member backends' scores, calibrated and weighted by a model fitted on validation data.

Training carves a validation split out of the training documents (deterministic by document id),
trains every member on the rest, and fits a logistic regression over candidate (document, subject)
pairs, with each member's score and reciprocal rank and the subject's training frequency as
features. That one model is both the calibration (its output is a probability that the subject is
right) and the tuned weighting of the members. The members are then retrained on all documents.

With ``stack_folds=k`` (k >= 2) the stacker is fitted instead on every training document, each scored
by members trained on the other folds (cross-fitting; k+1 trainings per member). On single-label data
with few labels a multinomial logistic regression over all members' score vectors is fitted as well and
gives the scores. At suggest time a text is embedded once for all e5 members.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from subjects.backends.base import Backend, get_backend_class, register
from subjects.storage import atomic_write_pickle, read_pickle
from subjects.types import Document

SINGLE_THREAD_MAX_TEXTS = 8

DEFAULT_MEMBERS: list[dict[str, Any]] = [
    {"backend": "linear"},
    {"backend": "knn", "params": {"representation": "embedding"}},
    {"backend": "knn", "params": {"representation": "tfidf"}},
    {"backend": "labels"},
]


def _pad_cols(m: np.ndarray, n: int) -> np.ndarray:
    return m if m.shape[1] >= n else np.pad(m, ((0, 0), (0, n - m.shape[1])))


@contextlib.contextmanager
def _lean_sklearn(n_texts: int = 1):
    """scikit-learn without its per-call input and parameter validation (our own fitted models on our own
    sparse matrices), and for a few texts BLAS on one thread: the products of one record are small, and
    waking BLAS's second thread (beside onnxruntime's) cost more than they do (LCSH, one record, load 4:
    p50 52 -> 24 ms). The BLAS limit is process-wide while it lasts."""
    import sklearn
    from threadpoolctl import threadpool_limits

    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        if n_texts <= SINGLE_THREAD_MAX_TEXTS:
            with threadpool_limits(1, user_api="blas"):
                yield
        else:
            yield


def _fold(doc: Document, k: int, seed: int) -> int:
    return int(hashlib.sha1(f"{seed}:fold:{doc.id or doc.text}".encode()).hexdigest(), 16) % k


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
        # 0: the stacker is fitted on one held-out split (val_fraction); k >= 2: on every training
        # document, each scored by members trained on the other k-1 folds (k+1 trainings per member)
        "stack_folds": 0,
        # with cross-fitting, single-label data and at most this many labels, a multinomial stacker
        "multinomial_max_labels": 50,
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
        """Every member's scores; the texts are embedded once, for all members that use e5 query vectors."""
        qv = None
        if any(getattr(m, "uses_query_vectors", False) for m in self.members):
            from subjects.embedding import embed_view

            enc = self.context.get("encoder")
            if enc is None:
                raise RuntimeError("this ensemble has embedding members but no encoder in its context")
            qv = np.asarray(enc.encode_queries([embed_view(t) for t in texts]), np.float32)
        return [
            m.scores(texts, query_vectors=qv) if getattr(m, "uses_query_vectors", False) else m.scores(texts)
            for m in self.members
        ]

    # -- contract -------------------------------------------------------------------------
    def train(self, docs: Sequence[Document]) -> None:
        from sklearn.linear_model import LogisticRegression

        docs = [d for d in docs if d.subjects]
        frac, seed = self.params["val_fraction"], self.params["seed"]
        counts = np.asarray(self._targets(docs).sum(axis=0)).ravel()
        self.prior = np.log1p(counts).astype(np.float32) / max(1.0, math.log1p(counts.max() if len(counts) else 1))
        k = int(self.params.get("stack_folds") or 0)
        if k >= 2:  # cross-fitting: every training document is scored once by members that did not see it
            fold = [_fold(d, k, seed) for d in docs]
            parts = [
                (
                    [d for d, g in zip(docs, fold, strict=True) if g != f],
                    [d for d, g in zip(docs, fold, strict=True) if g == f],
                )
                for f in range(k)
            ]
        else:  # one held-out validation split
            parts = [
                (
                    [d for i, d in enumerate(docs) if not _is_val(d, i, frac, seed)],
                    [d for i, d in enumerate(docs) if _is_val(d, i, frac, seed)],
                )
            ]
        val: list[Document] = []
        per_part = []
        for fit, held in parts:
            if not fit or not held:
                continue
            self.members = self._make_members()
            for m in self.members:
                m.train(fit)
            per_part.append(self._member_scores([d.text for d in held]))
            val += held
        mats = [np.vstack([p[i] for p in per_part]) for i in range(len(self.members))]
        cands, X = self._features(mats)
        Y = self._targets(val).tocsr()
        y = np.concatenate([Y[r].toarray().ravel()[c] for r, c in enumerate(cands)]) if cands else np.zeros(0)
        self.stacker = LogisticRegression(C=self.params["C"], max_iter=2000)
        self.stacker.fit(X, y > 0)
        self.multi = None
        n_labels = len(self.labels)
        single = all(len(set(d.subjects)) == 1 for d in val)
        if k >= 2 and single and n_labels <= self.params["multinomial_max_labels"]:
            # single-label, few classes, and every training document scored out of fold: one softmax
            # over all members' whole score vectors, which also learns which member to trust for which
            # class and which classes each member confuses (measured on Vinabook's training split,
            # 5-fold: P@1 0.930, against 0.927 for the per-candidate stacker on the same out-of-fold
            # scores and 0.924 for it fitted on a 15% held-out split)
            yv = np.asarray(Y.argmax(axis=1)).ravel()
            self.multi = LogisticRegression(C=self.params["C"], max_iter=3000)
            self.multi.fit(np.hstack([m[:, :n_labels] for m in mats]), yv)
            self.multi_labels = n_labels
        self.val_docs = len(val)
        self.tuned_threshold = self._tune_threshold(self._combine(mats), val)
        if self.params["retrain_full"]:
            for m in self.members:
                m.train(docs)
        self.trained = True

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        self._check()
        with _lean_sklearn(len(texts)):
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
        multi = getattr(self, "multi", None)
        if multi is not None and len(out):
            # the softmax covers the classes it was fitted on; other labels (none in the validation
            # documents, or added later by learn()) keep the per-candidate stacker's score
            n0 = self.multi_labels
            P = multi.predict_proba(np.hstack([_pad_cols(m, n0)[:, :n0] for m in mats]))
            out[:, multi.classes_] = P
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
        with _lean_sklearn(len(texts)):
            mats = self._member_scores(texts)
            fused = self._combine(mats)
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
        return fused, srcs

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
        state = {
            k: v for k, v in self.__dict__.items() if k not in ("context", "members") and not k.startswith("_cache_")
        }
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
