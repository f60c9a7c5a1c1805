"""Subject headings, DDC numbers and indexing text taken from MARC21 bibliographic records.

Works on :class:`pymarc.Record` objects. Headings follow LCSH display form: ``$a`` followed by the
subdivisions ``$v $x $y $z`` (in field order) joined by `` -- ``, NFC, trailing ``.``/``,`` removed.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pymarc import MARCReader, Record

HEADING_TAGS = ("600", "610", "650", "651")
_SUBDIVISIONS = ("v", "x", "y", "z")
_TRAIL = re.compile(r"[\s.,;:/]+$")
_DDC_DIGITS = re.compile(r"\d{3}(?:\.\d+)?")


def _clean(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    return _TRAIL.sub("", value).strip()


def _subfields(fld) -> list[tuple[str, str]]:
    subs = fld.subfields
    out: list[tuple[str, str]] = []
    for sf in subs:
        code, value = (sf.code, sf.value) if hasattr(sf, "code") else sf
        out.append((code, value))
    return out


def heading_of(fld, main_codes: tuple[str, ...] = ("a",)) -> str | None:
    """The display form of one 6XX field, or None when it has no main entry."""
    parts: list[str] = []
    main: list[str] = []
    for code, value in _subfields(fld):
        value = _clean(value)
        if not value:
            continue
        if code in main_codes or (code in ("b", "c", "d", "q", "t") and not parts and fld.tag in ("600", "610")):
            main.append(value)
        elif code in _SUBDIVISIONS and main:
            parts.append(value)
    if not main:
        return None
    return " -- ".join([" ".join(main), *parts])


def headings(record: Record, tags: tuple[str, ...] = ("650",), thesaurus: str | None = None) -> list[str]:
    """Distinct headings of ``record`` in field order. ``thesaurus='0'`` keeps only LCSH (ind2=0)."""
    seen: dict[str, None] = {}
    for fld in record.get_fields(*tags):
        if thesaurus is not None and fld.indicator2 != thesaurus:
            continue
        h = heading_of(fld) if fld.tag in ("650", "651") else heading_of(fld, ("a", "b", "c", "d", "q", "t"))
        if h:
            seen.setdefault(h, None)
    return list(seen)


def ddc(record: Record) -> str | None:
    """The first DDC number of 082 $a with the prime marks removed, e.g. ``363.17998``."""
    for fld in record.get_fields("082"):
        for code, value in _subfields(fld):
            if code != "a":
                continue
            m = _DDC_DIGITS.search(value.replace("/", "").replace("'", ""))
            if m:
                return m.group(0)
    return None


def ddc_at_depth(number: str, depth: int | None) -> str:
    """``363.17998`` at depth 1 -> ``3``, 2 -> ``36``, 3 -> ``363``; None keeps the full number."""
    if depth is None:
        return number
    return number.replace(".", "")[:depth]


def indexing_text(record: Record) -> str:
    """245 $a $b, 520 $a, 505 $a and 500 $a, NFC, one line per field."""
    lines: list[str] = []
    for fld in record.get_fields("245"):
        parts = [v for c, v in _subfields(fld) if c in ("a", "b")]
        if parts:
            lines.append(_clean(" ".join(parts)))
    for tag in ("520", "505", "500"):
        for fld in record.get_fields(tag):
            parts = [v for c, v in _subfields(fld) if c == "a"]
            if parts:
                lines.append(_clean(" ".join(parts)))
    return unicodedata.normalize("NFC", "\n".join(x for x in lines if x))


def control_number(record: Record) -> str:
    f = record.get_fields("001")
    return f[0].data.strip() if f else ""


def is_test_record(cn: str) -> bool:
    """The bench's deterministic 80/20 split: test when sha1(001) % 5 == 0."""
    return int(hashlib.sha1(cn.encode("utf-8")).hexdigest(), 16) % 5 == 0


@dataclass
class MarcDoc:
    id: str
    text: str
    headings: list[str] = field(default_factory=list)
    ddc: str | None = None


def read_marc(path: Path, *, tags: tuple[str, ...] = ("650",), thesaurus: str | None = None) -> Iterator[MarcDoc]:
    """Yield one :class:`MarcDoc` per record of a (gzipped) binary MARC file; unreadable records are skipped."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        for rec in MARCReader(fh, to_unicode=True, force_utf8=True):
            if rec is None:
                continue
            yield MarcDoc(control_number(rec), indexing_text(rec), headings(rec, tags, thesaurus), ddc(rec))
