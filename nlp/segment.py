"""Vietnamese word segmentation with underthesea's CRF model (bundled in the package, offline).

``segment_words("Lịch sử Bắc Giang")`` → ``["lịch_sử", "bắc_giang"]``: normalised, lower-cased, the
syllables of a multi-syllable word joined by ``_``, punctuation dropped. ``segment`` keeps underthesea's
own form (original case, syllables joined by spaces, punctuation kept). The model loads on first use
(about a second); a query then takes well under a millisecond. Calls are serialised by a lock because
the CRF tagger is shared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache

from nlp.normalize import normalize
from nlp.tokenize import TOKEN_RE

__all__ = ["segment", "segment_words", "warm_up"]

_lock = threading.Lock()
_word_tokenize: Callable[..., list[str]] | None = None


def _tokenizer() -> Callable[..., list[str]]:
    global _word_tokenize
    if _word_tokenize is None:
        with _lock:
            if _word_tokenize is None:
                from underthesea import word_tokenize

                word_tokenize("khởi động")  # loads the CRF model now, not inside a request
                _word_tokenize = word_tokenize
    return _word_tokenize


def warm_up() -> None:
    """Load the segmentation model now (e.g. at service start-up)."""
    _tokenizer()


def segment(text: str) -> list[str]:
    """underthesea's words of the normalised text: ``["Lịch sử", "Bắc Giang", ","]``."""
    text = normalize(text)
    if not text:
        return []
    tok = _tokenizer()
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            with _lock:
                out.extend(tok(line))
    return out


@lru_cache(maxsize=20_000)
def _segment_words_cached(text: str) -> tuple[str, ...]:
    words = []
    for word in segment(text):
        parts = TOKEN_RE.findall(word.lower())
        if parts:
            words.append("_".join(parts))
    return tuple(words)


def segment_words(text: str) -> list[str]:
    """Lower-cased words, multi-syllable words joined by ``_``: ``["lịch_sử", "bắc_giang"]``."""
    if len(text) > 2000:
        return list(_segment_words_cached.__wrapped__(text))
    return list(_segment_words_cached(text))
