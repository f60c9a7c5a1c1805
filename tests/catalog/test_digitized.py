"""Digitized files: the 8 real EPUBs, generated PDFs (with and without a text layer), TXT."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from catalog.importers.digitized import read_epub, read_pdf, read_txt
from catalog.ingest import import_path
from catalog.model import Record
from catalog.store import CatalogStore
from tests.catalog.pdfgen import write_pdf


@pytest.fixture(scope="module")
def epub_items(shared_data: Path):
    manifest = json.loads((shared_data / "epub" / "manifest.json").read_text(encoding="utf-8"))
    out = []
    for m in manifest:
        items = list(read_epub(shared_data / "epub" / m["file"], "tv"))
        out.append((m, items))
    assert len(out) == 8
    return out


def test_epub_metadata_from_the_manifest(epub_items):
    for m, items in epub_items:
        assert len(items) == 1 and items[0].error is None, (m["file"], items[0].error)
        rec = items[0].record
        assert rec.title == unicodedata.normalize("NFC", m["title"])
        assert ", ".join(rec.authors) == unicodedata.normalize("NFC", m["author"])
        assert rec.language == "vi"  # the OPF often says en-US; the text says otherwise
        assert rec.id == m["file"].removesuffix(".epub") and rec.type == "book"


def test_epub_chapters_and_passages(epub_items):
    for m, items in epub_items:
        chunks = items[0].chunks
        assert len(chunks) >= 30, m["file"]
        sizes = [len(t.split()) for t, _ in chunks]
        big = sorted(sizes)[len(sizes) // 2]
        assert 150 <= big <= 250, (m["file"], big)
        assert max(sizes) <= 400
        locs = [loc for _, loc in chunks]
        assert all(locs)
        chapters = {re.sub(r", đoạn \d+$", "", loc) for loc in locs}
        assert len(chapters) >= 3, (m["file"], chapters)
        text = " ".join(t for t, _ in chunks)
        assert "<p" not in text and "</" not in text and "&nbsp;" not in text
        assert unicodedata.is_normalized("NFC", text)
    # the chapter titles come from the book: spot checks
    by_file = {m["file"]: items[0].chunks for m, items in epub_items}
    assert any(loc.startswith("Hồi thứ nhất") for _, loc in by_file["hoang-le-nhat-thong-chi.epub"])
    assert any("Nắng Trong Vườn" in loc for _, loc in by_file["nang-trong-vuon.epub"])
    assert any(loc.startswith("Chương 1") for _, loc in by_file["so-do.epub"])


def test_epub_ingest_and_attach(shared_data: Path, store: CatalogStore):
    books = [shared_data / "epub" / f for f in ("chi-pheo.epub", "truyen-kieu.epub", "nang-trong-vuon.epub")]
    s = import_path(books, "tv", store, progress=False)
    assert (s.imported, s.errors) == (3, [])
    chunks = store.chunks_of("tv", "chi-pheo")
    assert chunks and chunks[0].chunk_id == "tv/chi-pheo#0" and [c.seq for c in chunks] == list(range(len(chunks)))
    again = import_path(books, "tv", store, progress=False)
    assert (again.imported, again.updated, again.skipped) == (0, 0, 3)
    # attach a digitized book to a catalogue record: the record's metadata is kept
    cat = Record(id="KIEU-1", library_id="tv", title="Truyện Kiều (bản in 1925)", authors=["Nguyễn Du"], year=1925)
    store.upsert([cat])
    s = import_path(shared_data / "epub" / "truyen-kieu.epub", "tv", store, progress=False, record_id="KIEU-1")
    assert (s.updated, s.errors) == (1, [])
    assert store.get("tv", "KIEU-1") == cat
    attached = store.chunks_of("tv", "KIEU-1")
    assert len(attached) == len(store.chunks_of("tv", "truyen-kieu")) > 30
    assert attached[0].chunk_id == "tv/KIEU-1#0"


def test_pdf_with_text(tmp_path: Path, store: CatalogStore):
    para = "The reading room opens at eight. Readers show their card at the desk. " * 12
    pages = [para, para + "\nSecond paragraph on page two.", "Short last page."]
    p = write_pdf(tmp_path / "noi-quy.pdf", pages, title="Library rules", author="Thu vien tinh")
    items = list(read_pdf(p, "L"))
    assert len(items) == 1 and items[0].error is None
    rec = items[0].record
    assert (rec.id, rec.title, rec.authors, rec.type) == ("noi-quy", "Library rules", ["Thu vien tinh"], "document")
    locs = [loc for _, loc in items[0].chunks]
    assert locs[0].startswith("tr. 1") and all(re.fullmatch(r"tr\. \d+(–\d+)?", loc) for loc in locs)
    assert any("3" in loc for loc in locs)
    joined = " ".join(t for t, _ in items[0].chunks)
    assert joined.split() == " ".join(pages).split()
    s = import_path(p, "L", store, progress=False)
    assert (s.imported, s.errors) == (1, []) and store.chunks_of("L", "noi-quy")


def test_pdf_without_text_layer(tmp_path: Path):
    p = write_pdf(tmp_path / "scan.pdf", [None, None])
    items = list(read_pdf(p, "L"))
    assert len(items) == 1 and items[0].record is None
    assert "no text layer; OCR it first" in items[0].error


def test_txt(tmp_path: Path, store: CatalogStore):
    body = "\n\n".join(
        " ".join(f"Đây là câu {i}-{j} về lịch sử thư viện hoà bình." for j in range(8)) for i in range(12)
    )
    p = tmp_path / "gioi-thieu.txt"
    p.write_text(unicodedata.normalize("NFD", "Giới thiệu thư viện tỉnh\n\n" + body), encoding="utf-8")
    items = list(read_txt(p, "L"))
    rec, chunks = items[0].record, items[0].chunks
    assert rec.title == "Giới thiệu thư viện tỉnh" and rec.id == "gioi-thieu" and rec.language == "vi"
    assert all(unicodedata.is_normalized("NFC", t) and "hòa bình" in t for t, _ in chunks)
    assert [loc for _, loc in chunks] == [f"đoạn {i}" for i in range(1, len(chunks) + 1)]
    assert all(t.rstrip().endswith(".") for t, _ in chunks)  # never cut mid-sentence
    s = import_path(p, "L", store, progress=False)
    assert s.imported == 1 and len(store.chunks_of("L", "gioi-thieu")) == len(chunks)
    # a TXT file in a legacy encoding is refused, naming the line
    bad = tmp_path / "cu.txt"
    bad.write_bytes("Dòng một\nThư viện\n".encode() + "Café".encode("latin-1"))
    items = list(read_txt(bad, "L"))
    assert items[0].error and "line 3" in items[0].error
