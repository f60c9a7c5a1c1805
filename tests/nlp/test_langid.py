from nlp.fold import fold
from nlp.langid import LanguageGuess, detect_language

ENGLISH = [
    "The library opens at eight in the morning on weekdays.",
    "A history of the Vietnamese language and its writing systems",
    "Introduction to information retrieval",
    "How do I renew a book that I borrowed last month?",
    "Children's books about animals and the natural world",
    "The complete works of William Shakespeare",
    "Where can I find newspapers from the nineteenth century?",
    "Guide to cataloguing rare manuscripts and maps",
    "Principles of economics, second edition",
    "Poems written during the war years",
]

VIETNAMESE_FOLDED_QUERIES = [
    "lich su bac giang",
    "thu vien mo cua may gio",
    "sach cho thieu nhi",
    "truyen kieu nguyen du",
    "van hoc viet nam hien dai",
    "nha xuat ban tre",
    "lam sao de muon sach",
    "dia chi thu vien tinh",
]


def test_vietnamese_with_and_without_diacritics(vntc_test: list[str]) -> None:
    docs = [d[:1500] for d in vntc_test[:200]]
    accented = [detect_language(d).lang for d in docs]
    folded = [detect_language(fold(d)).lang for d in docs]
    assert accented.count("vi") / len(docs) >= 0.98
    assert folded.count("vi") / len(docs) >= 0.95


def test_folded_headlines_mostly_vietnamese(vntc_test: list[str]) -> None:
    heads = [d.split("\n", 1)[0] for d in vntc_test[:200]]
    rate = sum(detect_language(fold(h)).lang == "vi" for h in heads) / len(heads)
    assert rate >= 0.85  # short headlines with foreign names are the hard case


def test_folded_queries_are_vietnamese() -> None:
    for q in VIETNAMESE_FOLDED_QUERIES:
        guess = detect_language(q)
        assert guess.lang == "vi", (q, guess)
        assert guess.diacritics is False


def test_english_stays_english() -> None:
    for text in ENGLISH:
        guess = detect_language(text)
        assert guess.lang == "en", (text, guess)


def test_accented_vietnamese() -> None:
    guess = detect_language("Lịch sử Bắc Giang")
    assert guess == LanguageGuess(lang="vi", score=guess.score, diacritics=True, vi_syllable_share=1.0)
    assert 0.0 < guess.score <= 1.0


def test_short_or_empty_is_und() -> None:
    for text in ["", "  ", "12345", "a", "?!", "ok"]:
        assert detect_language(text).lang == "und", text


def test_other_languages_pass_through() -> None:
    assert detect_language("Die Geschichte der Stadt und ihrer Bewohner").lang == "de"
    assert detect_language("Historia de la ciudad y sus habitantes").lang == "es"
