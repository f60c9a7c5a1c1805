"""Known-item search: a query that is a record's exact title finds that record first, even when its
words are shared by hundreds of other records and a long description dilutes them (the two law
books the 30-minute soak could not find by title). Lexical search only: every document gets the same
constant unit vector (a placeholder, not a model output) and no query vector is passed, so the
pinning is tested without the dense side."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.model import Record
from nlp.fold import fold, has_diacritics
from nlp.normalize import normalize
from search.documents import docs_for_record
from search.filters import Filters
from search.index import SearchIndex
from search.results import QueryInput
from search.titles import query_title_key, title_keys

DIM = 8
TOPICS = ["hợp đồng", "tiền lương", "bảo hiểm xã hội", "công đoàn", "an toàn", "tranh chấp", "việc làm", "đất đai"]
FILLER = (
    "Cuốn sách tập hợp những bài viết về văn hóa ẩm thực, phong tục cưới hỏi, lễ hội đình làng và nghề thủ công "
    "truyền thống ở các tỉnh miền núi phía Bắc, kèm theo nhiều ảnh tư liệu quý hiếm. "
)


def query(text: str) -> QueryInput:
    return QueryInput(original=text, normalized=normalize(text), folded=fold(text), has_diacritics=has_diacritics(text))


def crowd() -> list[Record]:
    """Law books whose titles and summaries repeat the target's words, and the targets themselves."""
    out = []
    for i in range(240):
        topic = TOPICS[i % len(TOPICS)]
        out.append(
            Record(
                id=f"law-{i}",
                library_id="tinh" if i % 2 else "huyen",
                title=f"Pháp luật về lao động và {topic} (tập {i})",
                summary=f"Pháp luật về lao động: hỏi đáp pháp luật lao động về {topic}, luật lao động mới. " * 3,
            )
        )
    out.append(Record(id="target", library_id="tinh", title="Pháp Luật Về Lao Động", summary=FILLER * 20))
    out.append(Record(id="novel", library_id="tinh", title="Tắt đèn : tiểu thuyết", authors=["Ngô Tất Tố"]))
    for i in range(30):
        out.append(Record(id=f"tat-den-{i}", library_id="tinh", title=f"Bình luận {i}", summary="Tắt đèn. " * 9))
    return out


def placeholder_vectors(n: int) -> np.ndarray:
    return np.full((n, DIM), 1 / np.sqrt(DIM), np.float32)


def build(path) -> SearchIndex:
    idx = SearchIndex.open(path, model_id="lexical-only-test", dim=DIM)
    for rec in crowd():
        docs = docs_for_record(rec)
        idx.upsert(docs, placeholder_vectors(len(docs)))
    return idx


def ids(idx: SearchIndex, text: str, k: int = 10, filters: Filters | None = None) -> list[str]:
    return [h.record_id for h in idx.search(query(text), None, k=k, filters=filters, facets=False).hits]


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> SearchIndex:
    return build(tmp_path_factory.mktemp("known-item"))


def test_the_scenario_is_hard_without_the_title(index: SearchIndex) -> None:
    """Setup check: BM25 over the record text alone ranks the target far below the crowd."""
    acc = index.acc.scores([t for t in normalize("pháp luật về lao động").split()], index.store.next_slot)
    target = index.store.by_doc_id["tinh/target"]
    assert int((acc > acc[target]).sum()) >= 50


@pytest.mark.parametrize(
    "typed",
    [
        "Pháp Luật Về Lao Động",
        "pháp luật về lao động",
        "PHÁP LUẬT VỀ  LAO ĐỘNG.",
        "phap luat ve lao dong",
        "Phap Luat Ve Lao Dong",
    ],
)
def test_exact_title_comes_first(index: SearchIndex, typed: str) -> None:
    assert ids(index, typed)[0] == "target"


def test_old_and_new_tone_placement_match() -> None:
    assert title_keys("Hoà bình và thuỷ lợi").accented == title_keys("Hòa bình và thủy lợi").accented
    assert query_title_key("hoà bình và thuỷ lợi", True) in title_keys("Hòa Bình Và Thủy Lợi").accented


def test_title_proper_before_a_subtitle_comes_first(index: SearchIndex) -> None:
    assert ids(index, "Tắt đèn")[0] == "novel"
    assert ids(index, "tat den")[0] == "novel"


def test_part_of_a_title_is_not_pinned(index: SearchIndex) -> None:
    """Only a whole title (or title proper) pins; a shorter query ranks by relevance as before."""
    assert query_title_key("Pháp luật", True) not in title_keys("Pháp Luật Về Lao Động").accented
    assert "target" not in ids(index, "pháp luật", k=3)


def test_filters_still_apply(index: SearchIndex) -> None:
    assert "target" not in ids(index, "Pháp Luật Về Lao Động", filters=Filters(library_id="huyen"), k=50)
    assert ids(index, "Pháp Luật Về Lao Động", filters=Filters(library_id="tinh"))[0] == "target"


def test_rank_records_pins_the_same_way(index: SearchIndex) -> None:
    assert index.rank_records(query("Pháp Luật Về Lao Động"), None, k=5)[0] == "tinh/target"


def test_total_counts_the_pinned_record(index: SearchIndex) -> None:
    res = index.search(query("Pháp Luật Về Lao Động"), None, k=1)
    assert res.total >= 1 and res.hits[0].record_id == "target"


def test_survives_save_and_reopen_and_follows_updates(tmp_path) -> None:
    idx = build(tmp_path / "ix")
    idx.save()
    reopened = SearchIndex.open(tmp_path / "ix", model_id="lexical-only-test", dim=DIM)
    assert ids(reopened, "phap luat ve lao dong")[0] == "target"
    # retitled: the old title no longer pins it, the new one does
    renamed = Record(id="target", library_id="tinh", title="Bộ luật lao động năm 2019", summary=FILLER * 20)
    docs = docs_for_record(renamed)
    reopened.upsert(docs, placeholder_vectors(len(docs)))
    assert ids(reopened, "Pháp Luật Về Lao Động")[0] != "target"
    assert ids(reopened, "bo luat lao dong nam 2019")[0] == "target"
    # deleted: gone from the title map as well
    reopened.delete_records(["tinh/target"])
    assert "target" not in ids(reopened, "Bộ luật lao động năm 2019", k=50)
    assert not reopened.store.title_slots(query_title_key("bộ luật lao động năm 2019", True), True)


def test_pinning_can_be_turned_off(tmp_path) -> None:
    """``FusionConfig.known_items=False`` (the benchmark's comparison) ranks by fusion alone."""
    idx = build(tmp_path / "ix")
    idx.fusion = idx.fusion.model_copy(update={"known_items": False})
    assert ids(idx, "Pháp Luật Về Lao Động")[0] != "target"
