"""Hypothesis: any bytes given to the MARC, MARCXML, CSV and JSONL readers yield per-record results (a record or
an error naming its position), never an exception out of the reader, and never a record that fails its model.

Inputs are arbitrary bytes, and valid files with bytes flipped, cut or inserted, so that the search reaches past
the first sanity check of each reader.
"""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from pathlib import Path

import pymarc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from catalog.importers.base import ImportItem
from catalog.importers.detect import read_any
from catalog.importers.marc import read_marc, read_marcxml
from catalog.importers.tabular import read_csv, read_jsonl
from catalog.model import Record


def _marc_sample() -> bytes:
    out = io.BytesIO()
    for i, (title, author) in enumerate(
        [("Tắt đèn", "Ngô Tất Tố"), ("Truyện Kiều", "Nguyễn Du"), ("Số đỏ", "Vũ Trọng Phụng")]
    ):
        rec = pymarc.Record(force_utf8=True)
        rec.leader = pymarc.Leader("00000nam a2200000 a 4500")
        rec.add_field(pymarc.Field(tag="001", data=f"bg-{i:04d}"))
        rec.add_field(pymarc.Field(tag="008", data="990101s1939    vm            000 0 vie d"))
        rec.add_field(
            pymarc.Field(tag="100", indicators=pymarc.Indicators("1", " "), subfields=[pymarc.Subfield("a", author)])
        )
        rec.add_field(
            pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"), subfields=[pymarc.Subfield("a", title)])
        )
        rec.add_field(
            pymarc.Field(tag="650", indicators=pymarc.Indicators(" ", "7"), subfields=[pymarc.Subfield("a", "Văn học")])
        )
        out.write(rec.as_marc())
    return out.getvalue()


MARC = _marc_sample()


def _marcxml_sample() -> bytes:
    reader = pymarc.MARCReader(MARC, to_unicode=True, force_utf8=True)
    body = b"".join(pymarc.record_to_xml(r, namespace=True) for r in reader)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><collection xmlns="http://www.loc.gov/MARC21/slim">'
        + body
        + b"</collection>"
    )


MARCXML = _marcxml_sample()
CSV = (
    "id,title,authors,year,subjects\n"
    "bg-1,Tắt đèn,Ngô Tất Tố,1939,Văn học\n"
    'bg-2,"Truyện Kiều, bản 1",Nguyễn Du;Đào Duy Anh,1820,Thơ\n'
).encode()
JSONL = (
    "\n".join(
        json.dumps(r, ensure_ascii=False)
        for r in [
            {"id": "bg-1", "title": "Tắt đèn", "authors": ["Ngô Tất Tố"], "year": 1939},
            {"id": "bg-2", "title": "Truyện Kiều", "authors": ["Nguyễn Du"], "text": "Trăm năm trong cõi người ta."},
        ]
    )
    + "\n"
).encode()


@st.composite
def mutated(draw, sample: bytes) -> bytes:
    """``sample`` with a few bytes flipped, a slice cut out, and random bytes inserted; sometimes gzipped."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if data and draw(st.booleans()):
        a = draw(st.integers(0, len(data)))
        b = draw(st.integers(a, min(len(data), a + 40)))
        del data[a:b]
    if draw(st.booleans()):
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(max_size=40))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    out = bytes(data)
    return gzip.compress(out) if draw(st.integers(0, 9)) == 0 else out


def _check(items: list[ImportItem]) -> None:
    for item in items:
        assert isinstance(item, ImportItem)
        assert isinstance(item.position, str) and item.position
        if item.error is not None:
            assert isinstance(item.error, str) and item.error.strip()
        else:
            assert isinstance(item.record, Record)
            Record.model_validate(item.record.model_dump())  # what was read is a valid record


def _read(reader, data: bytes, name: str) -> list[ImportItem]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        items = list(reader(path, "tv-test"))
        _check(items)
        # the sniffing entry point, which ingest and the import API use, is just as total
        _check(list(read_any(path, "tv-test")))
    return items


# Found by these tests: a gzip stream cut short raised EOFError out of every reader.
TRUNCATED_GZIP = b"\x1f\x8b"
CUT_GZIP = gzip.compress(CSV * 20)[:30]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_samples_are_valid():
    """The mutation seeds themselves import cleanly, so mutants exercise the parsers past their first check."""
    for reader, data, name, n in (
        (read_marc, MARC, "a.mrc", 3),
        (read_marcxml, MARCXML, "a.xml", 3),
        (read_csv, CSV, "a.csv", 2),
        (read_jsonl, JSONL, "a.jsonl", 2),
    ):
        items = _read(reader, data, name)
        assert len(items) == n and all(i.ok for i in items), [(i.position, i.error) for i in items]


@SETTINGS
@given(st.one_of(st.binary(max_size=600), mutated(MARC)))
@example(TRUNCATED_GZIP)
@example(CUT_GZIP)
def test_marc_reader_is_total(data: bytes):
    _read(read_marc, data, "fuzz.mrc")


@SETTINGS
@given(st.one_of(st.binary(max_size=400), mutated(MARCXML)))
@example(TRUNCATED_GZIP)
@example(CUT_GZIP)
def test_marcxml_reader_is_total(data: bytes):
    _read(read_marcxml, data, "fuzz.xml")


@SETTINGS
@given(st.one_of(st.binary(max_size=400), mutated(CSV), st.text(max_size=200).map(str.encode)))
@example(TRUNCATED_GZIP)
@example(CUT_GZIP)
def test_csv_reader_is_total(data: bytes):
    _read(read_csv, data, "fuzz.csv")


@SETTINGS
@given(st.one_of(st.binary(max_size=400), mutated(JSONL), st.text(max_size=200).map(str.encode)))
@example(TRUNCATED_GZIP)
@example(CUT_GZIP)
def test_jsonl_reader_is_total(data: bytes):
    _read(read_jsonl, data, "fuzz.jsonl")


@settings(max_examples=60, deadline=None)
@given(mutated(MARC))
def test_a_bad_marc_record_does_not_hide_the_good_ones(data: bytes):
    """Corrupting bytes inside one record costs at most the records it touches: the reader goes on."""
    items = _read(read_marc, MARC[: len(MARC) // 3] + data + MARC, "mixed.mrc")
    good = [i for i in items if i.ok]
    titles = {i.record.title for i in good}
    assert {"Tắt đèn", "Truyện Kiều", "Số đỏ"} <= titles, [(i.position, i.error) for i in items]
