"""Facet counts over the matched records: library, language, decade, type, top subjects."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from search.store import DocStore

__all__ = ["FacetValue", "Facets", "compute_facets"]


class FacetValue(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    library: list[FacetValue] = Field(default_factory=list)
    language: list[FacetValue] = Field(default_factory=list)
    decade: list[FacetValue] = Field(default_factory=list, description="'1990s' …")
    type: list[FacetValue] = Field(default_factory=list)
    subject: list[FacetValue] = Field(default_factory=list)


def _count(codes: np.ndarray, values: list[str | None]) -> list[FacetValue]:
    if len(codes) == 0:
        return []
    uniq, counts = np.unique(codes, return_counts=True)
    out = [FacetValue(value=values[u], count=int(c)) for u, c in zip(uniq, counts, strict=True) if u]
    return sorted(out, key=lambda f: (-f.count, f.value))


def compute_facets(store: DocStore, record_slots: np.ndarray, top_subjects: int = 10) -> Facets:
    """Counts over records, one representative slot per matched record (``record_slots``)."""
    s = np.asarray(record_slots, dtype=np.int64)
    years = store.year[s]
    years = years[years >= 0]
    dec_values, dec_counts = np.unique((years // 10) * 10, return_counts=True) if len(years) else ([], [])
    decades = sorted(
        (FacetValue(value=f"{int(d)}s", count=int(c)) for d, c in zip(dec_values, dec_counts, strict=True)),
        key=lambda f: f.value,
        reverse=True,
    )
    subj = store.subject_counts(s, top=top_subjects)
    return Facets(
        library=_count(store.library[s], store.libraries.values),
        language=_count(store.language[s], store.languages.values),
        decade=decades,
        type=_count(store.type[s], store.types.values),
        subject=[FacetValue(value=v, count=c) for v, c in subj],
    )
