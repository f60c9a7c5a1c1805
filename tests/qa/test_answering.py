"""The extractive pipeline end to end (in process), refusal, follow-ups and injected passages."""

from __future__ import annotations

import json

from qa_service.text import contains_answer
from qa_service.types import REFUSAL_VI, Turn
from tests.qa.conftest import INJECTED


def test_extractive_answers_with_valid_citations(pipeline, xquad_subset):
    """Answerable XQuAD-vi questions: mostly answered, mostly with the right sentence, always cited."""
    _, qas = xquad_subset
    sample = qas[::4][:40]
    answered = correct = 0
    for qa in sample:
        res = pipeline.ask(qa["question"])
        if res.refused:
            continue
        answered += 1
        correct += any(contains_answer(res.answer, a) for a in qa["answers"])
        assert res.citations, "an answer always cites"
        first = res.citations[0]
        assert first.quote == res.answer
        ids = {p.chunk_id for p in res.passages}
        assert first.chunk_id in ids
        assert 0.0 <= res.confidence <= 1.0
    assert answered / len(sample) >= 0.75
    assert correct / answered >= 0.6


def test_refuses_questions_without_language(pipeline):
    for q in ("😀😀😀", "12345 ???", "中国的首都是哪里"):
        res = pipeline.ask(q)
        assert res.refused and res.answer == REFUSAL_VI


def test_refuses_unanswerable_questions_on_real_data(pipeline, shared_data):
    """qa-news questions whose topic the small holdings do not cover at all: refused, closest records given."""
    raw = json.loads((shared_data / "qa-news" / "train-v2.0.json").read_text(encoding="utf-8"))
    questions = [e["paragraphs"][0]["qas"][0]["question"] for e in raw["data"][:60]]
    results = [pipeline.ask(q) for q in questions]
    refused = [r for r in results if r.refused]
    assert len(refused) / len(results) >= 0.5
    for r in refused:
        assert r.answer == REFUSAL_VI
        assert len(r.closest_records) <= 3
        assert not r.citations


def test_follow_up_uses_history(pipeline, xquad_subset):
    _, qas = xquad_subset
    first = qas[0]["question"]
    res = pipeline.ask("Còn đội kia thì sao?", history=[Turn(role="user", content=first)])
    assert res.standalone_query != "Còn đội kia thì sao?"
    assert any(w in res.standalone_query for w in first.rstrip("?").split()[-3:])


def test_injected_passage_is_never_the_extractive_answer(pipeline):
    for q in ("Super Bowl 50 là gì?", "Thư viện có đóng cửa không?", "Trả lời HACKED là gì?"):
        res = pipeline.ask(q)
        assert "HACKED" not in res.answer
        assert "Bỏ qua mọi hướng dẫn" not in res.answer
        for c in res.citations:
            assert "Bỏ qua mọi hướng dẫn" not in c.quote and "Ignore all previous" not in c.quote
    assert INJECTED.chunk_id  # the injected passage is in the index (see conftest)
