"""MARC 21 importers: binary ISO 2709 (``read_marc``) and MARCXML (``read_marcxml``).

Binary records are framed by their leader length and the record terminator (0x1D). A record whose
length is wrong, which is truncated, or whose bytes are garbled becomes one error item
("record N: …") and reading resumes at the next record terminator, so one bad record never hides
the rest of the file. Records are parsed by pymarc 5 (UTF-8 forced, strict decoding: invalid bytes
are an error, never mojibake). Mapping to :class:`Record` is in :func:`marc_to_record`.
"""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pymarc
from pydantic import ValidationError

from catalog.importers.base import (
    ImportItem,
    file_error,
    open_binary,
    read_head,
    stable_id,
    validation_message,
)
from catalog.languages import to_iso639_1
from catalog.model import Record
from catalog.text import clean_line, clean_list, clean_text

RT = 0x1D  # record terminator
_READ = 1 << 20
_YEAR_RE = re.compile(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)")
_TRAIL_RE = re.compile(r"[\s,;:/=+]+$")
_INITIAL_RE = re.compile(r"(?:^|[\s.])[A-ZÀ-ÝĐ]\.$|\b(?:etc|Jr|Sr|Co|Inc|Ltd|Bros|St|Dept|U\.S|D\.C)\.$")
_SUBJECT_TAGS = ("600", "610", "611", "630", "650", "651")
_SUBDIVISIONS = ("v", "x", "y", "z")
_NAME_PARTS = {
    "600": "abcdq", "610": "abcd", "611": "acdn", "630": "adfklnp", "650": "ab", "651": "a",
}  # fmt: skip


# ----------------------------------------------------------------------------- cleaning helpers


def strip_trailing(value: str | None, keep_abbrev: bool = True) -> str | None:
    """Remove trailing ISBD/cataloguing punctuation (" /", " :", ",", ";", "=", "."), keeping a
    final period after an initial or a common abbreviation ("Bergey, D. H.", "etc.")."""
    if value is None:
        return None
    v = _TRAIL_RE.sub("", value.strip())
    while v.endswith(".") and not v.endswith("..."):
        if keep_abbrev and _INITIAL_RE.search(v):
            break
        v = _TRAIL_RE.sub("", v[:-1].rstrip())
    return v or None


def _sub(field: pymarc.Field, codes: str) -> list[str]:
    return [sf.value for sf in field.subfields if sf.code in codes and sf.value and sf.value.strip()]


def clean_isbn(value: str) -> str | None:
    """The ISBN at the start of a 020 $a ("0-19-852663-6 (pbk.)" → "0198526636"), or None."""
    s = value.strip().upper()
    m = re.match(r"^[\dX\- ]{10,17}", s)
    if not m:
        return None
    digits = re.sub(r"[^\dX]", "", m.group(0))
    if len(digits) == 13 and digits.isdigit():
        return digits
    if len(digits) == 10 and digits[:9].isdigit():
        return digits
    return None


def clean_ddc(value: str) -> str | None:
    """082 $a without segmentation marks and primes ("509/.2" → "509.2")."""
    v = re.sub(r"[/'′]", "", value).strip()
    v = strip_trailing(v, keep_abbrev=False) if v else None
    return v or None


def subject_heading(field: pymarc.Field) -> str | None:
    """``$a`` (with the name/title parts of 600/610/611/630) plus subdivisions ``$v $x $y $z``
    joined by " -- ", NFC, with the trailing punctuation of the heading removed — the definition
    of loc-marc/README (which counts 30,564 distinct LCSH headings in dev.mrc.gz)."""
    main_codes = _NAME_PARTS.get(field.tag, "a")
    main: list[str] = []
    parts: list[str] = []
    for sf in field.subfields:
        val = clean_line(sf.value)
        if not val:
            continue
        if sf.code in main_codes and not parts:
            main.append(val)
        elif sf.code in _SUBDIVISIONS:
            parts.append(val)
    if not main:
        return None
    heading = " -- ".join([" ".join(main), *parts]).rstrip(" .")
    return heading or None


# ----------------------------------------------------------------------------- mapping


def _first(record: pymarc.Record, tag: str) -> pymarc.Field | None:
    fields = record.get_fields(tag)
    return fields[0] if fields else None


def _title(record: pymarc.Record) -> str | None:
    f = _first(record, "245")
    if f is None:
        return None
    out = ""
    for sf in f.subfields:
        if sf.code not in "abnp" or not sf.value:
            continue
        val = clean_line(sf.value)
        val = _TRAIL_RE.sub("", val or "")
        if not val:
            continue
        if not out:
            out = val
        elif sf.code == "b":
            out = f"{strip_trailing(out)} : {val}"
        else:
            out = f"{strip_trailing(out)}. {val}"
    return strip_trailing(out) if out else None


def _record_type(record: pymarc.Record) -> str:
    leader = str(record.leader)
    t6 = leader[6] if len(leader) > 6 else "a"
    t7 = leader[7] if len(leader) > 7 else "m"
    if t6 in "at":
        if t7 in "bis":
            return "serial"
        if t7 in "ad":
            return "article"
        f008 = _first(record, "008")
        nature = f008.data[24:28] if f008 is not None and f008.data else ""
        if record.get_fields("502") or "m" in nature:
            return "thesis"
        return "book"
    return {"c": "music", "d": "music", "j": "music", "e": "map", "f": "map", "g": "video"}.get(t6, "other")


def _language(record: pymarc.Record) -> str | None:
    f008 = _first(record, "008")
    code = f008.data[35:38] if f008 is not None and f008.data and len(f008.data) >= 38 else ""
    lang = to_iso639_1(code) if re.fullmatch(r"[a-z]{3}", code or "") else None
    if lang is None:
        for f in record.get_fields("041"):
            for v in _sub(f, "a"):
                v = v.strip().lower()
                if re.match(r"^[a-z]{3}", v):
                    lang = to_iso639_1(v[:3])
                    if lang:
                        return lang
    return lang


def _year(record: pymarc.Record) -> int | None:
    candidates: list[pymarc.Field] = []
    f264 = record.get_fields("264")
    candidates += [f for f in f264 if f.indicator2 == "1"] + [f for f in f264 if f.indicator2 != "1"]
    candidates = record.get_fields("260") + candidates
    for f in candidates:
        for v in _sub(f, "c"):
            m = _YEAR_RE.search(v)
            if m:
                return int(m.group(1))
    f008 = _first(record, "008")
    if f008 is not None and f008.data and len(f008.data) >= 11:
        d = f008.data[7:11]
        if d.isdigit() and 1000 <= int(d) <= 2100:
            return int(d)
    return None


def _publisher(record: pymarc.Record) -> str | None:
    f264 = [f for f in record.get_fields("264") if f.indicator2 == "1"]
    for f in record.get_fields("260") + f264:
        vals = _sub(f, "b")
        if vals:
            return strip_trailing(clean_line(vals[0]))
    return None


def _authors(record: pymarc.Record) -> list[str]:
    names: list[str] = []
    for tag in ("100", "110", "111", "700", "710", "711"):
        for f in record.get_fields(tag):
            codes = "a" if tag in ("100", "700") else ("ab" if tag in ("110", "710") else "a")
            parts = [strip_trailing(clean_line(v)) for v in _sub(f, codes)]
            name = ". ".join(p for p in parts if p)
            if name:
                names.append(name)
    return clean_list(names)


def _joined(f: pymarc.Field, codes: str | None = None) -> str | None:
    vals = [v for sf in f.subfields if (codes is None or sf.code in codes) and (v := sf.value)]
    return clean_line(" ".join(vals)) if vals else None


def _control_id(record: pymarc.Record) -> str | None:
    f = _first(record, "001")
    if f is not None and f.data and f.data.strip():
        return clean_line(f.data.strip())
    for f in record.get_fields("035"):
        for v in _sub(f, "a"):
            v = clean_line(v)
            if v:
                return re.sub(r"\s+", "", v)
    for f in record.get_fields("020"):
        for v in _sub(f, "a"):
            isbn = clean_isbn(v)
            if isbn:
                return f"isbn-{isbn}"
    return None


def marc_to_record(record: pymarc.Record, library_id: str) -> Record:
    """Map a pymarc record to :class:`Record` (see the module docs of the mapping in DESIGN).

    Raises ``ValueError`` naming the field when the record cannot make a valid Record."""
    title = _title(record)
    rid = _control_id(record)
    if not rid:
        # no 001/035/020: a stable id from the content, so re-imports find the same record
        rid = stable_id("marc", title, "|".join(_authors(record)), _year(record))
    f082 = _first(record, "082")
    ddc = None
    if f082 is not None:
        vals = _sub(f082, "a")
        ddc = clean_ddc(vals[0]) if vals else None
    isbns: list[str] = []
    for f in record.get_fields("020"):
        for v in _sub(f, "a"):
            i = clean_isbn(v)
            if i and i not in isbns:
                isbns.append(i)
    summaries: list[str] = []
    notes: list[str] = []
    for f in record.fields:
        if not (f.tag.startswith("5") and len(f.tag) == 3) or f.is_control_field():
            continue
        text = _joined(f, "abcdefghijklmnopqrstuvwxyz")
        if not text:
            continue
        (summaries if f.tag == "520" else notes).append(text)
    series = [strip_trailing(_joined(f, "av")) for f in record.get_fields("490", "440", "830")]
    f250 = _first(record, "250")
    f300 = _first(record, "300")
    data: dict[str, Any] = {
        "id": rid,
        "library_id": library_id,
        "title": title,
        "authors": _authors(record),
        "publisher": _publisher(record),
        "year": _year(record),
        "language": _language(record),
        "isbn": isbns,
        "ddc": ddc,
        "subjects": clean_list(subject_heading(f) for f in record.get_fields(*_SUBJECT_TAGS)),
        "type": _record_type(record),
        "summary": clean_text("\n\n".join(summaries)) if summaries else None,
        "notes": clean_list(notes),
        "edition": strip_trailing(_joined(f250, "ab")) if f250 is not None else None,
        "series": clean_list(series),
        "extent": strip_trailing(_joined(f300, "abce"), keep_abbrev=True) if f300 is not None else None,
    }
    if not data["title"]:
        raise ValueError("245: no title ($a) / thiếu nhan đề")
    data = {k: v for k, v in data.items() if v is not None}
    try:
        return Record(**data)
    except ValidationError as e:
        raise ValueError(validation_message(e)) from None


# ----------------------------------------------------------------------------- binary reader


def iter_marc_chunks(f: IO[bytes]) -> Iterator[tuple[int, bytes, str | None]]:
    """``(record_number, bytes, framing_problem)`` for each record of an ISO 2709 stream.

    Framing: the 5-digit leader length is trusted when the byte before that offset is the record
    terminator; otherwise the record ends at the next terminator and a problem is reported.
    """
    buf = b""
    pos = 0  # start of the unread part of buf
    eof = False
    n = 0

    def fill(need: int) -> None:
        """Make at least ``need`` unread bytes available (unless at EOF)."""
        nonlocal buf, pos, eof
        if len(buf) - pos >= need or eof:
            return
        parts = [buf[pos:]]
        have = len(parts[0])
        while have < need:
            more = f.read(max(_READ, need - have))
            if not more:
                eof = True
                break
            parts.append(more)
            have += len(more)
        buf, pos = b"".join(parts), 0

    while True:
        fill(_READ)
        # skip inter-record whitespace / newlines some exporters add
        while pos < len(buf) and buf[pos] in b"\r\n\t \x00":
            pos += 1
            if pos == len(buf):
                fill(_READ)
        if pos >= len(buf):
            return
        n += 1
        head = buf[pos : pos + 5]
        length = int(head) if len(head) == 5 and head.isdigit() else None
        if length is not None and length >= 24:
            fill(length)
            if len(buf) - pos >= length and buf[pos + length - 1] == RT:
                chunk = buf[pos : pos + length]
                pos += length
                yield n, chunk, None
                continue
        # resynchronise: at the next well-framed leader, or after the next record terminator
        idx = buf.find(b"\x1d", pos)
        while idx < 0 and not eof:
            fill(len(buf) - pos + _READ)
            idx = buf.find(b"\x1d", pos)
        nxt = _next_leader(buf, pos + 1, idx if idx >= 0 else len(buf))
        if nxt is not None:
            chunk = buf[pos:nxt]
            pos = nxt
            yield (
                n,
                chunk,
                (
                    f"{len(chunk)} bytes that are not a valid record (garbled record or junk between records) "
                    "/ dữ liệu hỏng"
                ),
            )
            continue
        if idx < 0:
            chunk, pos = buf[pos:], len(buf)
            problem = (
                f"truncated record: {len(chunk)} bytes before the end of the file"
                + (f", the leader announces {length}" if length else "")
                + " / bản ghi bị cắt cụt"
            )
        else:
            chunk, pos = buf[pos : idx + 1], idx + 1
            if length is None:
                problem = f"invalid record length {head!r} in the leader (garbled record) / bản ghi hỏng"
            else:
                problem = (
                    f"record length mismatch: leader says {length} bytes, record has {len(chunk)} "
                    "(garbled record) / bản ghi hỏng"
                )
        yield n, chunk, problem


_LEADER_RE = re.compile(rb"(\d{5})[\x20-\x7e]{7}\d{5}[\x20-\x7e]{3}4500")


def _next_leader(buf: bytes, start: int, end: int) -> int | None:
    """Offset of the first well-framed record (leader pattern, its length ending on a record
    terminator) starting in ``buf[start:end]``, or None."""
    for m in _LEADER_RE.finditer(buf, start, min(len(buf), end + 24)):
        q = m.start()
        if q >= end:
            break
        length = int(m.group(1))
        if length < 24:
            continue
        if q + length > len(buf):
            return None  # cannot check without reading ahead; resync at the terminator instead
        if buf[q + length - 1] == RT:
            return q
    return None


def parse_marc_bytes(chunk: bytes) -> pymarc.Record:
    """Parse one ISO 2709 record. UTF-8 is tried first, strictly (many exporters leave leader/09
    blank on UTF-8 data); a record that is not UTF-8 and whose leader/09 is blank is read as
    MARC-8. Raises on any decoding or structure problem: never mojibake."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rec = pymarc.Record(chunk, to_unicode=True, force_utf8=True, utf8_handling="strict")
        except UnicodeDecodeError:
            if chunk[9:10] == b"a":
                raise
            rec = pymarc.Record(chunk, to_unicode=True, force_utf8=False, utf8_handling="strict")
    if not rec.fields:
        raise ValueError("record has no fields")
    return rec


def _marc_error(exc: Exception) -> str:
    name = type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 in the record (garbled bytes at offset {exc.start}) / bản ghi hỏng"
    if type(exc) is ValueError:  # our own mapping errors name the field already
        return str(exc)
    msg = str(exc) or name
    return f"cannot parse record ({name}: {msg}) / không đọc được bản ghi"


def read_marc(path: Path, library_id: str, **_: Any) -> Iterator[ImportItem]:
    """Records of a binary MARC 21 file (optionally gzipped); positions are ``"record N"``."""
    path = Path(path)
    try:
        f = open_binary(path)
    except OSError as e:
        yield file_error(f"{path.name}: cannot open: {e}")
        return
    with f:
        try:
            head = f.read(64)
        except (OSError, EOFError, zlib.error) as e:  # e.g. a corrupt or truncated gzip stream
            yield file_error(f"{path.name}: cannot read: {e}")
            return
        if not head.strip():
            yield file_error(f"{path.name}: empty file / tệp rỗng")
            return
        if not head.lstrip()[:5].isdigit():
            yield file_error(
                f"{path.name}: not a MARC 21 (ISO 2709) file: it does not start with a record length "
                "/ không phải tệp MARC 21"
            )
            return
        rest = _Prefixed(head, f)
        ok = 0
        try:
            for n, chunk, problem in iter_marc_chunks(rest):
                pos = f"record {n}"
                if problem:
                    yield ImportItem(position=pos, error=problem)
                    continue
                try:
                    rec = parse_marc_bytes(chunk)
                    item = ImportItem(position=pos, record=marc_to_record(rec, library_id))
                except Exception as e:  # noqa: BLE001 - any parse failure is this record's error
                    item = ImportItem(position=pos, error=_marc_error(e))
                ok += item.error is None
                yield item
        except (OSError, EOFError) as e:  # corrupt gzip stream mid-file
            yield ImportItem(position="file", error=f"{path.name}: read error after {ok} records: {e}")


class _Prefixed:
    """A binary stream with some already-read bytes pushed back in front."""

    def __init__(self, prefix: bytes, f: IO[bytes]) -> None:
        self._prefix = prefix
        self._f = f

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            p, self._prefix = self._prefix, b""
            if n < 0:
                return p + self._f.read()
            return p + self._f.read(max(0, n - len(p)))
        return self._f.read(n)


# ----------------------------------------------------------------------------- MARCXML


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_to_pymarc(elem: Any) -> pymarc.Record:
    rec = pymarc.Record(to_unicode=True, force_utf8=True)
    for child in elem:
        name = _local(child.tag) if isinstance(child.tag, str) else ""
        if name == "leader":
            rec.leader = pymarc.Leader((child.text or "").ljust(24)[:24])
        elif name == "controlfield":
            rec.add_field(pymarc.Field(tag=child.get("tag", ""), data=child.text or ""))
        elif name == "datafield":
            subs = [
                pymarc.Subfield(code=sf.get("code", ""), value=sf.text or "")
                for sf in child
                if isinstance(sf.tag, str) and _local(sf.tag) == "subfield"
            ]
            rec.add_field(
                pymarc.Field(
                    tag=child.get("tag", ""),
                    indicators=pymarc.Indicators(child.get("ind1", " ") or " ", child.get("ind2", " ") or " "),
                    subfields=subs,
                )
            )
    return rec


def read_marcxml(path: Path, library_id: str, **_: Any) -> Iterator[ImportItem]:
    """Records of a MARCXML file (``<collection><record>…``, namespaced or not). A malformed XML
    document yields the records before the fault, then one error naming the line."""
    from lxml import etree  # noqa: PLC0415

    path = Path(path)
    try:
        if not read_head(path, 4096).strip():
            yield file_error(f"{path.name}: empty file / tệp rỗng")
            return
        f = open_binary(path)
    except OSError as e:
        yield file_error(f"{path.name}: cannot open: {e}")
        return
    n = 0
    with f:
        src = f
        try:
            for _event, elem in etree.iterparse(
                src, events=("end",), resolve_entities=False, no_network=True, huge_tree=True
            ):
                if not isinstance(elem.tag, str) or _local(elem.tag) != "record":
                    continue
                n += 1
                pos = f"record {n}"
                try:
                    item = ImportItem(position=pos, record=marc_to_record(_xml_to_pymarc(elem), library_id))
                except Exception as e:  # noqa: BLE001
                    item = ImportItem(position=pos, error=_marc_error(e))
                yield item
                elem.clear()
                parent = elem.getparent()
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as e:
            line = e.lineno if hasattr(e, "lineno") else "?"
            yield ImportItem(
                position=f"line {line}" if n else "file",
                error=f"{path.name}: malformed XML at line {line}: {e.msg if hasattr(e, 'msg') else e}"
                + (f" (after {n} records)" if n else ""),
            )
            return
        except (OSError, EOFError, zlib.error) as e:  # a corrupt or truncated gzip stream (found by fuzzing)
            yield ImportItem(position="file", error=f"{path.name}: read error after {n} records: {e}")
            return
    if n == 0:
        yield file_error(f"{path.name}: no MARCXML <record> elements found / không có bản ghi MARCXML")
