"""Question analysis: answer type, content syllables, follow-up rewriting, "is this language at all"."""

from __future__ import annotations

import re

from qa_service.text import fold, normalize, syllables
from qa_service.types import QuestionType, Turn

# Patterns are matched on the lower-cased question padded with spaces: as typed when it has
# diacritics ("đầu" must not match "đâu"), folded on both sides when it was typed without them.
# Order matters: time before number ("năm bao nhiêu").
_TYPE_PATTERNS: list[tuple[QuestionType, tuple[str, ...]]] = [
    ("definition", (" là gì ", " nghĩa là gì ", " what is ", " what are ", " định nghĩa ")),
    (
        "time",
        (
            " khi nào ",
            " năm nào ",
            " bao giờ ",
            " lúc nào ",
            " ngày nào ",
            " tháng nào ",
            " thế kỷ nào ",
            " thời điểm nào ",
            " thời gian nào ",
            " năm bao nhiêu ",
            " năm mấy ",
            " mấy giờ ",
            " thập niên nào ",
            " thời kỳ nào ",
            " giai đoạn nào ",
            " when ",
            " what year ",
        ),
    ),
    (
        "place",
        (
            " ở đâu ",
            " đâu ",
            " nơi nào ",
            " chỗ nào ",
            " thành phố nào ",
            " nước nào ",
            " quốc gia nào ",
            " tỉnh nào ",
            " vùng nào ",
            " khu vực nào ",
            " địa điểm nào ",
            " where ",
            " which country ",
            " which city ",
        ),
    ),
    (
        "number",
        (
            " bao nhiêu ",
            " mấy ",
            " số lượng ",
            " how many ",
            " how much ",
            " bao xa ",
            " bao lâu ",
            " tỉ lệ ",
            " tỷ lệ ",
        ),
    ),
    (
        "person",
        (
            " ai ",
            " người nào ",
            " những ai ",
            " nhân vật nào ",
            " vị vua nào ",
            " ông nào ",
            " bà nào ",
            " tác giả nào ",
            " cầu thủ nào ",
            " who ",
            " whom ",
            " whose ",
        ),
    ),
    ("yesno", (" có phải ", " phải không ", " đúng không ", " có đúng ", " is it ", " does ", " did ")),
]
_FOLDED_PATTERNS = [(t, tuple(fold(p) for p in ps)) for t, ps in _TYPE_PATTERNS]
# "Ai Cập" (Egypt), "ai oán" are not "who".
_NOT_WHO = (" ai cập ", " ai oán ", " ai lên ", " ai lao ")


# Function words that carry no content in a question (with diacritics; a folded copy is used for
# questions typed without them).
QUESTION_STOP = frozenset(
    [
        "ai",
        "gì",
        "nào",
        "đâu",
        "bao",
        "nhiêu",
        "mấy",
        "khi",
        "giờ",
        "lúc",
        "là",
        "của",
        "có",
        "không",
        "phải",
        "được",
        "thì",
        "và",
        "với",
        "cho",
        "trong",
        "ngoài",
        "trên",
        "dưới",
        "những",
        "các",
        "một",
        "này",
        "kia",
        "đó",
        "ở",
        "tại",
        "vào",
        "ra",
        "đi",
        "đến",
        "từ",
        "như",
        "thế",
        "sao",
        "vì",
        "người",
        "nên",
        "bởi",
        "hay",
        "hoặc",
        "mà",
        "rằng",
        "thuộc",
        "về",
        "theo",
        "còn",
        "đã",
        "đang",
        "sẽ",
        "vẫn",
        "cũng",
        "đều",
        "rất",
        "lại",
        "nhất",
        "hơn",
        "qua",
        "cái",
        "chiếc",
        "việc",
        "sự",
        "nhiều",
        "ít",
        "what",
        "who",
        "when",
        "where",
        "which",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "and",
        "or",
        "do",
        "does",
        "did",
    ]
)
QUESTION_STOP_FOLDED = frozenset(fold(w) for w in QUESTION_STOP)


def question_type(question: str) -> QuestionType:
    sy = syllables(question)
    typed = any(fold(w) != w for w in sy)
    f = " " + " ".join(sy) + " "
    table = _TYPE_PATTERNS
    not_who = _NOT_WHO
    if not typed:
        f, table, not_who = fold(f), _FOLDED_PATTERNS, tuple(fold(n) for n in _NOT_WHO)
    for qtype, patterns in table:
        for p in patterns:
            if p in f:
                if qtype == "person" and p == " ai " and any(n in f for n in not_who) and f.count(" ai ") == 1:
                    continue
                return qtype
    if fold(f).rstrip().endswith(" khong") and fold(f).startswith(" co "):
        return "yesno"
    return "other"


def content_syllables(question: str) -> list[str]:
    """The question's syllables minus interrogative and function words (kept as typed)."""
    sy = syllables(question)
    if any(fold(s) != s for s in sy):
        return [s for s in sy if s not in QUESTION_STOP]
    return [s for s in sy if s not in QUESTION_STOP_FOLDED]


_LETTER_RE = re.compile(r"[A-Za-zÀ-ỹĐđ]")


def has_language_content(question: str) -> bool:
    """True when the question is Vietnamese or English: at least two Latin-script letters forming
    words, and not confidently identified (fastText lid.176 via ``nlp.langid``) as another language.
    Digits, punctuation, emoji, other scripts or e.g. French alone are not a question we answer."""
    words = [w for w in syllables(question) if _LETTER_RE.search(w)]
    latin = sum(1 for w in words for ch in w if _LETTER_RE.match(ch))
    if latin < 2 or not words:
        return False
    try:
        from nlp.langid import detect_language
    except ImportError:  # pragma: no cover - nlp is part of the repo
        return True
    guess = detect_language(question)
    return not (guess.lang not in ("vi", "en", "und") and guess.score >= 0.9 and guess.vi_syllable_share < 0.5)


# --- follow-ups -------------------------------------------------------------------------------

_PRONOUNS = (
    "ông ấy",
    "bà ấy",
    "anh ấy",
    "chị ấy",
    "cô ấy",
    "họ",
    "nó",
    "ông",
    "bà",
    "người này",
    "cuốn này",
    "cuốn sách này",
    "sách này",
    "tác phẩm này",
    "tác phẩm đó",
    "cuốn đó",
    "nơi đó",
    "nơi này",
    "ở đó",
    "việc đó",
    "điều đó",
    "he",
    "she",
    "it",
    "they",
    "this book",
)
_FOLLOWUP_OPENERS = ("còn ", "thế còn ", "vậy ", "và ", "what about ", "and ")


def _topic_of(previous: str) -> str:
    """The content part of a previous question: its syllables minus interrogatives."""
    words = normalize(previous).rstrip("?.! ").split()
    keep = [w for w in words if w.lower().strip(",.;:") not in QUESTION_STOP]
    return " ".join(keep)


def is_follow_up(question: str) -> bool:
    q = " " + normalize(question).lower() + " "
    if any(q.startswith(" " + o) for o in _FOLLOWUP_OPENERS):
        return True
    if any(f" {p} " in q or f" {p}?" in q for p in _PRONOUNS):
        return True
    return len(content_syllables(question)) <= 2


def rewrite_follow_up(question: str, history: list[Turn]) -> str:
    """A standalone query for ``question`` given earlier turns.

    The last user question's topic is appended when the new question looks like a follow-up
    (pronoun, "còn …", or almost no content words); otherwise the question is kept as it is.
    """
    question = normalize(question)
    previous = [t.content for t in history if t.role == "user" and t.content.strip()]
    if not previous or not is_follow_up(question):
        return question
    topic = _topic_of(previous[-1])
    if not topic:
        return question
    q_words = {fold(w) for w in syllables(question)}
    extra = " ".join(w for w in topic.split() if fold(w.lower().strip(",.;:?")) not in q_words)
    return f"{question.rstrip('?').rstrip()} ({extra})?" if extra else question
