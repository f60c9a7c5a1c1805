"""Text analysis for the lexical backends: normalise, lower-case, and (optionally) segment Vietnamese words.

Features are word uni/bi-grams plus character n-grams inside words, which cover Vietnamese
multi-syllable words (as syllable bigrams) and English inflection without a stemmer.
"""

from __future__ import annotations

import re

from nlp.normalize import normalize

_SPACE = re.compile(r"\s+")


def prepare(text: str, *, segment: bool = False) -> str:
    """Canonical lower-cased text; with ``segment`` the Vietnamese words are joined by ``_``."""
    text = normalize(text or "")
    if segment:
        from nlp.segment import segment_words

        return " ".join(segment_words(text))
    return _SPACE.sub(" ", text.lower()).strip()


def make_vectorizer(max_features: int = 400_000, char: bool = True, min_df: int = 2):
    """A TF-IDF featuriser (word 1-2 grams + char_wb 2-5 grams), each block L2-normalised, then together."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    parts = [
        (
            "word",
            TfidfVectorizer(
                token_pattern=r"(?u)\b\w+\b",
                ngram_range=(1, 2),
                min_df=min_df,
                sublinear_tf=True,
                max_features=max_features,
            ),
        )
    ]
    if char:
        parts.append(
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), min_df=min_df, sublinear_tf=True, max_features=max_features
                ),
            )
        )
    return FeatureUnion(parts)


def transform(vectorizer, texts):
    """``vectorizer.transform(texts)``; a :class:`FeatureUnion` of our own (no weights) is applied part by
    part and stacked, which is what it computes, without its per-call dispatch and output checks."""
    import scipy.sparse as sp
    from sklearn.pipeline import FeatureUnion

    if isinstance(vectorizer, FeatureUnion) and not vectorizer.transformer_weights:
        parts = [t.transform(texts) for _, t in vectorizer.transformer_list if t not in ("drop", None)]
        return parts[0].tocsr() if len(parts) == 1 else sp.hstack(parts, format="csr")
    return vectorizer.transform(texts)


def l2_rows(x):
    """Row-normalise a sparse matrix."""
    from sklearn.preprocessing import normalize as _norm

    return _norm(x, norm="l2", copy=False)
