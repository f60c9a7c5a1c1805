"""Query analysis: the first step of every search.

``analyze_query("lich su bac giang", restorer)`` normalises, folds, tokenises, identifies the language
and, for a Vietnamese query typed without diacritics, restores them with the collection's
:class:`~nlp.restore.DiacriticRestorer` (the "did you mean" text, and the better text to embed).
Everything but word segmentation takes well under a millisecond; segmentation (underthesea CRF,
about a millisecond) can be switched off with ``segment=False``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from nlp.fold import fold_normalized
from nlp.langid import detect_language
from nlp.normalize import normalize
from nlp.restore import DiacriticRestorer
from nlp.tokenize import TOKEN_RE

__all__ = ["QueryAnalysis", "analyze_query"]

# Languages for which diacritic restoration is attempted ("und": too short to tell).
_RESTORABLE_LANGS = frozenset({"vi", "und"})


class QueryAnalysis(BaseModel):
    original: str = Field(description="the query as received")
    normalized: str = Field(description="NFC, one tone placement, clean whitespace")
    folded: str = Field(description="normalized, without diacritics, lower case")
    has_diacritics: bool
    language: str = Field(description="ISO 639-1 code or 'und'")
    language_score: float = Field(0.0, ge=0.0, le=1.0)
    restored: str | None = Field(
        None, description="the query with diacritics restored (the 'did you mean' text), when it differs"
    )
    dense_query: str = Field(description="the text to embed: restored when available, else normalized")
    tokens: list[str] = Field(default_factory=list, description="lower-case syllables of the normalized query")
    folded_tokens: list[str] = Field(default_factory=list, description="the same syllables, folded")
    restored_tokens: list[str] | None = Field(None, description="syllables of the restored query")
    words: list[str] | None = Field(
        None, description="segmented words ('lịch_sử'); of the restored query when there is one"
    )

    # Dict-style reads, for callers written against the JSON form (``analysis["tokens"]``).
    def __getitem__(self, key: str):
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default=None):
        return getattr(self, key) if key in type(self).model_fields else default


def analyze_query(q: str, restorer: DiacriticRestorer | None = None, *, segment: bool = True) -> QueryAnalysis:
    """Analyse a search query (see the module docstring). Never raises on odd input; empty input
    gives an empty analysis with language 'und'."""
    normalized = normalize(q)
    folded = fold_normalized(normalized)
    has_marks = not normalized.isascii() and normalized.lower() != folded
    guess = detect_language(normalized)
    restored: str | None = None
    if restorer is not None and not has_marks and guess.lang in _RESTORABLE_LANGS and normalized:
        restored = restorer.suggestion(normalized)
    tokens = TOKEN_RE.findall(normalized.lower())
    words: list[str] | None = None
    if segment and normalized:
        from nlp.segment import segment_words

        words = segment_words(restored or normalized)
    return QueryAnalysis(
        original=q,
        normalized=normalized,
        folded=folded,
        has_diacritics=has_marks,
        language=guess.lang,
        language_score=guess.score,
        restored=restored,
        dense_query=restored or normalized,
        tokens=tokens,
        folded_tokens=TOKEN_RE.findall(folded),
        restored_tokens=TOKEN_RE.findall(restored.lower()) if restored else None,
        words=words,
    )
