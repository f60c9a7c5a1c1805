"""Diacritic folding: the accent-insensitive form used for matching queries typed without marks."""

from __future__ import annotations

import re
import unicodedata

from nlp.normalize import normalize

__all__ = ["fold", "fold_normalized", "has_diacritics"]

_COMBINING_RE = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {ord("đ"): "d", ord("Đ"): "d", ord("ð"): "d", ord("Ð"): "d"}
    for lo, hi in ((0x00C0, 0x024F), (0x1E00, 0x1EFF)):
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if cp in table:
                continue
            base = _COMBINING_RE.sub("", unicodedata.normalize("NFD", ch))
            if base != ch and base:
                table[cp] = base.lower()
    return table


_TABLE = _build_table()


def fold_normalized(text: str) -> str:
    """Fold text that is already the output of :func:`nlp.normalize.normalize` (skips that step)."""
    text = text.lower().translate(_TABLE)
    if not text.isascii():
        text = _COMBINING_RE.sub("", unicodedata.normalize("NFD", text))
        text = unicodedata.normalize("NFC", text)
    return text


def fold(text: str) -> str:
    """``normalize`` then strip diacritics (đ/Đ → d) and lower-case: "Đà Nẵng" → "da nang"."""
    return fold_normalized(normalize(text))


def has_diacritics(text: str) -> bool:
    """True when ``text`` carries any Vietnamese diacritic (tone mark, vowel mark or đ)."""
    if text.isascii():
        return False
    n = normalize(text)
    return n.lower() != fold_normalized(n)
