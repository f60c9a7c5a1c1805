"""Hybrid search: BM25 over accented and folded syllables + FAISS dense vectors, fused, with
known-item title matches first, filters, facets, snippets and chunk hits grouped under their record. Entry point:
:class:`search.index.SearchIndex`."""

from search.dense import ModelMismatchError
from search.documents import IndexDoc, docs_for_record
from search.filters import Filters, UnknownFilterValue
from search.fusion import FusionConfig, Weights
from search.index import SearchIndex
from search.results import Hit, Passage, QueryInput, SearchResult

__all__ = [
    "SearchIndex",
    "IndexDoc",
    "docs_for_record",
    "Filters",
    "UnknownFilterValue",
    "ModelMismatchError",
    "FusionConfig",
    "Weights",
    "SearchResult",
    "Hit",
    "Passage",
    "QueryInput",
]
