from nlp.segment import segment, segment_words
from nlp.sentences import split_sentences


def test_segment_words() -> None:
    words = segment_words("Thư viện tỉnh Bắc Giang mở cửa lúc 7 giờ.")
    assert "thư_viện" in words
    assert "bắc_giang" in words
    assert all(w == w.lower() for w in words)
    assert "." not in words


def test_segment_normalises_first() -> None:
    assert segment_words("Hoà Bình") == segment_words("Hòa Bình")
    assert segment("Hoà Bình")[0].startswith("Hòa")


def test_segment_empty_and_multiline() -> None:
    assert segment_words("") == []
    assert segment_words("   ") == []
    words = segment_words("Lịch sử\nBắc Giang")
    assert "lịch_sử" in words


def test_sentences_abbreviations_and_numbers() -> None:
    text = (
        "TP. Hồ Chí Minh có 1.000 thư viện. Nxb. Trẻ phát hành sách năm 2020! "
        "GS. TS. Trần Văn B đến dự.\nDòng không có dấu chấm\nCâu cuối?"
    )
    assert split_sentences(text) == [
        "TP. Hồ Chí Minh có 1.000 thư viện.",
        "Nxb. Trẻ phát hành sách năm 2020!",
        "GS. TS. Trần Văn B đến dự.",
        "Dòng không có dấu chấm",
        "Câu cuối?",
    ]


def test_sentences_empty() -> None:
    assert split_sentences("") == []
    assert split_sentences("\n\n  \n") == []


def test_sentences_on_real_text(vntc_test: list[str]) -> None:
    for doc in vntc_test[:50]:
        sentences = split_sentences(doc)
        assert sentences
        assert all(s.strip() == s and s for s in sentences)
