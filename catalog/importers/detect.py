"""Pick the importer for a file by sniffing its content (the extension is only a hint for plain
text formats), and run it: :func:`read_any`."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from catalog.importers.base import ImportItem, file_error, read_head

FORMATS = ("marc", "marcxml", "csv", "jsonl", "txt", "epub", "pdf")
_ALIASES = {
    "mrc": "marc", "iso2709": "marc", "marc21": "marc", "xml": "marcxml", "json": "jsonl",
    "tsv": "csv", "text": "txt", "md": "txt",
}  # fmt: skip


def _ext(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[-1] if "." in name else ""


def _looks_binary(head: bytes) -> bool:
    """NUL bytes or many C0 controls: not a text file (UTF-16 text is recognised by its BOM)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    sample = head[:4096]
    ctl = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return b"\x00" in sample or ctl > len(sample) * 0.05


def sniff(path: Path) -> str | None:
    """``"marc" | "marcxml" | "csv" | "jsonl" | "txt" | "epub" | "pdf"``, or None (empty or
    unrecognised). Binary formats are recognised by content whatever the extension."""
    head = read_head(path, 8192)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        return None
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "mimetype" in names and b"epub" in z.read("mimetype"):
                    return "epub"
                if "META-INF/container.xml" in names:
                    return "epub"
        except (zipfile.BadZipFile, OSError, KeyError):
            return "epub" if _ext(path) == "epub" else None
        return None
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    text_ext = _ext(path) in ("csv", "tsv", "jsonl", "ndjson", "json", "txt", "text", "md")
    if not text_ext and not stripped[:5].isdigit() and _looks_binary(stripped):
        return None
    if len(stripped) >= 24 and stripped[:5].isdigit() and stripped[20:24] in (b"4500", b"45  ", b"4500"):
        return "marc"
    if stripped[:5].isdigit() and _ext(path) in ("mrc", "marc", "iso", "dat", "", "bin", "utf8"):
        return "marc"
    if stripped.startswith(b"<"):
        low = stripped[:4096].lower()
        if b"marc" in low or b"<record" in low or b"<collection" in low:
            return "marcxml"
        if _ext(path) in ("xhtml", "html", "htm"):
            return "txt"
        return "marcxml" if _ext(path) == "xml" else None
    if stripped[:1] in (b"{", b"["):
        return "jsonl"
    ext = _ext(path)
    if ext in ("csv", "tsv"):
        return "csv"
    if ext in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if ext in ("txt", "text", "md"):
        return "txt"
    if stripped[:5].isdigit():
        return "marc"
    # text without a telling extension: a header line with delimiters that repeats → CSV
    try:
        text = head.decode("utf-8", errors="ignore")
    except Exception:  # noqa: BLE001
        return "txt"
    lines = [ln for ln in text.splitlines()[:5] if ln.strip()]
    if len(lines) >= 2:
        for d in (",", ";", "\t"):
            c = lines[0].count(d)
            if c >= 1 and lines[1].count(d) >= c and "title" in lines[0].lower():
                return "csv"
    return "txt"


def reader_for(fmt: str):  # noqa: ANN201
    fmt = _ALIASES.get(fmt, fmt)
    if fmt == "marc":
        from catalog.importers.marc import read_marc as r
    elif fmt == "marcxml":
        from catalog.importers.marc import read_marcxml as r
    elif fmt == "csv":
        from catalog.importers.tabular import read_csv as r
    elif fmt == "jsonl":
        from catalog.importers.tabular import read_jsonl as r
    elif fmt == "txt":
        from catalog.importers.digitized import read_txt as r
    elif fmt == "epub":
        from catalog.importers.digitized import read_epub as r
    elif fmt == "pdf":
        from catalog.importers.digitized import read_pdf as r
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return r


def read_any(
    path: Path,
    library_id: str,
    fmt: str | None = None,
    mapping: Mapping[str, str] | None = None,
    record_id: str | None = None,
    **options: Any,
) -> Iterator[ImportItem]:
    """Import any supported file. ``fmt`` forces a format (a file that is not in it yields one
    error); otherwise the format is sniffed from the content."""
    path = Path(path)
    try:
        if not path.is_file():
            yield file_error(f"{path}: no such file / không tìm thấy tệp")
            return
        if path.stat().st_size == 0:
            yield file_error(f"{path.name}: empty file / tệp rỗng")
            return
        detected = sniff(path)
    except OSError as e:
        yield file_error(f"{path.name}: cannot read: {e}")
        return
    if fmt is None:
        if detected is None:
            yield file_error(
                f"{path.name}: empty or unrecognised format; supported: {', '.join(FORMATS)} "
                "/ tệp rỗng hoặc định dạng không hỗ trợ"
            )
            return
        fmt = detected
    else:
        fmt = _ALIASES.get(fmt.lower(), fmt.lower())
        if fmt not in FORMATS:
            yield file_error(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
            return
        binary = {"pdf", "epub", "marc"}
        if detected is not None and detected != fmt and (detected in binary or fmt in binary):
            yield file_error(
                f"{path.name}: this is not a {fmt} file (it looks like {detected}) / tệp không đúng định dạng {fmt}"
            )
            return
    yield from reader_for(fmt)(path, library_id, mapping=mapping, record_id=record_id, **options)
