"""Text helpers for QA: canonical form, diacritic folding, syllable tokens, sentences, answer matching.

Uses the team's ``nlp.normalize.normalize`` and ``nlp.fold.fold`` where they exist and a small
local equivalent otherwise.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable

try:  # the team's canonical form (NFC + one tone placement + whitespace)
    from nlp.normalize import normalize as _normalize
except ImportError:  # pragma: no cover - nlp is part of the repo

    def _normalize(text: str) -> str:
        return " ".join(unicodedata.normalize("NFC", text).split())


def normalize(text: str) -> str:
    """NFC, unified tone placement, normalised whitespace."""
    return _normalize(text or "")


def _local_fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in text if not unicodedata.combining(c)))


def _load_fold() -> Callable[[str], str]:
    try:
        from nlp.fold import fold as team_fold  # type: ignore[import-not-found]

        return team_fold
    except ImportError:
        return _local_fold


fold: Callable[[str], str] = _load_fold()

_SYLLABLE_RE = re.compile(r"[^\W_]+", re.UNICODE)


def syllables(text: str) -> list[str]:
    """Lower-cased syllables (letters/digits runs) of the canonical form of ``text``."""
    return _SYLLABLE_RE.findall(normalize(text).lower())


def folded_syllables(text: str) -> list[str]:
    """Syllables without diacritics, lower-cased: "Hà Nội" -> ["ha", "noi"]."""
    return [fold(s) for s in syllables(text)]


def has_diacritics(text: str) -> bool:
    return fold(text) != text


_ABBREV = {"tp", "tt", "ts", "ths", "gs", "pgs", "ông", "bà", "st", "mr", "mrs", "dr", "no", "vs", "tr", "q", "p"}
_SENT_END_RE = re.compile(r"(?<=[.!?…])([\"”»)]*)\s+(?=[\"“«(\[]?[A-ZĐÀ-Ỹ0-9])")


def _local_split_sentences(text: str) -> list[str]:
    text = normalize(text)
    out: list[str] = []
    for block in re.split(r"\n+", text):
        block = block.strip()
        if not block:
            continue
        start = 0
        for m in _SENT_END_RE.finditer(block):
            candidate = block[start : m.end(1)].strip()
            last = candidate.rsplit(" ", 1)[-1].rstrip(".").lower() if candidate else ""
            # "TP. Hồ Chí Minh", "1. ", initials like "J. R."
            if last in _ABBREV or (len(last) == 1 and last.isalpha()) or last.isdigit() and len(last) <= 2:
                continue
            if candidate:
                out.append(candidate)
            start = m.end()
        tail = block[start:].strip()
        if tail:
            out.append(tail)
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, per line. A fast regex splitter (the answer path splits every retrieved
    passage on each request; underthesea's splitter costs ~15 ms per passage on this hardware)."""
    return _local_split_sentences(text)


# --- answer matching (SQuAD normalisation adapted to Vietnamese) -------------------------------

_PUNCT = set(string.punctuation) | set("“”‘’«»…–—·")
# Vietnamese has no articles; these function words play their role in answer spans.
_VI_ARTICLES = {"các", "những", "một", "cái", "chiếc", "con", "the", "a", "an"}


def squad_normalize(text: str) -> str:
    """Lower-case, NFC + tone placement, punctuation removed, articles and extra spaces dropped."""
    text = normalize(text).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    return " ".join(w for w in text.split() if w not in _VI_ARTICLES)


def contains_answer(sentence: str, answer: str) -> bool:
    """True when ``answer`` occurs in ``sentence`` after NFC, case-folding and whitespace normalisation."""
    a = " ".join(normalize(answer).casefold().split())
    s = " ".join(normalize(sentence).casefold().split())
    return bool(a) and a in s


def exact_match(prediction: str, gold: str) -> float:
    return float(squad_normalize(prediction) == squad_normalize(gold))


def f1_score(prediction: str, gold: str) -> float:
    p = squad_normalize(prediction).split()
    g = squad_normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common: dict[str, int] = {}
    for w in p:
        common[w] = common.get(w, 0) + 1
    overlap = 0
    for w in g:
        if common.get(w, 0) > 0:
            overlap += 1
            common[w] -= 1
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(p), overlap / len(g)
    return 2 * precision * recall / (precision + recall)
