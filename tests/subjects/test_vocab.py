"""Vocabularies: SKOS (good and malformed), TSV, catalogue headings, DDC; the store keeps the old one."""

from pathlib import Path

import pytest

from subjects import marc
from subjects.project import ProjectStore
from subjects.vocab import VocabularyError, ddc_vocabulary, from_headings, load_skos, load_tsv

GOOD_TTL = """@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix ex: <http://example.org/s/> .
ex:yhoc a skos:Concept ; skos:prefLabel "Y học"@vi, "Medicine"@en ; skos:altLabel "Y khoa"@vi ;
    skos:narrower ex:duoc .
ex:duoc a skos:Concept ; skos:prefLabel "Dược học"@vi, "Pharmacy"@en .
"""
BAD_TTL = """@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix ex: <http://example.org/s/> .
ex:a a skos:Concept ;
    skos:prefLabel "A"@vi
ex:b a skos:Concept .
"""


def test_skos_labels_and_hierarchy(tmp_path: Path):
    p = tmp_path / "v.ttl"
    p.write_text(GOOD_TTL, encoding="utf-8")
    v = load_skos(p, "demo")
    assert len(v) == 2
    c = v.concepts["http://example.org/s/yhoc"]
    assert c.label("vi") == "Y học" and c.label("en") == "Medicine"
    assert "Y khoa" in c.all_labels()
    assert c.narrower == ["http://example.org/s/duoc"]
    assert v.concepts["http://example.org/s/duoc"].broader == ["http://example.org/s/yhoc"]
    assert v.by_label()["y khoa"] == c.uri


def test_malformed_skos_reports_line_and_old_vocab_stays(tmp_path: Path):
    store = ProjectStore(tmp_path)
    good = tmp_path / "good.ttl"
    good.write_text(GOOD_TTL, encoding="utf-8")
    store.load_vocab_file("demo", good)
    bad = tmp_path / "bad.ttl"
    bad.write_text(BAD_TTL, encoding="utf-8")
    with pytest.raises(VocabularyError) as err:
        store.load_vocab_file("demo", bad)
    assert err.value.line is not None and 3 <= err.value.line <= 5
    assert len(ProjectStore(tmp_path).get_vocab("demo")) == 2  # the stored one is untouched


def test_tsv_and_bad_tsv_line(tmp_path: Path):
    p = tmp_path / "v.tsv"
    p.write_text("<http://x/1>\tLuật dân sự\nhttp://x/2\tLuật hình sự\n", encoding="utf-8")
    v = load_tsv(p, "law")
    assert v.label("http://x/1") == "Luật dân sự" and len(v) == 2
    p.write_text("<http://x/1>\tA\nno-tab-here\n", encoding="utf-8")
    with pytest.raises(VocabularyError) as err:
        load_tsv(p, "law")
    assert err.value.line == 2


def test_headings_vocabulary_counts_and_broader():
    v = from_headings("h", {"Medicine": 3, "Medicine -- History": 2}, "http://x/h", "en")
    sub = next(c for c in v.concepts.values() if c.pref["en"] == "Medicine -- History")
    top = next(c for c in v.concepts.values() if c.pref["en"] == "Medicine")
    assert sub.broader == [top.uri] and top.count == 3


def test_ddc_depths():
    assert marc.ddc_at_depth("363.17998", 1) == "3"
    assert marc.ddc_at_depth("363.17998", 3) == "363"
    assert marc.ddc_at_depth("363.17998", None) == "363.17998"
    v = ddc_vocabulary("ddc1", {"3": 5})
    assert v.concepts["http://dewey.info/class/300/"].label("en").startswith("300 Social")


def test_marc_heading_extraction():
    from pymarc import Field, Record, Subfield

    rec = Record()
    rec.add_field(Field(tag="001", data="123"))
    rec.add_field(Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", "Title :"), Subfield("b", "sub /")]))
    rec.add_field(
        Field(
            tag="650",
            indicators=[" ", "0"],
            subfields=[
                Subfield("a", "Radioactive waste sites"),
                Subfield("x", "Cleanup"),
                Subfield("v", "Congresses."),
            ],
        )
    )
    rec.add_field(Field(tag="082", indicators=["0", "0"], subfields=[Subfield("a", "363.17/998"), Subfield("2", "21")]))
    assert marc.headings(rec) == ["Radioactive waste sites -- Cleanup -- Congresses"]
    assert marc.ddc(rec) == "363.17998"
    assert marc.indexing_text(rec).startswith("Title : sub")
