"""SearchIndex behaviour with RANDOM vectors (unit tests only: no model quality is asserted)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from catalog.model import Chunk, Record
from search.dense import DenseIndex, ModelMismatchError
from search.documents import docs_for_record
from search.filters import Filters, UnknownFilterValue
from search.index import SearchIndex
from search.results import QueryInput

DIM = 16


def rand_vecs(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def q(text: str, restored: str | None = None) -> QueryInput:
    from nlp.fold import fold, has_diacritics
    from nlp.normalize import normalize

    return QueryInput(
        original=text,
        normalized=normalize(text),
        folded=fold(text),
        has_diacritics=has_diacritics(text),
        restored=restored,
    )


RECORDS = [
    Record(
        id="1",
        library_id="tinh",
        title="Lịch sử Bắc Giang",
        authors=["Nguyễn Văn A"],
        year=1995,
        language="vi",
        subjects=["Bắc Giang (Việt Nam) -- Lịch sử"],
        summary="Lịch sử tỉnh Bắc Giang.",
    ),
    Record(
        id="2",
        library_id="huyen",
        title="Địa lý Việt Nam",
        year=2005,
        language="vi",
        subjects=["Việt Nam -- Địa lý"],
        summary="Sông ngòi, núi non của Việt Nam.",
    ),
    Record(
        id="3",
        library_id="tinh",
        title="A history of Hanoi",
        year=2012,
        language="en",
        type="book",
        subjects=["Hà Nội (Việt Nam) -- Lịch sử"],
    ),
    Record(
        id="4",
        library_id="truong",
        title="Truyện Kiều",
        authors=["Nguyễn Du"],
        year=1987,
        language="vi",
        type="document",
        subjects=["Thơ Việt Nam"],
    ),
]
CHUNKS = {
    "tinh/1": [
        Chunk(
            chunk_id="tinh/1#0",
            record_id="1",
            library_id="tinh",
            seq=0,
            location="đoạn 1",
            text="Bắc Giang là tỉnh miền núi phía Bắc. Đất này có nhiều di tích.",
        ),
        Chunk(
            chunk_id="tinh/1#1",
            record_id="1",
            library_id="tinh",
            seq=1,
            location="đoạn 2",
            text="Khởi nghĩa Yên Thế do Hoàng Hoa Thám lãnh đạo kéo dài gần 30 năm.",
        ),
    ],
    "truong/4": [
        Chunk(
            chunk_id="truong/4#0",
            record_id="4",
            library_id="truong",
            seq=0,
            location="câu 1",
            text="Trăm năm trong cõi người ta, chữ tài chữ mệnh khéo là ghét nhau.",
        ),
    ],
}


def all_docs():
    docs = []
    for r in RECORDS:
        docs.extend(docs_for_record(r, CHUNKS.get(r.key, [])))
    return docs


@pytest.fixture()
def index(tmp_path):
    idx = SearchIndex.open(tmp_path / "idx", "test-model", DIM)
    docs = all_docs()
    idx.upsert(docs, rand_vecs(len(docs)))
    return idx


def test_docs_for_record_shapes():
    docs = docs_for_record(RECORDS[0], CHUNKS["tinh/1"])
    assert [d.kind for d in docs] == ["record", "chunk", "chunk"]
    assert docs[0].doc_id == "tinh/1" and "Nguyễn Văn A" in docs[0].text and "Bắc Giang (Việt Nam)" in docs[0].text
    assert all(d.title == "Lịch sử Bắc Giang" for d in docs)
    assert "Lịch sử Bắc Giang" in docs[1].lexical_text()
    with pytest.raises(ValueError):
        docs_for_record(RECORDS[1], CHUNKS["tinh/1"])


def test_chunk_hits_are_grouped_under_their_record(index):
    res = index.search(q("khởi nghĩa Yên Thế Bắc Giang"), None, k=5)
    assert res.hits[0].record_key == "tinh/1"
    hit = res.hits[0]
    assert [p.chunk_id for p in hit.passages][0] == "tinh/1#1"
    assert len({h.record_key for h in res.hits}) == len(res.hits)
    assert "<mark>" in hit.passages[0].snippet


def test_query_without_diacritics_finds_and_marks(index):
    res = index.search(q("khoi nghia yen the"), None, k=3)
    assert res.hits[0].record_key == "tinh/1"
    assert "<mark>Khởi nghĩa Yên Thế</mark>" in res.hits[0].passages[0].snippet


def test_filters_are_applied_before_ranking(index):
    res = index.search(q("Việt Nam lịch sử"), None, k=10, filters=Filters(library_id="tinh"))
    assert {h.library_id for h in res.hits} == {"tinh"}
    res = index.search(q("lịch sử"), rand_vecs(1, 5)[0], k=10, filters=Filters(language="en"))
    assert [h.record_key for h in res.hits] == ["tinh/3"]
    res = index.search(q("Việt Nam"), rand_vecs(1, 5)[0], k=10, filters=Filters(year_from=2000, year_to=2010))
    assert [h.record_key for h in res.hits] == ["huyen/2"]
    res = index.search(q("Nguyễn"), rand_vecs(1, 5)[0], k=10, filters=Filters(type="document"))
    assert [h.record_key for h in res.hits] == ["truong/4"]
    # subject: exact heading or its leading part before " -- "
    res = index.search(q("lịch sử"), rand_vecs(1, 5)[0], k=10, filters=Filters(subject="Việt Nam"))
    assert [h.record_key for h in res.hits] == ["huyen/2"]
    res = index.search(q("lịch sử"), None, k=10, filters=Filters(subject="Bắc Giang (Việt Nam) -- Lịch sử"))
    assert [h.record_key for h in res.hits] == ["tinh/1"]
    res = index.search(q("lịch sử"), None, k=10, filters=Filters(library_id=["huyen", "truong"]))
    assert {h.library_id for h in res.hits} <= {"huyen", "truong"}


def test_unknown_filter_values_are_reported(index):
    with pytest.raises(UnknownFilterValue) as e:
        index.search(q("sử"), None, filters=Filters(library_id="khong-co"))
    assert e.value.field == "library_id" and "tinh" in e.value.known
    with pytest.raises(UnknownFilterValue):
        index.search(q("sử"), None, filters=Filters(language="fr"))
    with pytest.raises(UnknownFilterValue):
        index.search(q("sử"), None, filters=Filters(subject="Không có"))
    with pytest.raises(ValueError):
        Filters(type="spaceship")
    with pytest.raises(ValueError):
        Filters(year_from=2000, year_to=1990)
    assert index.known_values("library_id") == ["huyen", "tinh", "truong"]
    assert "Việt Nam" in index.known_values("subject")
    assert index.known_values("year") == ["1987", "2012"]


def test_facets_count_matched_records(index):
    res = index.search(q("lịch sử Việt Nam"), None, k=10)
    lib = {f.value: f.count for f in res.facets.library}
    assert lib["tinh"] == 2 and lib["huyen"] == 1
    dec = {f.value: f.count for f in res.facets.decade}
    assert dec["1990s"] == 1 and dec["2010s"] == 1
    assert {f.value for f in res.facets.language} == {"vi", "en"}
    assert res.total == sum(lib.values())
    assert any(f.value == "Việt Nam -- Địa lý" for f in res.facets.subject)


def test_upsert_is_searchable_at_once_and_replaces_record(index):
    new = Record(id="9", library_id="huyen", title="Quan họ Bắc Ninh", year=2020, language="vi")
    docs = docs_for_record(new, [])
    index.upsert(docs, rand_vecs(1, 9))
    assert index.search(q("quan ho"), None).hits[0].record_key == "huyen/9"
    n = index.count()
    # re-import record 1 without chunks: its old chunk documents are gone
    index.upsert(docs_for_record(RECORDS[0], []), rand_vecs(1, 10))
    assert index.count() == n - 2
    assert index.search(q("Hoàng Hoa Thám"), None).total == 0
    assert index.delete_records(["huyen/9"]) == 1
    assert index.search(q("quan ho"), None).total == 0
    assert index.record_count() == 4


def test_pagination(index):
    full = index.search(q("Việt Nam lịch sử Nguyễn"), None, k=10)
    page = index.search(q("Việt Nam lịch sử Nguyễn"), None, k=1, offset=1)
    assert page.hits[0].record_key == full.hits[1].record_key and page.total == full.total


def test_long_and_garbage_queries_do_not_fail(index):
    assert index.search(q("lịch sử " * 5000), rand_vecs(1)[0]).total >= 1
    assert index.search(q("\x00\x07 \u200b"), None).total == 0


def test_persistence_round_trip(tmp_path, index):
    before = index.search(q("Bắc Giang"), rand_vecs(1, 3)[0], k=5)
    index.save()
    again = SearchIndex.open(index.path, "test-model", DIM)
    after = again.search(q("Bắc Giang"), rand_vecs(1, 3)[0], k=5)
    assert again.count() == index.count() and again.record_count() == index.record_count()
    assert [h.record_key for h in after.hits] == [h.record_key for h in before.hits]
    assert [h.score for h in after.hits] == pytest.approx([h.score for h in before.hits])
    # the reopened index keeps taking upserts with fresh slots
    again.upsert(docs_for_record(Record(id="7", library_id="tinh", title="Ca trù"), []), rand_vecs(1, 7))
    assert again.search(q("ca tru"), None).hits[0].record_key == "tinh/7"


def test_crash_between_temp_write_and_replace_keeps_previous_generation(index, monkeypatch):
    index.save()
    index.upsert(docs_for_record(Record(id="8", library_id="tinh", title="Chèo cổ"), []), rand_vecs(1, 8))
    real_replace = os.replace

    def crash(src, dst):
        if str(dst).endswith("CURRENT"):
            raise OSError("simulated crash before the swap")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        index.save()
    monkeypatch.setattr(os, "replace", real_replace)
    reopened = SearchIndex.open(index.path, "test-model", DIM)
    assert reopened.generation == 1
    assert reopened.search(q("chèo"), None).total == 0
    assert reopened.record_count() == 4
    index.save()  # and the next save succeeds
    assert SearchIndex.open(index.path, "test-model", DIM).search(q("chèo"), None).total == 1


def test_model_id_mismatch_is_refused(index):
    with pytest.raises(ModelMismatchError, match="re-index"):
        index.upsert(all_docs()[:1], rand_vecs(1), model_id="another-model")
    with pytest.raises(ModelMismatchError):
        index.upsert(all_docs()[:1], np.ones((1, DIM + 1), np.float32))
    index.save()
    with pytest.raises(ModelMismatchError, match="re-index"):
        SearchIndex.open(index.path, "another-model", DIM)
    with pytest.raises(ModelMismatchError):
        SearchIndex.open(index.path, "test-model", DIM * 2)


def test_dense_switches_to_hnsw_and_handles_deletes_random_vectors():
    d = DenseIndex("m", DIM, hnsw_threshold=50)
    vecs = rand_vecs(80, 1)
    d.add(np.arange(40), vecs[:40])
    assert not d.is_hnsw
    d.add(np.arange(40, 80), vecs[40:])
    assert d.is_hnsw and d.size == 80
    slots, scores = d.search(vecs[60], 1)
    assert slots[0] == 60 and scores[0] == pytest.approx(1.0, abs=1e-4)
    d.remove([60])
    assert 60 not in d.search(vecs[60], 5)[0]
    mask = np.zeros(80, bool)
    mask[[3, 60, 70]] = True
    assert set(d.search(vecs[3], 5, allowed=mask)[0]) == {3, 70}
