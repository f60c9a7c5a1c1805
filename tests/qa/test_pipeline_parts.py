"""Retrieve, rerank, span, cite, refuse — each on real XQuAD-vi text."""

from __future__ import annotations

from qa_service.cite import check_citations, is_valid_citation
from qa_service.questions import question_type
from qa_service.refuse import closest_records
from qa_service.rerank import SentenceRanker
from qa_service.span import extract_short_answer, yes_no
from qa_service.text import contains_answer, fold
from qa_service.types import Citation


def test_retriever_finds_gold_paragraph_with_and_without_diacritics(retriever, xquad_subset):
    _, qas = xquad_subset
    sample = qas[::5][:30]
    hits = sum(any(p.chunk_id == qa["chunk_id"] for p in retriever.retrieve(qa["question"], k=5)) for qa in sample)
    folded = sum(
        any(p.chunk_id == qa["chunk_id"] for p in retriever.retrieve(fold(qa["question"]), k=5)) for qa in sample
    )
    assert hits / len(sample) >= 0.8
    assert folded / len(sample) >= 0.6


def test_retriever_library_filter(retriever, xquad_subset):
    _, qas = xquad_subset
    got = retriever.retrieve(qas[0]["question"], k=10, library_id="viwiki")
    assert got and all(p.library_id == "viwiki" for p in got)


def test_ranker_picks_answer_sentence_from_gold_and_distractors(retriever, xquad_subset):
    _, qas = xquad_subset
    ranker = SentenceRanker(idf=retriever.idf)
    sample = qas[::3][:40]
    correct = 0
    for qa in sample:
        passages = retriever.retrieve(qa["question"], k=8)
        cands = ranker.rank(qa["question"], question_type(qa["question"]), passages)
        correct += bool(cands) and any(contains_answer(cands[0].text, a) for a in qa["answers"])
    assert correct / len(sample) >= 0.6


def test_short_answers_by_type():
    s = (
        "Lady Gaga đã hát quốc ca trước trận đấu diễn ra tại sân vận động Levi's ở Santa Clara "
        "vào ngày 7 tháng 2 năm 2016."
    )
    assert "Gaga" in extract_short_answer(s, "Ai hát quốc ca?", "person")
    assert "2016" in extract_short_answer(s, "Trận đấu diễn ra khi nào?", "time")
    assert "Santa Clara" in extract_short_answer(s, "Trận đấu diễn ra ở đâu?", "place")
    n = extract_short_answer("Dân số của vùng là 17.786.419 người.", "Dân số của vùng là bao nhiêu?", "number")
    assert n.startswith("17.786.419")
    d = extract_short_answer("Các số như vậy được gọi là hợp số.", "Các số như vậy được gọi là gì?", "definition")
    assert d == "hợp số"


def test_yes_no_only_from_a_statement():
    assert yes_no("Hà Nội là thủ đô của Việt Nam.") == "Có"
    assert yes_no("Huế không phải là thủ đô hiện nay.") == "Không"


def test_citations_are_checked_against_retrieved_passages(retriever, xquad_subset):
    _, qas = xquad_subset
    passages = retriever.retrieve(qas[0]["question"], k=5)
    p = passages[0]
    quote = p.text.split(". ")[0]
    good = Citation(record_id=p.record_id, library_id=p.library_id, chunk_id=p.chunk_id, title=p.title, quote=quote)
    forged_quote = good.model_copy(update={"quote": "Một câu không có trong tài liệu."})
    forged_chunk = good.model_copy(update={"chunk_id": "xquad/zzz#9"})
    assert is_valid_citation(good, passages)
    assert check_citations([good, forged_quote, forged_chunk], passages) == [good]


def test_closest_records_are_distinct(retriever, xquad_subset):
    _, qas = xquad_subset
    recs = closest_records(retriever.retrieve(qas[0]["question"], k=20), 3)
    assert len(recs) == 3
    assert len({(r.library_id, r.record_id) for r in recs}) == 3


def test_yes_no_needs_a_sentence_that_states_the_question(retriever):
    from qa_service.pipeline import QaPipeline
    from qa_service.refuse import Answerability
    from qa_service.types import Passage

    passages = [
        Passage(
            chunk_id="t/1#0",
            record_id="1",
            library_id="t",
            title="Hà Nội",
            text="Hà Nội là thủ đô của Việt Nam. Thành phố có nhiều hồ.",
        ),
    ]

    class Fixed:
        idf = None

        def retrieve(self, question, k=20, library_id=None):
            return passages

    pl = QaPipeline(Fixed(), answerability=Answerability(threshold=0.0, min_window_cov=0.0, max_missing_idf=2.0))
    assert pl.ask("Có phải Hà Nội là thủ đô của Việt Nam không?").short_answer == "Có"
    assert pl.ask("Có phải Hà Nội có sân bay quốc tế lớn nhất không?").short_answer is None
