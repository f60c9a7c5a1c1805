"""CSV and JSONL catalogues in the default schema, with an optional column mapping.

Default schema (one record per row / line)::

    id, library_id, title, authors, year, language, subjects, summary, text
    optional: publisher, isbn, ddc, type, notes, holdings, available, edition, series, extent

* In CSV, list fields (``authors``, ``subjects``, ``isbn``, ``notes``, ``series``) are separated by
  ``;``. In JSONL they may be JSON lists or ``;``-separated strings.
* ``mapping`` renames source columns to schema fields, e.g. ``{"Tiêu đề": "title", "Tác giả":
  "authors"}``; columns that are neither mapped nor in the schema are ignored. Column names are
  matched case-insensitively.
* ``library_id`` comes from the row, else the ``library_id`` argument (``--library``).
* ``id`` missing → a stable id derived from title, authors and year (``h-<16 hex>``).
* ``text`` (optional) is full text, chunked into passages at ingest.
* Encoding: the file must be UTF-8 (a BOM is fine). A file that is not valid UTF-8 (e.g. saved in
  CP1258 or Latin-1) is rejected as a whole with one error naming the file, line and byte — never
  imported as mojibake — unless ``encoding="cp1258"`` (or another codec) is given explicitly.
* Every text field is NFC-normalised with one tone placement; control characters are removed.
  Pydantic validation errors become per-line errors naming the field.
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from catalog.importers.base import (
    ImportItem,
    decode_utf8_strict,
    file_error,
    open_binary,
    stable_id,
    text_stream,
    validation_message,
)
from catalog.languages import to_iso639_1
from catalog.model import Record
from catalog.text import clean_line, clean_list, clean_text

SCHEMA_FIELDS = (
    "id", "library_id", "title", "authors", "year", "language", "subjects", "summary", "text",
    "publisher", "isbn", "ddc", "type", "notes", "holdings", "available", "edition", "series",
    "extent",
)  # fmt: skip
LIST_FIELDS = ("authors", "subjects", "isbn", "notes", "series")
LINE_FIELDS = ("id", "library_id", "title", "publisher", "ddc", "edition", "extent")
_YEAR_RE = re.compile(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)")
_TYPE_ALIASES = {
    "sách": "book", "sach": "book", "tạp chí": "serial", "báo": "serial", "luận văn": "thesis",
    "luận án": "thesis", "bài báo": "article", "bản đồ": "map", "tài liệu": "document",
    "monograph": "book", "journal": "serial", "periodical": "serial",
}  # fmt: skip


def _split_list(value: Any, sep: str = ";") -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items: list[str] = []
        for v in value:
            if v is None:
                continue
            if isinstance(v, (dict, list)):
                raise ValueError("expected a list of strings")
            items.append(str(v))
        return items
    if isinstance(value, dict):
        raise ValueError("expected a string or a list of strings")
    return [p for p in str(value).split(sep)]


def _year(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if not s:
        return None
    if s.isdigit():
        return int(s)
    m = _YEAR_RE.search(s)
    return int(m.group(1)) if m else s  # let pydantic name the bad value


def _int_or_raw(value: Any) -> Any:
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        return int(s) if s.lstrip("-").isdigit() else s
    return value


def _isbn(value: str) -> str | None:
    s = re.sub(r"[\s-]", "", value).upper()
    m = re.match(r"^(97[89]\d{10}|\d{9}[\dX])", s)
    return m.group(1) if m else (s or None)


def normalize_mapping(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Source column (case-insensitive) → schema field. Unknown target fields raise ValueError."""
    out: dict[str, str] = {}
    for src, dst in (mapping or {}).items():
        if dst not in SCHEMA_FIELDS:
            raise ValueError(f"mapping: unknown target field {dst!r}; expected one of {', '.join(SCHEMA_FIELDS)}")
        out[clean_line(src).casefold() if clean_line(src) else src] = dst
    return out


@lru_cache(maxsize=4096)
def _column_key(name: str) -> str:
    return (clean_line(name) or "").casefold()


def remap(row: Mapping[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Apply a normalised mapping; schema-named columns pass through; others are dropped."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k is None:
            continue
        key = _column_key(str(k))
        field = mapping.get(key) or (key if key in SCHEMA_FIELDS else None)
        if field is None:
            continue
        if field in out and out[field] not in (None, "", []):
            # two source columns mapped to one list field: concatenate; else first non-empty wins
            if field in LIST_FIELDS:
                out[field] = _split_list(out[field]) + _split_list(v)
            continue
        out[field] = v
    return out


def row_to_record(
    row: Mapping[str, Any], library_id: str, mapping: dict[str, str] | None = None
) -> tuple[Record, str | None]:
    """One row/object in the default schema (after ``mapping``) → ``(Record, full_text)``.

    Raises ``ValueError`` with a message naming the field on invalid input.
    """
    data = remap(row, mapping or {})
    errors: list[str] = []
    rec: dict[str, Any] = {}
    for f in LINE_FIELDS:
        v = data.get(f)
        if isinstance(v, (dict, list)):
            errors.append(f"{f}: expected a string")
            continue
        rec[f] = clean_line(None if v is None else str(v))
    for f in LIST_FIELDS:
        try:
            values = clean_list(_split_list(data.get(f)))
        except ValueError as e:
            errors.append(f"{f}: {e}")
            continue
        if f == "isbn":
            values = list(dict.fromkeys(x for x in (_isbn(v) for v in values) if x))
        rec[f] = values
    rec["library_id"] = rec.get("library_id") or library_id
    for f in ("summary",):
        v = data.get(f)
        rec[f] = clean_text(None if v is None else str(v))
    rec["year"] = _year(data.get("year"))
    lang = data.get("language")
    rec["language"] = to_iso639_1(clean_line(str(lang))) if lang not in (None, "") else None
    t = data.get("type")
    if t not in (None, ""):
        t = (clean_line(str(t)) or "").casefold()
        rec["type"] = _TYPE_ALIASES.get(t, t)
    for f in ("holdings", "available"):
        v = _int_or_raw(data.get(f))
        if v is not None:
            rec[f] = v
    if "available" not in rec and isinstance(rec.get("holdings"), int):
        rec["available"] = rec["holdings"]
    if errors:
        raise ValueError("; ".join(errors))
    if not rec.get("id"):
        if not rec.get("title"):
            raise ValueError("title: missing (and no id)")
        rec["id"] = stable_id("h", rec.get("title"), "|".join(rec.get("authors") or []), rec.get("year"))
    if rec.get("ddc"):
        rec["ddc"] = rec["ddc"].replace("/", "").replace("'", "")
    rec = {k: v for k, v in rec.items() if v is not None}
    try:
        record = Record(**rec)
    except ValidationError as e:
        raise ValueError(validation_message(e)) from None
    text = data.get("text")
    if isinstance(text, (dict, list)):
        raise ValueError("text: expected a string")
    return record, clean_text(None if text is None else str(text))


def _read_text(path: Path, encoding: str | None) -> str:
    with open_binary(path) as f:
        raw = f.read()
    if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        return raw.decode(encoding)
    return decode_utf8_strict(raw, path)


def _item_from(row: Mapping[str, Any], position: str, library_id: str, mapping: dict[str, str]) -> ImportItem:
    try:
        record, text = row_to_record(row, library_id, mapping)
    except ValueError as e:
        return ImportItem(position=position, error=str(e))
    return ImportItem(position=position, record=record, text=text)


def _sniff_delimiter(header: str, path: Path) -> str:
    if path.name.lower().removesuffix(".gz").endswith(".tsv"):
        return "\t"
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _load(path: Path, mapping: Mapping[str, str] | None, encoding: str | None) -> tuple[dict[str, str], str] | str:
    """(normalised mapping, file text), or the reason the file cannot be read at all."""
    try:
        norm_map = normalize_mapping(mapping)
        text = _read_text(path, encoding)
    except (OSError, ValueError, LookupError) as e:
        return str(e)
    except (EOFError, zlib.error) as e:  # a corrupt or truncated gzip stream (found by fuzzing)
        return f"{path.name}: corrupt compressed file / tệp nén bị hỏng: {e}"
    if not text.strip():
        return f"{path.name}: empty file / tệp rỗng"
    return norm_map, text


def read_csv(
    path: Path,
    library_id: str,
    *,
    mapping: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    **_: Any,
) -> Iterator[ImportItem]:
    """Rows of a CSV/TSV file (header row required). Positions are ``"line N"`` (physical line of
    the row's start, the header being line 1)."""
    path = Path(path)
    loaded = _load(path, mapping, encoding)
    if isinstance(loaded, str):
        yield file_error(loaded)
        return
    norm_map, text = loaded
    csv.field_size_limit(max(csv.field_size_limit(), 256 * 1024 * 1024))  # full text in a cell
    header_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delim = delimiter or _sniff_delimiter(header_line, path)
    # NUL bytes make the csv module fail the whole file; they are control characters: drop them.
    reader = csv.reader(text_stream(text.replace("\x00", "")), delimiter=delim, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as e:
        yield file_error(f"{path.name}: cannot read the header row: {e}")
        return
    header = [h.strip().lstrip("\ufeff") for h in header]
    known = {norm_map.get((clean_line(h) or "").casefold()) or (clean_line(h) or "").casefold() for h in header}
    if "title" not in known and "id" not in known:
        yield file_error(
            f"{path.name}: the header has no 'title' column (columns: {', '.join(header[:12])}); "
            "use the default schema or a column mapping / thiếu cột 'title'"
        )
        return
    line = reader.line_num + 1
    while True:
        start = line
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            yield ImportItem(position=f"line {start}", error=f"CSV syntax error: {e}")
            line = reader.line_num + 1
            continue
        line = reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            yield ImportItem(
                position=f"line {start}",
                error=(
                    f"{len(values)} fields but the header has {len(header)} (check quoting / the delimiter {delim!r})"
                ),
            )
            continue
        row = dict(zip(header, values, strict=False))
        yield _item_from(row, f"line {start}", library_id, norm_map)


def read_jsonl(
    path: Path,
    library_id: str,
    *,
    mapping: Mapping[str, str] | None = None,
    encoding: str | None = None,
    **_: Any,
) -> Iterator[ImportItem]:
    """One JSON object per line (``"line N"``); a file holding one JSON array of objects is read
    too (``"record N"``)."""
    path = Path(path)
    loaded = _load(path, mapping, encoding)
    if isinstance(loaded, str):
        yield file_error(loaded)
        return
    norm_map, text = loaded
    if text.lstrip().startswith("["):
        try:
            objs = json.loads(text)
        except json.JSONDecodeError as e:
            yield file_error(f"{path.name}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}")
            return
        yield from iter_objects(objs, library_id, mapping=mapping)
        return
    for n, ln in enumerate(text.split("\n"), start=1):
        if not ln.strip():
            continue
        pos = f"line {n}"
        try:
            obj = json.loads(ln)
        except json.JSONDecodeError as e:
            yield ImportItem(position=pos, error=f"invalid JSON at column {e.colno}: {e.msg}")
            continue
        if not isinstance(obj, dict):
            yield ImportItem(position=pos, error=f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield _item_from(obj, pos, library_id, norm_map)


def iter_objects(objs: Any, library_id: str, *, mapping: Mapping[str, str] | None = None) -> Iterator[ImportItem]:
    """Already-parsed JSON objects (e.g. a ``POST /api/v1/records`` body) → items, ``"record N"``."""
    norm_map = normalize_mapping(mapping)
    if isinstance(objs, dict):
        objs = [objs]
    if not isinstance(objs, list):
        yield file_error(f"expected a JSON list of objects, got {type(objs).__name__}")
        return
    for n, obj in enumerate(objs, start=1):
        if not isinstance(obj, dict):
            yield ImportItem(position=f"record {n}", error=f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield _item_from(obj, f"record {n}", library_id, norm_map)
