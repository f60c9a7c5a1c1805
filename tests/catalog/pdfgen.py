"""A minimal PDF writer for tests: one Helvetica text page per string (ASCII / Latin-1 text),
or pages without any text layer (as a scanner produces, minus the image)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, pages: list[str | None], title: str | None = None, author: str | None = None) -> Path:
    """``None`` pages are blank (no text layer)."""
    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    catalog_id = add(b"")  # placeholder, filled below
    pages_id = add(b"")
    font_id = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    page_ids = []
    for text in pages:
        if text is None:
            content = b""
        else:
            lines = []
            for para in text.split("\n"):
                lines.extend(textwrap.wrap(para, 90) or [""])
            ops = ["BT", "/F1 10 Tf", "12 TL", "50 760 Td"]
            for ln in lines:
                ops.append(f"({_esc(ln)}) Tj T*")
            ops.append("ET")
            content = "\n".join(ops).encode("latin-1")
        cid = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        pid = add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (pages_id, font_id, cid)
        )
        page_ids.append(pid)
    objs[catalog_id - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    objs[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    info = []
    if title:
        info.append(b"/Title (%s)" % _esc(title).encode("latin-1"))
    if author:
        info.append(b"/Author (%s)" % _esc(author).encode("latin-1"))
    info_id = add(b"<< " + b" ".join(info) + b" >>")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, catalog_id, info_id, xref,
    )  # fmt: skip
    path.write_bytes(bytes(out))
    return path
