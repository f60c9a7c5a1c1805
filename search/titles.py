"""Known-item search: a query that is a record's title finds that record first.

A librarian or a reader who types a book's exact title expects that book at the top, even when its
words are common ones that hundreds of other records share ("Pháp Luật Về Lao Động" in a library of
law books) or when a long description dilutes them in the record's text. The fused ranking alone
does not promise that, so the index keeps a map from *title keys* to record documents and puts the
records whose title key equals the query's key ahead of the fused ranking.

A title key is the title's syllables after :func:`nlp.normalize.normalize` (NFC, one tone
placement), lower-cased, joined by single spaces: punctuation and spacing do not count. Each title
gives two keys, one accented and one folded (no diacritics), and the same again for the title
proper when the title has a subtitle ("Tắt đèn : tiểu thuyết" also answers "Tắt đèn"). A query typed
with diacritics is compared on the accented key, one typed without them on the folded key.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from nlp.fold import fold_normalized
from nlp.normalize import normalize
from nlp.tokenize import TOKEN_RE

__all__ = ["TitleKeys", "title_keys", "query_title_key", "MAX_TITLE_KEY_TOKENS"]

MAX_TITLE_KEY_TOKENS = 40  # longer titles are not typed in full; their keys are not kept
_SUBTITLE = re.compile(r"\s*[:;=/]\s+")  # ISBD: "title proper : other title information"


def _key(tokens: list[str]) -> str | None:
    if not tokens or len(tokens) > MAX_TITLE_KEY_TOKENS:
        return None
    return " ".join(tokens)


def _syllables(text: str) -> list[str]:
    return TOKEN_RE.findall(normalize(text).lower())


class TitleKeys(NamedTuple):
    """The accented and folded keys of one title (its full form and its title proper)."""

    accented: set[str]
    folded: set[str]


def title_keys(title: str) -> TitleKeys:
    """The keys under which a record with this title is found by a known-item query."""
    text = normalize(title or "")
    forms = dict.fromkeys([text, _SUBTITLE.split(text, maxsplit=1)[0]])
    keys = TitleKeys(set(), set())
    for form in forms:
        toks = _syllables(form)
        for table, key in ((keys.accented, _key(toks)), (keys.folded, _key([fold_normalized(t) for t in toks]))):
            if key is not None:
                table.add(key)
    return keys


def query_title_key(query: str, has_diacritics: bool) -> str | None:
    """The key a query is looked up under: accented when typed with diacritics, folded otherwise."""
    toks = _syllables(query)
    return _key(toks if has_diacritics else [fold_normalized(t) for t in toks])
