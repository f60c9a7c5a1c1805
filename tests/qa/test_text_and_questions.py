"""Text helpers and question analysis."""

from __future__ import annotations

import pytest

from qa_service.questions import content_syllables, has_language_content, question_type, rewrite_follow_up
from qa_service.text import contains_answer, exact_match, f1_score, split_sentences, squad_normalize
from qa_service.types import Turn


def test_contains_answer_after_nfc_case_and_space():
    decomposed = "Thu\u0309y Ho\u0300a"  # combining marks, old tone placement
    assert contains_answer("Ông sinh ở  thủy   hòa năm 1900.", decomposed)
    assert not contains_answer("Ông sinh ở Huế.", decomposed)


def test_squad_normalisation_vietnamese():
    assert squad_normalize("Các  Vua, nhà Nguyễn!") == "vua nhà nguyễn"
    assert exact_match("những vua nhà Nguyễn", "Vua nhà Nguyễn.") == 1.0
    assert 0 < f1_score("Nguyễn Phúc Nguyên", "chúa Nguyễn Phúc Nguyên") < 1


def test_sentences_keep_abbreviations():
    s = split_sentences("Ông sinh tại TP. Hồ Chí Minh. Ông mất năm 2000. Hết")
    assert s == ["Ông sinh tại TP. Hồ Chí Minh.", "Ông mất năm 2000.", "Hết"]


@pytest.mark.parametrize(
    ("question", "qtype"),
    [
        ("Ai là tác giả Tắt đèn?", "person"),
        ("Năm nào Bắc Giang được tái lập?", "time"),
        ("Thư viện mở cửa mấy giờ?", "time"),
        ("Kim tự tháp ở đâu?", "place"),
        ("Có bao nhiêu tỉnh?", "number"),
        ("Lục lạp là gì?", "definition"),
        ("ai la tac gia tat den", "person"),
        ("Ai Cập nằm ở châu lục nào?", "other"),
        ("Có phải Hà Nội là thủ đô không?", "yesno"),
    ],
)
def test_question_types(question, qtype):
    assert question_type(question) == qtype


def test_content_syllables_keep_names_typed_either_way():
    assert "đèn" in content_syllables("Ai là tác giả Tắt đèn?")
    assert {"tac", "gia", "tat"} <= set(content_syllables("ai la tac gia tat den"))


def test_follow_up_is_rewritten_with_the_previous_topic():
    history = [Turn(role="user", content="Ai là tác giả Tắt đèn?"), Turn(role="assistant", content="Ngô Tất Tố")]
    q = rewrite_follow_up("Ông ấy sinh năm nào?", history)
    assert "Tắt đèn" in q and q.startswith("Ông ấy sinh năm nào")
    # a self-contained question is left alone
    assert rewrite_follow_up("Năm nào Bắc Giang được tái lập?", history) == "Năm nào Bắc Giang được tái lập?"


def test_language_content():
    assert has_language_content("Ai là tác giả?")
    assert has_language_content("who wrote it")
    assert not has_language_content("😀 ??? 12345")
    assert not has_language_content("中国的首都是哪里")
    assert not has_language_content("Où est la tour Eiffel à Paris ?")
    assert has_language_content("ai la tac gia tat den")
