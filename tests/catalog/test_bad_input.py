"""Bad input gives per-record (or one per-file) errors and never loses what was stored before."""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

import pytest

from catalog.importers.detect import read_any
from catalog.importers.marc import parse_marc_bytes
from catalog.ingest import import_path
from catalog.model import Record
from catalog.store import CatalogStore
from tests.catalog.helpers import snapshot
from tests.catalog.pdfgen import write_pdf


@pytest.fixture
def seeded(store: CatalogStore) -> CatalogStore:
    """A store already holding records (same library and ids as the bad files use)."""
    store.upsert([Record(id=f"keep{i}", library_id="L", title=f"Giữ lại {i}") for i in range(5)])
    return store


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows software writes it: base letters (ă â ê ô ơ ư đ are
    precomposed in the code page) followed by a combining tone mark."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in text:
        d = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in d if c not in tones))
        out.append(base + "".join(c for c in d if c in tones))
    return "".join(out).encode("cp1258")


def _ids(raw: list[bytes]) -> list[str]:
    return [parse_marc_bytes(r)["001"].data.strip() for r in raw]


def _run(path: Path, store: CatalogStore, **kw):
    before = snapshot(store)
    s = import_path(path, "L", store, progress=False, **kw)
    after = snapshot(store)
    # nothing stored before was lost or changed
    assert {k: after.get(k) for k in before} == before
    return s


def test_truncated_marc(loc_raw, tmp_path: Path, seeded):
    raw = loc_raw[:50]
    data = b"".join(raw)
    p = tmp_path / "cut.mrc"
    p.write_bytes(data[: len(data) - len(raw[-1]) // 2])
    s = _run(p, seeded)
    assert s.imported == 49
    assert [(e.position, "truncated" in e.reason) for e in s.errors] == [("record 50", True)]
    assert s.errors[0].file == str(p)


def test_garbled_marc_keeps_going(loc_raw, tmp_path: Path, seeded):
    raw = list(loc_raw[:60])
    ids = _ids(raw)
    rng = random.Random(20261125)
    # record 20: random bytes over its middle; record 35: a broken leader length;
    # and 300 random bytes between records 45 and 46
    r20 = bytearray(raw[19])
    mid = len(r20) // 2
    r20[mid : mid + 40] = bytes(rng.randrange(256) for _ in range(40))
    raw[19] = bytes(r20)
    raw[34] = b"x9z" + raw[34][3:]
    raw[49] = raw[49][:-1] + b"X"  # record 50 lost its record terminator
    junk = bytes(rng.choice(b"\x00\x01\xff\xfeabc\x1e") for _ in range(300))
    data = b"".join(raw[:45]) + junk + b"".join(raw[45:])
    p = tmp_path / "garbled.mrc"
    p.write_bytes(data)
    s = _run(p, seeded)
    stored = {r.id for b in seeded.iter_records() for r in b}
    expected_ok = set(ids) - {ids[19], ids[34], ids[49]}
    assert expected_ok <= stored, "every undamaged record is imported"
    assert 3 <= len(s.errors) <= 5
    positions = {e.position for e in s.errors}
    assert "record 35" in positions
    assert all(e.position.startswith("record ") and e.reason for e in s.errors)
    assert s.imported >= 57


@pytest.mark.parametrize("fmt", [None, "marc", "csv", "jsonl", "txt", "pdf", "epub", "marcxml"])
def test_empty_file(tmp_path: Path, seeded, fmt):
    p = tmp_path / "empty.dat"
    p.write_bytes(b"")
    s = _run(p, seeded, fmt=fmt)
    assert s.imported == 0 and len(s.errors) == 1
    assert "empty" in s.errors[0].reason and s.errors[0].position == "file"


def test_whitespace_only_files(tmp_path: Path, seeded):
    for name in ("a.csv", "b.jsonl", "c.txt", "d.mrc"):
        p = tmp_path / name
        p.write_text("\n  \n", encoding="utf-8")
        s = _run(p, seeded)
        assert s.imported == 0 and len(s.errors) == 1, name


def test_csv_in_wrong_encoding(tmp_path: Path, seeded):
    text = "id,title,authors\nkeep0,Lịch sử Bắc Giang,Nguyễn Văn A\nx2,Địa chí,Trần B\n"
    (tmp_path / "cp1258.csv").write_bytes(to_cp1258(text))
    (tmp_path / "latin-1.csv").write_bytes("id,title\nkeep0,Café crème\n".encode("latin-1"))
    for enc in ("cp1258", "latin-1"):
        p = tmp_path / f"{enc}.csv"
        s = _run(p, seeded)
        assert s.imported == s.updated == 0 and len(s.errors) == 1
        reason = s.errors[0].reason
        assert p.name in reason and "line 2" in reason and "UTF-8" in reason
        assert seeded.get("L", "keep0").title == "Giữ lại 0"
    # with the encoding given, the CP1258 file (which decomposes tone marks) imports as NFC
    s = import_path(tmp_path / "cp1258.csv", "L", seeded, progress=False, encoding="cp1258")
    assert (s.imported, s.updated, s.errors) == (1, 1, [])
    assert seeded.get("L", "keep0").title == "Lịch sử Bắc Giang"  # NFC, not mojibake
    assert unicodedata.is_normalized("NFC", seeded.get("L", "keep0").title)
    assert seeded.get("L", "x2").authors == ["Trần B"]


def test_control_characters(tmp_path: Path, seeded):
    p = tmp_path / "ctl.csv"
    p.write_bytes('id,title,summary\nc1,Sách\x07 hay\x00,"Dòng một\x1b\r\ndòng hai"\nc2,\x01\x02\x03,x\n'.encode())
    s = _run(p, seeded)
    assert s.imported == 1 and len(s.errors) == 1
    assert s.errors[0].position == "line 4" and "title" in s.errors[0].reason
    r = seeded.get("L", "c1")
    assert r.title == "Sách hay"
    assert all(ord(ch) >= 32 or ch == "\n" for ch in (r.summary or ""))
    pj = tmp_path / "ctl.jsonl"
    pj.write_text(json.dumps({"id": "c3", "title": "A\u0000B\u200bC"}) + "\n", encoding="utf-8")
    s = _run(pj, seeded)
    assert s.errors == [] and "\x00" not in seeded.get("L", "c3").title


def test_invalid_fields_name_the_field(tmp_path: Path, seeded):
    p = tmp_path / "bad.csv"
    p.write_text(
        "id,title,year,holdings,type\n"
        "v1,Tốt,2001,2,book\n"
        "v2,Năm sai,abc,1,book\n"
        "v3,Số bản âm,2001,-1,book\n"
        "v4,Loại lạ,2001,1,khủng long\n"
        "v5,Năm quá lớn,9999,1,book\n"
        'v6,"Ngoặc kép,mở,2001\n',
        encoding="utf-8",
    )
    s = _run(p, seeded)
    assert s.imported == 1
    reasons = {e.position: e.reason for e in s.errors}
    assert reasons["line 3"].startswith("year:")
    assert reasons["line 4"].startswith("holdings:")
    assert reasons["line 5"].startswith("type:")
    assert reasons["line 6"].startswith("year:")
    assert len(s.errors) == 5  # the unterminated quote swallows the rest: one error, not a crash


def test_invalid_jsonl_lines(tmp_path: Path, seeded):
    p = tmp_path / "bad.jsonl"
    p.write_text(
        '{"id": "ok1", "title": "Được"}\n{"id": "b1", "title": \n[1, 2]\n'
        '{"id": "b3", "title": "x", "authors": {"a": 1}}\n{"id": "ok2", "title": "Cũng được"}\n',
        encoding="utf-8",
    )
    s = _run(p, seeded)
    assert s.imported == 2
    assert [e.position for e in s.errors] == ["line 2", "line 3", "line 4"]
    assert "invalid JSON" in s.errors[0].reason and "authors" in s.errors[2].reason


def test_pdf_without_text_layer(tmp_path: Path, seeded):
    p = write_pdf(tmp_path / "scan.pdf", [None, None, None])
    s = _run(p, seeded)
    assert s.imported == 0 and len(s.errors) == 1
    assert "no text layer; OCR it first" in s.errors[0].reason
    assert seeded.get("L", "scan") is None


def test_wrong_format_and_garbage(tmp_path: Path, seeded):
    p = tmp_path / "notes.csv"
    p.write_text("id,title\n1,A\n", encoding="utf-8")
    s = _run(p, seeded, fmt="marc")
    assert s.imported == 0 and len(s.errors) == 1 and "marc" in s.errors[0].reason.lower()
    g = tmp_path / "blob.bin"
    rng = random.Random(1)
    g.write_bytes(bytes(rng.randrange(256) for _ in range(5000)))
    items = list(read_any(g, "L"))
    assert items and all(it.error for it in items)
    broken_epub = tmp_path / "broken.epub"
    broken_epub.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    s = _run(broken_epub, seeded)
    assert s.imported == 0 and len(s.errors) == 1
    missing = list(read_any(tmp_path / "nope.mrc", "L"))
    assert len(missing) == 1 and missing[0].error


def test_duplicate_ids_in_one_file(tmp_path: Path, store: CatalogStore):
    p = tmp_path / "dup.jsonl"
    p.write_text(
        '{"id": "d", "title": "Một"}\n{"id": "d", "title": "Hai"}\n{"id": "e", "title": "Ba"}\n', encoding="utf-8"
    )
    s = import_path(p, "L", store, progress=False)
    assert (s.imported, s.updated, s.errors) == (2, 1, [])
    assert store.get("L", "d").title == "Hai" and store.count() == 2
