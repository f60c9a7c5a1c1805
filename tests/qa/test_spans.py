"""The learned span ranker: its candidates, its optimiser, and what it does on real XQuAD-vi text
for articles it was not fitted on."""

from __future__ import annotations

import json

import numpy as np

from qa_service.questions import question_type
from qa_service.rerank import fit_listwise
from qa_service.span import SPAN_FEATURES, SpanModel, expected_f1_choice, span_candidates, span_matrix
from qa_service.text import contains_answer, f1_score, split_sentences
from tests.qa.conftest import N_ARTICLES


def _gold_sentences(qas):
    """(question, qtype, sentence holding the answer, answers) for the subset's questions."""
    out = []
    for qa in qas:
        qtype = question_type(qa["question"])
        if qtype == "yesno":
            continue
        holding = [s for s in split_sentences(qa["context"]) if any(contains_answer(s, a) for a in qa["answers"])]
        sent = holding[0] if holding else None
        if sent:
            out.append((qa["question"], qtype, sent, qa["answers"], qa["chunk_id"].split("#")[0]))
    return out


def test_candidates_are_substrings_without_question_words():
    s = "Lady Gaga đã hát quốc ca trước trận đấu tại sân vận động Levi's ở Santa Clara vào ngày 7 tháng 2 năm 2016."
    cands = span_candidates(s, "Ai hát quốc ca?", "person")
    texts = {c.text for c in cands}
    assert "Lady Gaga" in texts
    assert all(c.text in s for c in cands)
    assert all(set(c.features) == set(SPAN_FEATURES) for c in cands)
    assert "quốc ca" not in texts and "hát" not in texts  # the question's own words are not answers


def test_listwise_fit_learns_which_feature_marks_the_positive():
    rng = np.random.default_rng(0)
    x, y, g = [], [], []
    for q in range(200):
        feats = rng.normal(size=(6, 3))
        pos = int(np.argmax(feats[:, 1]))  # feature 1 decides; 0 and 2 are noise
        x.append(feats)
        y.append(np.eye(6)[pos])
        g.append(np.full(6, q))
    w = fit_listwise(np.vstack(x), np.concatenate(y), np.concatenate(g))
    assert w.w[1] > 3 * max(abs(w.w[0]), abs(w.w[2]))


def test_expected_f1_decoding_hedges_only_when_the_model_hesitates():
    texts = ["Ba Lan", "Thống nhất Ba Lan", "Công nhân Thống nhất Ba Lan", "Kraków"]
    # near-equal nested spans: the one sharing most with the others wins over the argmax
    assert expected_f1_choice(texts, np.array([1.0, 0.9, 0.9, 0.95])) == 1
    # a confident model keeps its argmax
    assert expected_f1_choice(texts, np.array([8.0, 0.9, 0.9, 0.95])) == 0
    # the answer never jumps to a span that neither contains the argmax nor lies within it
    assert expected_f1_choice(texts, np.array([0.95, 0.95, 0.95, 1.0])) == 3
    # only the ``top`` best-scored take part: the hedge is out of reach with top=1
    assert expected_f1_choice(texts, np.array([1.0, 0.9, 0.9, 0.95]), top=1) == 0


def test_span_model_fitted_on_other_articles_finds_answers(xquad_subset, shared_data):
    """Fitted on XQuAD-vi articles outside the test subset, it answers the subset's questions (from
    the sentence holding the answer) better than the rules alone."""
    raw = json.loads((shared_data / "xquad-vi" / "xquad.vi.json").read_text(encoding="utf-8"))
    train_qas = [
        {"question": qa["question"], "answers": [a["text"] for a in qa["answers"]], "context": p["context"]}
        | {"chunk_id": f"t{ai}#0"}
        for ai, art in enumerate(raw["data"][N_ARTICLES : N_ARTICLES + 16])
        for p in art["paragraphs"]
        for qa in p["qas"]
    ]
    xs, ys, gs = [], [], []
    for i, (q, qtype, sent, answers, _) in enumerate(_gold_sentences(train_qas)):
        cands = span_candidates(sent, q, qtype)
        if cands:
            xs.append(span_matrix(cands))
            ys.append(np.array([max(f1_score(c.text, a) for a in answers) for c in cands]) ** 8)
            gs.append(np.full(len(cands), i))
    model = SpanModel(fit_listwise(np.vstack(xs), np.concatenate(ys), np.concatenate(gs), steps=1500))
    rules = SpanModel.__new__(SpanModel)
    rules.weights = None
    test = _gold_sentences(xquad_subset[1])
    learned = np.mean([max(f1_score(model.best(s, q, t) or "", a) for a in ans) for q, t, s, ans, _ in test])
    ruled = np.mean([max(f1_score(rules.best(s, q, t) or "", a) for a in ans) for q, t, s, ans, _ in test])
    assert len(test) >= 60
    assert learned > ruled
    assert learned >= 0.4


def test_short_answer_is_quoted_from_the_answer_sentence(pipeline, xquad_subset):
    _, qas = xquad_subset
    for qa in qas[::6][:20]:
        res = pipeline.ask(qa["question"])
        if res.refused or res.question_type == "yesno" or not res.short_answer:
            continue
        assert res.short_answer in res.answer


def test_span_rerank_only_permutes_the_top_sentences(retriever, xquad_subset):
    from qa_service.rerank import SentenceRanker

    _, qas = xquad_subset
    ranker = SentenceRanker(idf=retriever.idf)
    model = SpanModel()
    if model.weights is None:  # not fitted yet: the rules, and no re-ordering
        assert model.rerank(qas[0]["question"], "other", []) == []
        return
    off = SpanModel(weights=model.weights, sentence_weight=0.0)
    on = SpanModel(weights=model.weights, sentence_weight=1.0)
    for qa in qas[::10][:8]:
        qtype = question_type(qa["question"])
        cands = ranker.rank(qa["question"], qtype, retriever.retrieve(qa["question"], k=8))
        before = [c.text for c in cands]
        assert [c.text for c in off.rerank(qa["question"], qtype, list(cands))] == before
        after = on.rerank(qa["question"], qtype, list(cands))
        assert sorted(c.text for c in after[:3]) == sorted(before[:3])
        assert [c.text for c in after[3:]] == before[3:]
        for c in after[:3]:
            assert c.short is None or qtype == "yesno" or c.short in c.text
