"""Syllable tokenisation: Vietnamese syllables are space-separated, so this is a Unicode-aware split."""

from __future__ import annotations

import re

from nlp.fold import fold_normalized
from nlp.normalize import normalize

__all__ = ["syllables", "folded_syllables", "tokens", "TOKEN_RE"]

# A token is a run of letters/digits (combining marks allowed inside); everything else separates.
TOKEN_RE = re.compile(r"[^\W_](?:[^\W_]|[\u0300-\u036f])*")


def syllables(text: str) -> list[str]:
    """Lower-cased, normalised syllable tokens: "Lịch sử Bắc Giang, 1.000 năm" →
    ["lịch", "sử", "bắc", "giang", "1", "000", "năm"]."""
    return TOKEN_RE.findall(normalize(text).lower())


def folded_syllables(text: str) -> list[str]:
    """The syllables of ``text`` with diacritics folded: ["lich", "su", "bac", "giang", ...]."""
    return TOKEN_RE.findall(fold_normalized(normalize(text)))


def tokens(text: str, *, folded: bool = False) -> list[str]:
    """``syllables(text)`` or, with ``folded=True``, ``folded_syllables(text)``."""
    return folded_syllables(text) if folded else syllables(text)
