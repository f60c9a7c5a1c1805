"""Author and year questions are answered from the named record's catalogue entry."""

from __future__ import annotations

from qa_service.catalogue import catalogue_fact
from qa_service.pipeline import QaPipeline
from qa_service.types import Passage


def _p(title: str, authors: list[str], year: int | None, rid: str, text: str | None = None) -> Passage:
    return Passage(
        chunk_id=f"tv/{rid}",
        record_id=rid,
        library_id="tv",
        title=title,
        text=text or f"{title}\n{', '.join(authors)}",
        score=1.0,
        authors=authors,
        year=year,
    )


PASSAGES = [
    _p("Tắt đèn", ["Ngô Tất Tố"], 1939, "b1"),
    _p("Lều chõng", ["Ngô Tất Tố"], 1952, "b2"),
    _p("Đèn cù", ["Trần Đĩnh"], 2014, "b3"),
]


def test_author_question_names_the_title():
    fact = catalogue_fact("Ai là tác giả Tắt đèn?", PASSAGES)
    assert fact is not None and fact.passage.record_id == "b1"
    assert fact.short == "Ngô Tất Tố" and "Ngô Tất Tố" in fact.answer


def test_without_diacritics_and_other_phrasings():
    assert catalogue_fact("tat den do ai viet", PASSAGES).passage.record_id == "b1"
    assert catalogue_fact("Lều chõng xuất bản năm nào?", PASSAGES).short == "1952"
    assert catalogue_fact("Who wrote Tắt đèn?", PASSAGES, language="en").answer.startswith("“Tắt đèn” is by")


def test_no_fact_when_the_title_is_not_named_or_the_question_is_not_about_it():
    assert catalogue_fact("Ai là tác giả Truyện Kiều?", PASSAGES) is None
    assert catalogue_fact("Tắt đèn kể về điều gì?", PASSAGES) is None
    assert catalogue_fact("Ai là tác giả đèn?", PASSAGES) is None  # "đèn" alone is no title here


class _Fixed:
    def __init__(self, passages):
        self.passages = passages

    def retrieve(self, question, k=20, library_id=None):
        return list(self.passages)


def test_pipeline_answers_from_the_record_and_cites_it():
    result = QaPipeline(_Fixed(PASSAGES)).ask("Ai là tác giả Tắt đèn?")
    assert not result.refused
    assert result.short_answer == "Ngô Tất Tố"
    assert [(c.record_id, c.quote) for c in result.citations] == [("b1", "Tắt đèn")]
