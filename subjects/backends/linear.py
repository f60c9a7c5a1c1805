"""Lexical linear model: TF-IDF of word and character n-grams -> one-vs-rest ridge classifiers.

All subjects are fitted at once in the dual (kernel) form: with X the L2-normalised TF-IDF matrix
of the training texts and Y their subject matrix, ``A = (X Xᵀ + λI)⁻¹ Y`` and a text x scores
``(x Xᵀ) A``. One Cholesky factorisation serves every subject (3,000 LCSH headings cost no more than
13 topics), and the factorisation is shared between label sets over the same texts (DDC at several
depths). Scores are clipped to [0, 1]; the ensemble recalibrates them.

``learn`` adds accepted documents as extra support vectors with the first-order dual weight
``y / (k(x, x) + λ)``, which acts at once; ``train`` refits exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from subjects.analyzer import l2_rows, make_vectorizer, prepare, transform
from subjects.backends.base import Backend, register
from subjects.types import Document

_FACTOR_CACHE: dict[str, tuple] = {}


@register
class LinearBackend(Backend):
    name = "linear"
    default_params = {
        "lambda": 3.0,
        "segment": False,
        "char": True,
        "max_features": 200_000,
        "max_chars": 2000,
        "solver": "auto",
        "C": 0.5,
    }

    def _X(self, texts: Sequence[str]):
        mc = self.params["max_chars"]
        return l2_rows(transform(self.vectorizer, [prepare(t, segment=self.params["segment"])[:mc] for t in texts]))

    def train(self, docs: Sequence[Document]) -> None:
        docs = [d for d in docs if d.subjects]
        if not docs:
            raise ValueError("no training document has a subject of this vocabulary")
        key = hashlib.sha1(repr(sorted(self.params.items())).encode())
        for d in docs:
            key.update(d.text.encode("utf-8", "replace"))
            key.update(b"\x00")
        k = key.hexdigest()
        if k in _FACTOR_CACHE and _FACTOR_CACHE[k][2] is not None:
            self.vectorizer, X, factor = _FACTOR_CACHE[k]
        else:
            mc = self.params["max_chars"]
            self.vectorizer = make_vectorizer(self.params["max_features"], self.params["char"])
            X = (
                l2_rows(
                    self.vectorizer.fit_transform([prepare(d.text, segment=self.params["segment"])[:mc] for d in docs])
                )
                .astype(np.float32)
                .tocsr()
            )
            factor = None
            Yall = self._targets(docs)
            single = bool((np.asarray(Yall.sum(axis=1)).ravel() <= 1).all())
            if self.params["solver"] == "ridge" or (self.params["solver"] == "auto" and not single):
                K = (X @ X.T).toarray().astype(np.float32)
                K[np.diag_indices_from(K)] += self.params["lambda"]
                factor = sla.cho_factor(K, lower=True, overwrite_a=True, check_finite=False)
            _FACTOR_CACHE.clear()
            if factor is not None:
                _FACTOR_CACHE[k] = (self.vectorizer, X, factor)
        Y = self._targets(docs).toarray()
        self.X = X
        single = bool((Y.sum(axis=1) <= 1).all())
        solver = self.params["solver"]
        self.primal = solver == "svm" or (solver == "auto" and single)
        if self.primal:
            self._fit_svm(X, Y)
        else:
            self.A = sla.cho_solve(factor, Y, check_finite=False).astype(np.float32)
        self.X_learned = sp.csr_matrix((0, X.shape[1]), dtype=np.float32)
        self.A_learned = np.zeros((0, len(self.labels)), np.float32)
        self.trained = True

    def _fit_svm(self, X, Y: np.ndarray) -> None:
        """Multi-class linear SVM (single-label data); decision values squashed by a logistic."""
        import warnings

        from sklearn.svm import LinearSVC

        y = Y.argmax(axis=1)
        classes = np.unique(y)
        self.W = sp.csr_matrix((len(self.labels), X.shape[1]), dtype=np.float32)
        self.b = np.full(len(self.labels), -5.0, np.float32)
        if len(classes) == 1:
            self.b[classes[0]] = 5.0
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LinearSVC(C=self.params["C"]).fit(X, y)
        coef = clf.coef_ if len(classes) > 2 else np.vstack([-clf.coef_, clf.coef_])
        icpt = clf.intercept_ if len(classes) > 2 else np.array([-clf.intercept_[0], clf.intercept_[0]])
        coef = coef.astype(np.float32)
        coef[np.abs(coef) < 1e-3] = 0.0
        rows = np.zeros(len(self.labels), np.int64)
        rows[classes] = np.arange(len(classes)) + 1
        full = sp.vstack([sp.csr_matrix((1, X.shape[1]), dtype=np.float32), sp.csr_matrix(coef)]).tocsr()
        self.W = full[rows]
        self.b[classes] = icpt

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        # float32 throughout: a float64 query would make numpy upcast the (n_train, n_labels) dual weights
        # on every call, which costs more than the product itself
        Q = self._X(texts).astype(np.float32)
        if self.primal:
            S = 1.0 / (1.0 + np.exp(-2.0 * ((Q @ self._csr_T("W")).toarray() + self.b[None, :])))
        else:
            S = (Q @ self._csr_T("X")).toarray() @ self.A
        if self.X_learned.shape[0]:
            S = _pad(S, self.A_learned.shape[1]) + (Q @ self._csr_T("X_learned")).toarray() @ self.A_learned
        return _pad(S, len(self.labels))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        self._check()
        return np.clip(self.raw(texts), 0.0, 1.0).astype(np.float32)

    def learn(self, docs: Sequence[Document]) -> None:
        docs = self._learnable(docs)
        if not docs:
            return
        Xn = self._X([d.text for d in docs]).astype(np.float32)
        Yn = self._targets(docs).toarray() / (1.0 + self.params["lambda"])
        self.X_learned = sp.vstack([self.X_learned, Xn]).tocsr()
        self.A_learned = np.vstack([_pad(self.A_learned, len(self.labels)), Yn.astype(np.float32)])


def _pad(m: np.ndarray, n_cols: int) -> np.ndarray:
    return m if m.shape[1] >= n_cols else np.pad(m, ((0, 0), (0, n_cols - m.shape[1])))
