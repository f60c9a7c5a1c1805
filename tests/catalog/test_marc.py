"""MARC 21 import of the real LoC sample, checked against values read independently with pymarc."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pymarc
import pytest

from catalog.importers.marc import read_marc, read_marcxml
from catalog.text import clean_line


def _pymarc_records(raw: list[bytes]) -> list[pymarc.Record]:
    return [pymarc.Record(r, to_unicode=True, force_utf8=True) for r in raw]


@pytest.fixture(scope="module")
def pm(loc_raw):
    return _pymarc_records(loc_raw)


@pytest.fixture(scope="module")
def imported(loc_store):
    store, summary = loc_store
    recs = {}
    for batch in store.iter_records(1000):
        for r in batch:
            recs[r.id] = r
    return store, summary, recs


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _strip(s: str) -> str:
    return re.sub(r"[\s.,;:/=]+$", "", s)


def test_first_2000_import_without_errors(imported, pm):
    store, summary, recs = imported
    assert summary.errors == []
    control_numbers = [r["001"].data.strip() for r in pm]
    distinct = len(set(control_numbers))
    assert summary.imported == distinct
    assert summary.imported + summary.updated + summary.skipped == 2000
    assert store.count() == distinct == len(recs)
    assert set(recs) == set(control_numbers)


def test_second_run_skips_everything(loc_file, loc_store):
    from catalog.ingest import import_path

    store, _ = loc_store
    again = import_path([loc_file], "loc", store, progress=False)
    assert (again.imported, again.updated, again.errors) == (0, 0, [])
    assert again.skipped == 2000


def test_ddc_count_equals_082_count(imported, pm):
    _, _, recs = imported
    with_082 = {r["001"].data.strip() for r in pm if r.get_fields("082") and r["082"].get_subfields("a")}
    with_ddc = {rid for rid, r in recs.items() if r.ddc}
    assert with_ddc == with_082
    for r in pm:
        if r.get_fields("082"):
            expected = r["082"].get_subfields("a")[0].replace("/", "").replace("'", "").strip()
            assert recs[r["001"].data.strip()].ddc == _strip(expected)


def test_language_from_008(imported, pm):
    _, _, recs = imported
    codes = {r["001"].data.strip(): r["008"].data[35:38] for r in pm}
    eng = {k for k, c in codes.items() if c == "eng"}
    assert eng and {k for k, r in recs.items() if r.language == "en"} >= eng
    for k, c in codes.items():
        if c == "spa":
            assert recs[k].language == "es"
        if c == "fre":
            assert recs[k].language == "fr"
        if c == "ger":
            assert recs[k].language == "de"


def test_titles_authors_years_isbn(imported, pm):
    _, _, recs = imported
    n_year = 0
    for r in pm:
        rec = recs[r["001"].data.strip()]
        a = _strip(clean_line(r["245"].get_subfields("a")[0]))
        assert rec.title.startswith(a[: max(1, len(a) - 1)]), (rec.title, a)
        if r.get_fields("100"):
            name = _strip(clean_line(r["100"].get_subfields("a")[0]))
            assert rec.authors and rec.authors[0].rstrip(".") == name.rstrip(".")
        cs = [c for f in r.get_fields("260", "264") for c in f.get_subfields("c")]
        years = [m.group(1) for c in cs for m in [re.search(r"(1\d{3}|20\d{2})", c)] if m]
        if years:
            n_year += 1
            assert rec.year == int(years[0])
        for f in r.get_fields("020"):
            for v in f.get_subfields("a"):
                digits = re.sub(r"[^0-9Xx]", "", v.split(" ")[0]).upper()
                if len(digits) in (10, 13):
                    assert digits in rec.isbn
        if r.get_fields("520"):
            assert rec.summary
        assert rec.type in ("book", "thesis", "serial", "article")
    assert n_year > 1800


def test_lcsh_subject_headings(imported, pm):
    """README definition: $a plus $v $x $y $z joined by ' -- ', NFC, trailing punctuation removed."""
    _, _, recs = imported
    expected_all: set[str] = set()
    got_all: set[str] = set()
    for r in pm:
        rec = recs[r["001"].data.strip()]
        got_all.update(rec.subjects)
        for f in r.get_fields("650"):
            if f.indicator2 != "0":
                continue
            parts = [_nfc(sf.value).strip() for sf in f.subfields if sf.code in "avxyz"]
            if not parts:
                continue
            heading = " ".join(" -- ".join(parts).rstrip(" .").split())  # whitespace runs collapsed
            expected_all.add(heading)
            assert heading in rec.subjects, (heading, rec.subjects)
    assert len(expected_all) > 2000
    assert expected_all <= got_all


def test_everything_is_nfc(imported, pm):
    _, _, recs = imported
    decomposed = [r["001"].data.strip() for r in pm if _nfc(r.title or "") != (r.title or "")]
    assert decomposed, "the sample is expected to hold decomposed titles"
    for rec in recs.values():
        for value in rec.model_dump().values():
            for s in value if isinstance(value, list) else [value]:
                if isinstance(s, str):
                    assert unicodedata.is_normalized("NFC", s)
                    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", s)


def test_spot_checks(imported):
    _, _, recs = imported
    r = recs["00000095"]
    assert r.title == "Handbook of practical hygiene"
    assert r.authors == ["Bergey, D. H."]
    assert (r.year, r.language, r.subjects, r.publisher) == (
        1899, "en", ["Hygiene"], "The Chemical publishing company",
    )  # fmt: skip
    r = recs["00000289"]
    assert r.title.startswith("Story of the Cherokee Bible : An address")
    assert r.edition == "2d ed., enl"
    assert r.series == ["Cherokee history series"]
    assert "Cherokee Indians" in r.subjects


def test_marcxml_gives_the_same_records(loc_raw, tmp_path: Path):
    sub = loc_raw[:30]
    bin_path = tmp_path / "x.mrc"
    bin_path.write_bytes(b"".join(sub))
    xml_path = tmp_path / "x.xml"
    writer = pymarc.XMLWriter(open(xml_path, "wb"))  # noqa: SIM115
    for r in _pymarc_records(sub):
        writer.write(r)
    writer.close()
    a = [it.record for it in read_marc(bin_path, "L")]
    b = [it.record for it in read_marcxml(xml_path, "L")]
    assert len(a) == len(b) == 30 and a == b
    # a malformed document keeps the records before the fault and names the line
    data = xml_path.read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: len(data) // 2] + b"<<garbage")
    items = list(read_marcxml(cut, "L"))
    assert items[-1].error and "line" in items[-1].error
    assert 5 < sum(it.ok for it in items) < 30
