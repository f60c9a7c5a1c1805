"""The common shape of every importer: an iterator of :class:`ImportItem`.

Each reader is ``read_<fmt>(path, library_id, **options) -> Iterator[ImportItem]``. A bad record
yields an item with ``error`` set (and the reader goes on); a file-level failure (empty, unreadable,
wrong format) yields exactly one error item with ``position="file"``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from catalog.model import Record


@dataclass
class ImportItem:
    position: str
    record: Record | None = None
    text: str | None = None
    """Full text to chunk (``chunk_text``), if any."""
    chunks: list[tuple[str, str | None]] | None = None
    """Pre-chunked ``(text, location)`` passages (digitized files)."""
    error: str | None = None
    attach: bool = False
    """True when the file is attached to an existing record (``record_id`` option): the stored
    record's metadata wins over ``record`` (which is only used if no such record exists yet)."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.record is not None


GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, transparently un-gzipping ``.gz`` content (sniffed)."""
    f = open(path, "rb")  # noqa: SIM115
    head = f.read(2)
    f.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb")
    return f


def read_head(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes, un-gzipped; the raw bytes when the gzip stream is corrupt or cut short (the
    reader then reports the file, instead of an EOFError or zlib.error escaping: found by fuzzing)."""
    try:
        with open_binary(path) as f:
            return f.read(n)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        with open(path, "rb") as f:
            return f.read(n)


def file_error(message: str) -> ImportItem:
    return ImportItem(position="file", error=message)


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as one line naming each field: ``title: String should have at least 1 character``."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "record"
        msg = e.get("msg", "invalid")
        value = e.get("input")
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and loc != "record":
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "…"
            msg = f"{msg} (got {shown})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic id from content, for records that have none: ``prefix-<16 hex>``."""
    h = hashlib.sha1("\x1f".join("" if p is None else str(p) for p in parts).encode("utf-8"))
    return f"{prefix}-{h.hexdigest()[:16]}"


def decode_utf8_strict(data: bytes, path: Path) -> str:
    """Decode UTF-8 (BOM allowed); on failure raise ``ValueError`` naming the file, line and byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        bad = data[e.start : e.start + 1].hex()
        raise ValueError(
            f"{path.name}: line {line}, column {col}: not valid UTF-8 (byte 0x{bad}). "
            "Save the file as UTF-8, or give its encoding (e.g. encoding='cp1258' or 'latin-1'). "
            "/ Tệp không phải UTF-8; hãy lưu lại dưới dạng UTF-8 hoặc chỉ rõ bảng mã."
        ) from None


def text_stream(data: str) -> io.StringIO:
    return io.StringIO(data, newline="")
