"""The inventory of Vietnamese syllables, derived from underthesea's bundled word list (Viet74K).

Only tokens with the shape of a Vietnamese syllable are kept (loanword pieces such as "ba-giua" are
split and checked), normalised to one tone placement, lower-cased. ``folded_syllables()`` is the same
set with diacritics stripped: about 2,000 forms that any Vietnamese text typed without marks uses.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from nlp.fold import fold_normalized
from nlp.normalize import is_syllable, normalize

__all__ = ["syllable_inventory", "folded_inventory", "wordlist_path"]

_SPLIT_RE = re.compile(r"[\s\-]+")


def wordlist_path() -> Path | None:
    """Path of underthesea's Viet74K.txt, found without importing underthesea (which is slow)."""
    spec = importlib.util.find_spec("underthesea")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for rel in ("corpus/data/Viet74K.txt", "transformer/Viet74K.txt"):
            path = Path(root) / rel
            if path.is_file():
                return path
    return None


@lru_cache(maxsize=1)
def syllable_inventory() -> frozenset[str]:
    """Accented, normalised, lower-case Vietnamese syllables ("người", "thủy", "hòa"…)."""
    path = wordlist_path()
    if path is None:  # pragma: no cover - underthesea is a hard dependency
        raise RuntimeError("underthesea's Viet74K.txt word list is missing")
    raw = set(_SPLIT_RE.split(path.read_text(encoding="utf-8").lower()))
    tokens = {normalize(t) for t in raw if t.isalpha()}
    return frozenset(t for t in tokens if t and is_syllable(t))


@lru_cache(maxsize=1)
def folded_inventory() -> frozenset[str]:
    """The folded forms of :func:`syllable_inventory` ("nguoi", "thuy", "hoa"…)."""
    return frozenset(fold_normalized(s) for s in syllable_inventory())
