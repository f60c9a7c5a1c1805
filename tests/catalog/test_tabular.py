"""CSV and JSONL importers: default schema, column mapping, list fields, full text."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from catalog.importers.detect import read_any
from catalog.importers.tabular import iter_objects, read_csv, read_jsonl
from catalog.ingest import import_path
from catalog.store import CatalogStore

CSV_MAPPED = (
    "Mã,Tiêu đề,Tác giả,Năm,Ngôn ngữ,Chủ đề,Tóm tắt,Số bản,Thư viện\n"
    "BG001,Lịch sử Bắc Giang,Nguyễn Văn A; Trần Thị B,2005,vie,Lịch sử -- Bắc Giang;Địa chí,"
    '"Tóm tắt, có dấu phẩy.",3,\n'
    "BG002,Thuỷ lợi và khoẻ mạnh,Lê C,c2010.,Tiếng Việt,,,2,huyen-luc-nam\n"
)
MAPPING = {
    "Mã": "id", "Tiêu đề": "title", "Tác giả": "authors", "Năm": "year", "Ngôn ngữ": "language",
    "Chủ đề": "subjects", "Tóm tắt": "summary", "Số bản": "holdings", "Thư viện": "library_id",
}  # fmt: skip


def test_csv_with_mapping(tmp_path: Path):
    p = tmp_path / "danh-muc.csv"
    p.write_text(CSV_MAPPED, encoding="utf-8")
    items = list(read_csv(p, "tinh-bg", mapping=MAPPING))
    assert [it.error for it in items] == [None, None]
    a, b = items[0].record, items[1].record
    assert (a.id, a.library_id, a.title, a.year, a.language) == ("BG001", "tinh-bg", "Lịch sử Bắc Giang", 2005, "vi")
    assert a.authors == ["Nguyễn Văn A", "Trần Thị B"]
    assert a.subjects == ["Lịch sử -- Bắc Giang", "Địa chí"]
    assert a.summary == "Tóm tắt, có dấu phẩy." and a.holdings == 3 == a.available
    assert b.library_id == "huyen-luc-nam" and b.year == 2010 and b.language == "vi"
    assert b.title == "Thủy lợi và khỏe mạnh"  # one tone placement
    assert [it.position for it in items] == ["line 2", "line 3"]


def test_csv_default_schema_semicolon_and_text(tmp_path: Path, store: CatalogStore):
    p = tmp_path / "x.csv"
    body = " ".join(f"Câu số {i} nói về thư viện." for i in range(120))
    p.write_text(
        "id;title;authors;year;subjects;text;isbn;ddc;type\n"
        f"1;Sổ tay thư viện;A, B;1999;Thư viện;{body};978-604-0-12345-6;025.1/7;sách\n",
        encoding="utf-8-sig",
    )
    s = import_path(p, "L", store, progress=False)
    assert (s.imported, s.errors) == (1, [])
    r = store.get("L", "1")
    assert r.authors == ["A, B"] and r.isbn == ["9786040123456"] and r.ddc == "025.17" and r.type == "book"
    chunks = store.chunks_of("L", "1")
    assert len(chunks) >= 3 and all(c.location.startswith("đoạn") for c in chunks)
    assert " ".join(c.text for c in chunks).split() == body.split()


def test_jsonl_lists_and_strings(tmp_path: Path):
    p = tmp_path / "x.jsonl"
    rows = [
        {"id": "j1", "title": "Truyện Kiều", "authors": ["Nguyễn Du"], "year": "1820", "subjects": "Thơ;Văn học"},
        {"Tên sách": "Không có mã", "authors": "X; Y", "language": "en"},
    ]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    items = list(read_jsonl(p, "L", mapping={"Tên sách": "title"}))
    assert [it.error for it in items] == [None, None]
    assert items[0].record.subjects == ["Thơ", "Văn học"] and items[0].record.year == 1820
    r = items[1].record
    assert r.id.startswith("h-") and r.authors == ["X", "Y"] and r.language == "en"
    # the derived id is stable
    assert next(iter(read_jsonl(p, "L", mapping={"Tên sách": "title"}))).record.id == "j1"
    assert list(read_jsonl(p, "L", mapping={"Tên sách": "title"}))[1].record.id == r.id


def test_json_array_and_objects(tmp_path: Path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps([{"id": "1", "title": "A"}, 5, {"id": "3"}]), encoding="utf-8")
    items = list(read_any(p, "L"))
    assert items[0].ok and items[1].error and items[1].position == "record 2"
    assert "title" in items[2].error
    assert [it.ok for it in iter_objects({"id": "1", "title": "B"}, "L")] == [True]


def test_mapping_to_unknown_field_is_a_file_error(tmp_path: Path):
    p = tmp_path / "x.csv"
    p.write_text("a\n1\n", encoding="utf-8")
    items = list(read_csv(p, "L", mapping={"a": "tieu_de"}))
    assert len(items) == 1 and items[0].position == "file" and "tieu_de" in items[0].error


def test_nfc_from_decomposed_input(tmp_path: Path):
    p = tmp_path / "x.jsonl"
    title = unicodedata.normalize("NFD", "Hoà Bình quê tôi")
    p.write_text(json.dumps({"id": "1", "title": title}, ensure_ascii=False), encoding="utf-8")
    r = next(iter(read_jsonl(p, "L"))).record
    assert r.title == "Hòa Bình quê tôi" and unicodedata.is_normalized("NFC", r.title)


def test_csv_cell_with_a_whole_book(tmp_path: Path):
    p = tmp_path / "big.csv"
    text = "Một câu văn dài vừa phải. " * 40000  # ~1 MB in one cell
    p.write_text(f'id,title,text\n1,Sách dày,"{text}"\n', encoding="utf-8")
    items = list(read_csv(p, "L"))
    assert items[0].ok and len(items[0].text) > 900_000
