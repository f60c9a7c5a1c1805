"""Content features of items: TF-IDF over title words plus one token per author.

This is the embedding-free content representation (cheap for hundreds of thousands of books), the
content component when there are no record embeddings; with embeddings (:func:`centre`) it is kept
as a second content component (see :mod:`recommender.training`). :func:`stack` concatenates both
into one matrix. Rows are L2-normalised, so dot products are cosines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "and",
        "in",
        "to",
        "for",
        "on",
        "with",
        "de",
        "la",
        "le",
        "les",
        "der",
        "die",
        "das",
        "und",
        "el",
        "y",
        "du",
        "des",
    ]
)


def fold(text: str) -> str:
    """Lower-case, NFC; a helper for token matching (diacritics are kept)."""
    return unicodedata.normalize("NFC", text or "").lower()


def tokens(title: str, authors: Sequence[str] = (), subjects: Sequence[str] = ()) -> list[str]:
    out = [w for w in _WORD.findall(fold(title)) if len(w) > 1 and w not in _STOP and not w.isdigit()]
    for a in authors:
        key = " ".join(_WORD.findall(fold(a)))
        if key:
            out.extend([f"au:{key}"] * 2)
    for s in subjects:
        key = " ".join(_WORD.findall(fold(s.split(" -- ")[0])))
        if key:
            out.append(f"su:{key}")
    return out


def tfidf(docs: Sequence[Sequence[str]], min_df: int = 1) -> sp.csr_matrix:
    """Sublinear-tf, smoothed-idf TF-IDF of token lists, L2-normalised rows (float32)."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, doc in enumerate(docs):
        for t in doc:
            rows.append(r)
            cols.append(vocab.setdefault(t, len(vocab)))
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(len(docs), len(vocab)),
    )
    m.sum_duplicates()
    m.data = 1.0 + np.log(m.data)
    df = np.bincount(m.indices, minlength=m.shape[1])
    keep = df >= min_df
    idf = (np.log((1 + len(docs)) / (1 + df)) + 1.0).astype(np.float32) * keep
    m = (m @ sp.diags(idf)).tocsr()
    m.eliminate_zeros()
    return normalise_rows(m)


def normalise_rows(m):
    if sp.issparse(m):
        n = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        return (sp.diags((1.0 / np.maximum(n, 1e-12)).astype(np.float32)) @ m).tocsr().astype(np.float32)
    m = np.asarray(m, dtype=np.float32)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def stack(sparse_part: sp.csr_matrix, dense_part: np.ndarray | None, dense_weight: float = 1.0) -> sp.csr_matrix:
    """[tfidf | w * embedding], renormalised; rows without an embedding keep the TF-IDF part only."""
    if dense_part is None:
        return sparse_part
    return normalise_rows(sp.hstack([sparse_part, sp.csr_matrix(dense_part * dense_weight)]).tocsr())


def centre(dense: np.ndarray) -> np.ndarray:
    """Record embeddings as content vectors: the mean vector removed, rows L2-normalised (float32).

    Text embeddings of short catalogue texts all sit in a narrow cone (cosines 0.7–0.9 between any
    two books); taking out the common direction spreads the cosines around 0, so a patron's
    normalised content scores say how much closer an item is than an average book."""
    x = np.asarray(dense, dtype=np.float32)
    return normalise_rows(x - x.mean(axis=0, keepdims=True))
