"""Questions about a book's catalogue record ("Ai là tác giả Tắt đèn?", "Số đỏ xuất bản năm nào?").

The answer is a fact of the record itself (its authors or year), not a sentence of its full text, so
it is read from the retrieved record's metadata and cited to that record. Only when the question
names the record's title (word for word, with or without diacritics) and asks for its author or year.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nlp.tokenize import folded_syllables
from qa_service.types import Passage

# On folded text (no diacritics, lower case).
_AUTHOR = re.compile(
    r"\b(ai la tac gia|tac gia (cua|cuon|quyen|sach|tac pham|truyen|bo)|tac gia la ai|(do|la) ai (viet|sang tac)"
    r"|ai (da )?(viet|sang tac)|ai la nguoi (viet|sang tac)|who (wrote|is the author)|author of)\b"
)
_YEAR = re.compile(
    r"\b((xuat ban|ra doi|in|viet|sang tac)( vao)? (nam nao|khi nao|bao gio|luc nao)"
    r"|nam nao .*(xuat ban|ra doi)|when was .* (published|written))\b"
)


@dataclass
class CatalogueFact:
    passage: Passage
    answer: str
    short: str


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def catalogue_fact(question: str, passages: Sequence[Passage], language: str = "vi") -> CatalogueFact | None:
    """The author or year of the record whose title the question names, if that is what it asks."""
    folded = " ".join(folded_syllables(question))
    kind = "author" if _AUTHOR.search(folded) else "year" if _YEAR.search(folded) else None
    if kind is None:
        return None
    q = folded.split()
    named = [p for p in passages if p.title and _contains(q, folded_syllables(p.title))]
    if not named:
        return None
    best = max(named, key=lambda p: (len(folded_syllables(p.title)), p.score))
    if kind == "author" and best.authors:
        short = ", ".join(best.authors)
        answer = f"“{best.title}” is by {short}." if language == "en" else f"«{best.title}» là tác phẩm của {short}."
    elif kind == "year" and best.year:
        short = str(best.year)
        answer = (
            f"“{best.title}” was published in {short}." if language == "en" else f"«{best.title}» xuất bản năm {short}."
        )
    else:
        return None
    return CatalogueFact(best, answer, short)
