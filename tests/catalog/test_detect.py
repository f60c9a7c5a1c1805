"""Format detection by content, gzip, MARC-8, and the summary text."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pymarc

from catalog.importers.detect import read_any, sniff
from catalog.ingest import format_summary, import_path
from catalog.model import ImportProblem, ImportSummary
from tests.catalog.pdfgen import write_pdf


def test_sniff_by_content_not_extension(loc_raw, tmp_path: Path, shared_data: Path):
    marc = tmp_path / "export.txt"
    marc.write_bytes(b"".join(loc_raw[:3]))
    pdf = write_pdf(tmp_path / "a.bin", ["Some text on a page, enough to count."])
    epub = tmp_path / "book.zip"
    shutil.copy(shared_data / "epub" / "chi-pheo.epub", epub)
    xml = tmp_path / "records"
    w = pymarc.XMLWriter(open(xml, "wb"))  # noqa: SIM115
    w.write(pymarc.Record(loc_raw[0], force_utf8=True))
    w.close()
    jsonl = tmp_path / "records.dat"
    jsonl.write_text('{"id": "1", "title": "A"}\n', encoding="utf-8")
    csv = tmp_path / "noext"
    csv.write_text("id,title,year\n1,A,2000\n", encoding="utf-8")
    txt = tmp_path / "note"
    txt.write_text("Một ghi chú ngắn về thư viện.\n", encoding="utf-8")
    expected = {marc: "marc", pdf: "pdf", epub: "epub", xml: "marcxml", jsonl: "jsonl", csv: "csv", txt: "txt"}
    assert {p: sniff(p) for p in expected} == expected
    assert [it.ok for it in read_any(marc, "L")] == [True] * 3
    assert all(it.ok for it in read_any(xml, "L"))


def test_gzipped_inputs(tmp_path: Path, store):
    p = tmp_path / "books.jsonl.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        for i in range(3):
            f.write(json.dumps({"id": str(i), "title": f"Sách {i}"}, ensure_ascii=False) + "\n")
    s = import_path(p, "L", store, progress=False)
    assert (s.imported, s.errors) == (3, [])


def test_marc8_record_is_read(tmp_path: Path):
    rec = pymarc.Record(force_utf8=False)
    rec.leader = pymarc.Leader("00000nam  2200000   4500")  # leader/09 blank: MARC-8
    rec.add_field(pymarc.Field(tag="001", data="m8"))
    rec.add_field(
        pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"), subfields=[pymarc.Subfield("a", "Caf\xe9 /")])
    )
    raw = rec.as_marc()  # pymarc writes MARC-8 bytes for a non-UTF-8 leader
    p = tmp_path / "m8.mrc"
    p.write_bytes(raw)
    items = list(read_any(p, "L"))
    assert items[0].ok and items[0].record.title.startswith("Caf")


def test_format_summary():
    s = ImportSummary(imported=2, updated=1, skipped=3)
    s.errors.append(ImportProblem(file="a.mrc", position="record 7", reason="truncated record"))
    text = format_summary(s)
    assert "nhập mới: 2" in text and "a.mrc: record 7: truncated record" in text
    assert "imported: 2" in format_summary(s, lang="en")
