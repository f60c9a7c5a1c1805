"""Unicode and orthographic normalisation of Vietnamese text.

``normalize`` makes one canonical form for indexing and for queries:

* Unicode NFC (LoC MARC and some keyboards send decomposed combining marks);
* one tone-mark placement, the traditional style used by most Vietnamese publishers and
  dictionaries: "hoà"→"hòa", "thuỷ"→"thủy", "khoẻ"→"khỏe", "qúy"→"quý", while "hoàn",
  "thuyết", "người", "khuỷu" keep their marks where they belong;
* compatibility variants folded (full-width and half-width forms, ligatures, non-breaking and other
  exotic spaces), control and invisible format characters removed (``\\n`` and ``\\t`` are kept as
  whitespace);
* whitespace normalised: runs of spaces/tabs become one space, lines are right-stripped, at most one
  blank line in a row, and the whole text is stripped.

The function is idempotent: ``normalize(normalize(x)) == normalize(x)``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["normalize", "normalize_syllable", "is_syllable", "TONE_MARKS"]

# Combining tone marks: grave (huyền), acute (sắc), tilde (ngã), hook above (hỏi), dot below (nặng).
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Some old encodings (VNI/TCVN conversions) produce these look-alikes for grave/acute.
_TONE_ALIASES = {"\u0340": "\u0300", "\u0341": "\u0301"}

_VOWELS = frozenset("aăâeêioôơuưy")
_MODIFIED_VOWELS = frozenset("ăâêôơư")
_ONSETS = (
    # longest first so that the greedy match is right
    "ngh",
    "ch",
    "gh",
    "gi",
    "kh",
    "ng",
    "nh",
    "ph",
    "qu",
    "th",
    "tr",
    "b",
    "c",
    "d",
    "đ",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "x",
    "",
)
_CODAS = frozenset({"", "c", "ch", "m", "n", "ng", "nh", "p", "t"})
# Vowel nuclei of Vietnamese (without tone marks, after the onset is removed).
_NUCLEI_TEXT = """
    a ă â e ê i o ô ơ u ư y ai ao au ay âu ây eo êu ia iê iu oa oă oe oi ôi ơi oo ua uâ uê ui
    uô uơ uy ưa ưi ươ ưu yê iêu oai oao oay oeo uây uôi uya uyê uyu ươi ươu yêu
"""
_NUCLEI: frozenset[str] = frozenset(_NUCLEI_TEXT.split())


_WORD_RE = re.compile(r"[^\W\d_](?:[^\W\d_]|[\u0300-\u036f])*")
_HSPACE_RE = re.compile(r"[ \t]+")
_TRAILING_SPACE_RE = re.compile(r" +\n")
_LEADING_SPACE_RE = re.compile(r"\n +")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")


# Only these blocks hold characters that need a per-character mapping (controls, spaces,
# invisible format characters, tone-mark aliases, full/half-width forms, ligatures, math letters).
_TABLE_RANGES = (
    (0x0000, 0x00FF),
    (0x0340, 0x0341),
    (0x061C, 0x061C),
    (0x0600, 0x0605),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x206F),
    (0x3000, 0x3000),
    (0xFB00, 0xFB06),
    (0xFEFF, 0xFEFF),
    (0xFF00, 0xFFEF),
    (0xFFF9, 0xFFFB),
    (0x1D400, 0x1D7FF),
    (0xE0000, 0xE007F),
)
_TABLE_CODEPOINTS = [cp for lo, hi in _TABLE_RANGES for cp in range(lo, hi + 1)]


def _build_char_table() -> dict[int, str | None]:
    """One ``str.translate`` table for everything that is a per-character mapping."""
    table: dict[int, str | None] = {cp: None for cp in range(0xD800, 0xE000)}  # lone surrogates
    for cp in _TABLE_CODEPOINTS:
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if ch in "\n\t":
            continue
        if ch == "\r" or ch in "\u2028\u2029\x85":
            table[cp] = "\n"
        elif cat == "Cc":
            # vertical tab / form feed separate like spaces; other controls are dropped
            table[cp] = " " if ch in "\x0b\x0c" else None
        elif cat == "Zs" or ch == "\u180e":
            if ch != " ":
                table[cp] = " "
        elif cat == "Cf":
            # soft hyphen, zero-width (non)joiners/spaces, BOM, bidi marks and other invisibles
            table[cp] = None
        elif cp in _TONE_ALIASES_CP:
            table[cp] = _TONE_ALIASES[ch]
        else:
            decomp = unicodedata.decomposition(ch)
            if decomp.startswith(("<wide>", "<narrow>", "<font>")) or 0xFB00 <= cp <= 0xFB06:
                mapped = unicodedata.normalize("NFKC", ch)
                if mapped != ch:
                    table[cp] = mapped
    return table


_TONE_ALIASES_CP = {ord(k) for k in _TONE_ALIASES}
_CHAR_TABLE: dict[int, str | None] | None = None


_SPECIAL_RE: re.Pattern[str] | None = None


def _char_table() -> dict[int, str | None]:
    global _CHAR_TABLE
    if _CHAR_TABLE is None:
        _CHAR_TABLE = _build_char_table()
    return _CHAR_TABLE


def _special_re() -> re.Pattern[str]:
    """Matches any character that the translation table changes (a fast pre-check)."""
    global _SPECIAL_RE
    if _SPECIAL_RE is None:
        keys = sorted(_char_table())
        ranges: list[tuple[int, int]] = []
        for cp in keys:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
        cls = "".join(
            re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges
        )
        _SPECIAL_RE = re.compile(f"[{cls}]")
    return _SPECIAL_RE


def _split_tone(word: str) -> tuple[str, list[str]]:
    """Return ``word`` without tone marks (NFC) and the list of tone marks it carried."""
    nfd = unicodedata.normalize("NFD", word)
    tones = [c for c in nfd if c in TONE_MARKS]
    if not tones:
        return word, tones
    base = "".join(c for c in nfd if c not in TONE_MARKS)
    return unicodedata.normalize("NFC", base), tones


def _tone_index(lower: str) -> int | None:
    """Index in ``lower`` (tone-less, lower-case, NFC) of the vowel that carries the tone.

    None when the word is not a well-formed Vietnamese syllable (loanwords, foreign names…).
    """
    for onset in _ONSETS:
        if not lower.startswith(onset):
            continue
        rest = lower[len(onset) :]
        if onset == "gi" and (not rest or rest[0] not in _VOWELS):
            continue  # "gì", "gìn": the i is the vowel, the onset is g
        if onset == "qu" and (not rest or rest[0] not in _VOWELS):
            continue
        i = 0
        while i < len(rest) and rest[i] in _VOWELS:
            i += 1
        nucleus, coda = rest[:i], rest[i:]
        if nucleus not in _NUCLEI or coda not in _CODAS:
            return None
        start = len(onset)
        modified = [k for k, c in enumerate(nucleus) if c in _MODIFIED_VOWELS]
        if modified:
            pos = modified[-1]  # ươ → ơ, uyê → ê, ưu → ư
        elif len(nucleus) == 3:
            pos = 1  # oai → a, uyu → y, oeo → e
        elif len(nucleus) == 2:
            pos = 1 if coda else 0  # hoàn / hòa, huỳnh / thủy
        else:
            pos = 0
        return start + pos
    return None


def is_syllable(word: str) -> bool:
    """True when ``word`` has the shape of one Vietnamese syllable (onset, vowel nucleus, final
    consonant, at most one tone mark). Shape only: "ban" and "thuy" pass, "the" passes, "with" fails."""
    base, tones = _split_tone(unicodedata.normalize("NFC", word))
    return len(tones) <= 1 and _tone_index(base.lower()) is not None


@lru_cache(maxsize=200_000)
def normalize_syllable(word: str) -> str:
    """Re-place the tone mark of one NFC word; words that are not Vietnamese syllables are kept."""
    base, tones = _split_tone(word)
    if len(tones) != 1:
        return word
    idx = _tone_index(base.lower())
    if idx is None:
        return word
    toned = unicodedata.normalize("NFC", base[idx] + tones[0])
    return base[:idx] + toned + base[idx + 1 :]


def _fix_word(match: re.Match[str]) -> str:
    return normalize_syllable(match.group(0))


@lru_cache(maxsize=200_000)
def _fix_chunk(chunk: str) -> str:
    """Normalise the words of one space-free chunk ("hoá," → "hóa,"); cached per chunk."""
    if chunk.isascii():
        return chunk
    return _WORD_RE.sub(_fix_word, chunk)


def normalize(text: str) -> str:
    """Canonical form of ``text`` for comparison, indexing and display (see module docstring)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if _special_re().search(text):
        text = unicodedata.normalize("NFC", text.translate(_char_table()))
    if "\t" in text or "  " in text:
        text = _HSPACE_RE.sub(" ", text)
    if not text.isascii():
        text = " ".join(map(_fix_chunk, text.split(" ")))
    if "\n" in text:
        text = _TRAILING_SPACE_RE.sub("\n", text)
        text = _LEADING_SPACE_RE.sub("\n", text)
        text = _MANY_NEWLINES_RE.sub("\n\n", text)
    return text.strip()
