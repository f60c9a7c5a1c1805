"""Reference questions through the gateway, answered from the demo library's holdings."""

from __future__ import annotations

from tests.services.test_gateway_search import assert_problem


def ask(api, question: str, **extra):
    r = api.post("/api/v1/ask", json={"question": question, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def test_author_of_a_book_from_its_record(api):
    body = ask(api, "Ai là tác giả Tắt đèn?")
    assert not body["refused"]
    assert body["short_answer"] == "Ngô Tất Tố"
    assert body["citations"] and body["citations"][0]["title"] == "Tắt đèn"


def test_opening_hours_from_a_digitized_document(api):
    body = ask(api, "Thư viện tỉnh Bắc Giang mở cửa mấy giờ?")
    assert not body["refused"]
    cited = body["citations"][0]
    assert "#" in cited["chunk_id"] and cited["location"]
    assert cited["quote"] in body["answer"] or body["answer"] in cited["quote"]


def test_question_the_holdings_cannot_answer_is_refused_with_closest_records(api):
    body = ask(api, "Giá vé máy bay đi Paris tháng sau là bao nhiêu?")
    assert body["refused"]
    assert body["answer"] == "Thư viện chưa có tài liệu trả lời câu hỏi này"
    assert 1 <= len(body["closest_records"]) <= 3


def test_bad_questions_are_4xx(api):
    assert_problem(api.post("/api/v1/ask", json={"question": ""}), 422)
    assert_problem(api.post("/api/v1/ask", json={"question": "x" * 2001}), 422)
    assert_problem(api.post("/api/v1/ask", json={"question": "Ai?", "mode": "poetry"}), 422)
    assert_problem(api.post("/api/v1/ask", json={"question": "Ai viết Số đỏ?", "mode": "generative"}), 400)
