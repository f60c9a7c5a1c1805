import unicodedata

import pytest

from nlp.normalize import is_syllable, normalize

TONE_CASES = [
    ("hoà", "hòa"),
    ("thuỷ", "thủy"),
    ("khoẻ", "khỏe"),
    ("hoá", "hóa"),
    ("uỷ ban", "ủy ban"),
    ("tuỳ", "tùy"),
    ("toà án", "tòa án"),
    ("loè loẹt", "lòe loẹt"),
    ("qúy", "quý"),
    ("quý", "quý"),
    ("qùa", "quà"),
    ("gìa", "già"),
    ("gì", "gì"),
    ("giếng", "giếng"),
    ("hoàn", "hoàn"),
    ("thuyết", "thuyết"),
    ("hoạch", "hoạch"),
    ("huỳnh", "huỳnh"),
    ("khoèo", "khoèo"),
    ("người", "người"),
    ("rượu", "rượu"),
    ("khuỷu", "khuỷu"),
    ("ngoài", "ngoài"),
    ("xoáy", "xoáy"),
    ("mùa", "mùa"),
    ("thuở", "thuở"),
    ("quốc", "quốc"),
    ("khuya", "khuya"),
    ("Hoà Bình", "Hòa Bình"),
    ("HOÀ BÌNH", "HÒA BÌNH"),
    ("THUỶ LỢI", "THỦY LỢI"),
    ("Thuỷ", "Thủy"),
]


@pytest.mark.parametrize(("given", "expected"), TONE_CASES)
def test_tone_placement(given: str, expected: str) -> None:
    assert normalize(given) == expected


@pytest.mark.parametrize(("given", "expected"), TONE_CASES)
def test_decomposed_input(given: str, expected: str) -> None:
    assert normalize(unicodedata.normalize("NFD", given)) == expected


def test_marc_style_combining_marks() -> None:
    # LoC MARC: base letter followed by combining marks, sometimes in non-canonical order
    assert normalize("Vie\u0302\u0323t Nam") == "Việt Nam"
    assert normalize("Vie\u0323\u0302t Nam") == "Việt Nam"
    assert normalize("ho\u0300a") == "hòa"


def test_foreign_words_are_left_alone() -> None:
    for word in ["café", "résumé", "où", "Pérez", "naïve", "Müller", "São Paulo"]:
        assert normalize(word) == unicodedata.normalize("NFC", word)


def test_whitespace_and_controls() -> None:
    assert normalize("  a\u00a0b\u2003c\t\td  ") == "a b c d"
    assert normalize("a\x00b\x07c") == "abc"
    assert normalize("x\u200by\ufeffz\u00adw") == "xyzw"
    assert normalize("l1\r\nl2\r\n\r\n\r\n\r\nl3 \n  l4") == "l1\nl2\n\nl3\nl4"


def test_compatibility_forms() -> None:
    assert normalize("ＡＢＣ １２３") == "ABC 123"
    assert normalize("ﬁle") == "file"
    assert normalize("“quoted”") == "“quoted”"  # curly quotes are kept


def test_idempotent_on_examples() -> None:
    for given, _ in TONE_CASES:
        once = normalize(given)
        assert normalize(once) == once


def test_empty() -> None:
    assert normalize("") == ""
    assert normalize(" \n\t ") == ""


def test_is_syllable() -> None:
    for ok in ["người", "thủy", "quốc", "gì", "nghiêng", "ban"]:
        assert is_syllable(ok)
    for bad in ["history", "strong", "café", "xyz", "résumé"]:
        assert not is_syllable(bad)


def test_real_text_only_changes_tone_placement(vntc_test: list[str]) -> None:
    from nlp.fold import fold_normalized

    for doc in vntc_test[:100]:
        out = normalize(doc)
        # same letters once diacritics are folded (only marks move, invisible characters go)
        assert (
            fold_normalized(out).split()
            == fold_normalized(unicodedata.normalize("NFC", doc).replace("\u200b", "")).split()
        )
