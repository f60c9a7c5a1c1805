from search.snippets import highlight, make_snippet


def test_folded_query_marks_accented_words():
    out = highlight("Lịch sử Bắc Giang", {"lich", "su"})
    assert out == "<mark>Lịch sử</mark> Bắc Giang"


def test_html_is_escaped_outside_and_inside_marks():
    out = highlight("<script>alert('x')</script> Yên Thế & Hà Nội", {"yen", "the"})
    assert "<script>" not in out
    assert "&lt;script&gt;" in out and "&amp;" in out
    assert "<mark>Yên Thế</mark>" in out


def test_best_window_is_chosen():
    text = (
        ("Câu mở đầu không liên quan. " * 5)
        + "Khởi nghĩa Yên Thế do Hoàng Hoa Thám lãnh đạo. "
        + ("Một câu khác nữa. " * 5)
    )
    snip = make_snippet(text, {"khoi": 2.0, "nghia": 2.0, "yen": 3.0, "the": 1.0}, max_words=15)
    assert "<mark>Khởi nghĩa Yên Thế</mark>" in snip
    assert snip.startswith("…")


def test_long_sentence_is_cut_around_match():
    words = ["từ"] * 200 + ["Bắc", "Giang"] + ["chữ"] * 200
    snip = make_snippet(" ".join(words), {"bac": 1.0, "giang": 1.0}, max_words=20)
    assert "<mark>Bắc Giang</mark>" in snip and len(snip.split()) < 30


def test_a_huge_text_gives_a_short_snippet_from_its_head():
    head = "Nuôi ong mật ở Yên Thế. " * 20
    text = head + "Đoạn giữa nói về cây vải thiều. " * 20000  # ~680,000 characters
    snip = make_snippet(text, {"ong": 2.0, "mat": 1.0})
    assert "<mark>ong mật</mark>" in snip
    assert snip.endswith(" …")
    assert len(snip) < 600
