"""Which libraries an import would write to, read with the catalogue's own importers (a dry run).

MARC, MARCXML, TXT, EPUB and PDF records always belong to the library the import names; CSV and JSON/JSONL
rows may name their own (``library_id`` column or field, or a column mapped to it), so those are read to
know. Used to keep a librarian key bound to its library.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from catalog.importers.detect import _ALIASES, read_any, sniff

ROW_FORMATS = ("csv", "jsonl")


def libraries_in_import(
    body: bytes,
    library_id: str,
    *,
    fmt: str | None = None,
    filename: str | None = None,
    mapping: str | dict | None = None,
    record_id: str | None = None,
) -> set[str]:
    """The library ids of the records ``body`` holds, as the catalogue would import them."""
    if isinstance(mapping, str):
        try:
            mapping = json.loads(mapping)
        except ValueError:
            mapping = None  # the catalogue refuses it with a 422 before writing anything
    if not isinstance(mapping, dict):
        mapping = None
    name = Path(filename or "upload").name or "upload"
    with tempfile.TemporaryDirectory(prefix="thuvien-scope-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(body)
        resolved = _ALIASES.get((fmt or "").lower(), (fmt or "").lower()) or sniff(path)
        if resolved not in ROW_FORMATS:
            return {library_id}
        found = {
            item.record.library_id
            for item in read_any(path, library_id, fmt=fmt, mapping=mapping, record_id=record_id)
            if item.ok and item.record is not None
        }
    return found or {library_id}
