import unicodedata

from nlp.fold import fold, has_diacritics
from nlp.normalize import normalize
from nlp.tokenize import folded_syllables, syllables, tokens


def test_fold() -> None:
    assert fold("Đà Nẵng") == "da nang"
    assert fold("ĐƯỜNG") == "duong"
    assert fold("Thư viện Quốc gia Việt Nam") == "thu vien quoc gia viet nam"
    assert fold(unicodedata.normalize("NFD", "Hoà Bình")) == "hoa binh"
    assert fold("Ａｂｃ") == "abc"
    assert fold("") == ""


def test_fold_of_normalize_is_fold() -> None:
    for text in ["Hoà Bình", "THUỶ", "qúy", "café", "Đồng Nai\u00a0", "Vie\u0302\u0323t"]:
        assert fold(normalize(text)) == fold(text)


def test_has_diacritics() -> None:
    assert has_diacritics("Lịch sử")
    assert has_diacritics("đi")
    assert not has_diacritics("lich su")
    assert not has_diacritics("")


def test_syllables() -> None:
    assert syllables("Lịch sử Bắc Giang, 1.000 năm!") == ["lịch", "sử", "bắc", "giang", "1", "000", "năm"]
    assert syllables("Hoà-Bình") == ["hòa", "bình"]
    assert folded_syllables("Lịch sử Bắc Giang") == ["lich", "su", "bac", "giang"]
    assert tokens("Thuỷ", folded=True) == ["thuy"]
    assert tokens("Thuỷ") == ["thủy"]
    assert syllables("") == []
    assert syllables("!!! ...") == []
