from nlp.analyze import QueryAnalysis, analyze_query
from nlp.restore import DiacriticRestorer

CORPUS = [
    "Lịch sử Bắc Giang qua các thời kỳ.",
    "Tỉnh Bắc Giang có nhiều di tích lịch sử và văn hóa.",
    "Thư viện tỉnh Bắc Giang mở cửa từ thứ hai đến thứ bảy.",
]


def test_folded_vietnamese_query_is_restored() -> None:
    r = DiacriticRestorer().fit(CORPUS)
    a = analyze_query("lich su bac giang", r)
    assert isinstance(a, QueryAnalysis)
    assert a.language == "vi"
    assert not a.has_diacritics
    assert a.restored == "lịch sử Bắc Giang"
    assert a.dense_query == "lịch sử Bắc Giang"
    assert a.tokens == ["lich", "su", "bac", "giang"]
    assert a.folded_tokens == ["lich", "su", "bac", "giang"]
    assert a.restored_tokens == ["lịch", "sử", "bắc", "giang"]
    assert a.words == ["lịch_sử", "bắc_giang"]
    assert a["restored"] == a.restored and a.get("nope") is None


def test_accented_query() -> None:
    a = analyze_query("  Lịch sử   Hoà Bình ", DiacriticRestorer().fit(CORPUS))
    assert a.normalized == "Lịch sử Hòa Bình"
    assert a.folded == "lich su hoa binh"
    assert a.has_diacritics
    assert a.restored is None
    assert a.dense_query == a.normalized
    assert a.tokens == ["lịch", "sử", "hòa", "bình"]


def test_english_query_is_not_restored() -> None:
    a = analyze_query("history of the world", DiacriticRestorer().fit(CORPUS))
    assert a.language == "en"
    assert a.restored is None


def test_without_restorer_and_without_segmentation() -> None:
    a = analyze_query("lich su", None, segment=False)
    assert a.restored is None
    assert a.words is None


def test_odd_input_never_raises() -> None:
    for q in ["", "   ", "\x00\x01", "😀" * 50, "a" * 10_000, "\u0301\u0301"]:
        a = analyze_query(q, DiacriticRestorer())
        assert a.original == q
