"""Sentence splitting: underthesea's Punkt-style splitter, per line, with Vietnamese abbreviations
("TP.", "Nxb.", "GS.", "PGS.", "ThS.", "v.v.") and numbers ("1.000", "3.5") kept inside sentences."""

from __future__ import annotations

import re
from collections.abc import Callable

from nlp.normalize import normalize

__all__ = ["split_sentences", "ABBREVIATIONS"]

# Lower-cased abbreviations that end with "." and do not end a sentence.
_ABBREVIATIONS_TEXT = """
    tp tx nxb gs pgs ts ths th.s ts.bs bs bsck ks cn ths.bs ttưt nsưt nsnd nghsnd gđ pgđ tgđ
    ubnd hđnd q p tt st mr mrs ms dr prof tr vol no nos ed eds pp ch chap fig vs etc tp.hcm
"""
ABBREVIATIONS: frozenset[str] = frozenset(_ABBREVIATIONS_TEXT.split())
_LAST_TOKEN_RE = re.compile(r"(\S+)\.$")
_sent_tokenize: Callable[[str], list[str]] | None = None


def _splitter() -> Callable[[str], list[str]]:
    global _sent_tokenize
    if _sent_tokenize is None:
        from underthesea import sent_tokenize

        _sent_tokenize = sent_tokenize
    return _sent_tokenize


def _ends_with_abbreviation(sentence: str) -> bool:
    m = _LAST_TOKEN_RE.search(sentence)
    if not m:
        return False
    token = m.group(1).lstrip("(\"'“‘[").lower()
    return token in ABBREVIATIONS


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (normalised). Each non-empty line is split on its own, so headings and
    list items without a final full stop stay separate sentences."""
    text = normalize(text)
    if not text:
        return []
    split = _splitter()
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        pieces = [p.strip() for p in split(line) if p.strip()]
        merged: list[str] = []
        for piece in pieces:
            if merged and _ends_with_abbreviation(merged[-1]):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        out.extend(merged)
    return out
