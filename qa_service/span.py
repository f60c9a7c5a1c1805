"""Short answer spans from a supporting sentence, by question type.

Candidates are the sentence's runs of words that the question does not contain (the answer is
what the sentence adds to the question), typed with underthesea NER/POS for people and places and
with patterns for times and quantities. The candidate of the expected type closest to the words
the question shares with the sentence wins; "là gì" questions take the phrase after "là".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from qa_service.questions import QUESTION_STOP
from qa_service.text import fold, normalize, syllables
from qa_service.types import QuestionType

_TIME_RE = re.compile(
    r"(ngày\s+\d{1,2}\s+tháng\s+\d{1,2}(?:\s*(?:năm|,)\s*\d{3,4})?|tháng\s+\d{1,2}(?:\s+năm)?\s+\d{3,4}"
    r"|(?:năm\s+)?\d{3,4}\s*[–-]\s*\d{2,4}|thế\s+kỷ\s+(?:thứ\s+)?[\dIVXLC]+(?:\s+TCN)?|thập\s+niên\s+\d+"
    r"|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\s*giờ(?:\s*\d{1,2})?|năm\s+\d{1,4}(?:\s+TCN)?|\b\d{4}\b)",
    re.I,
)
_NUMBER_RE = re.compile(
    r"((?:khoảng|hơn|gần|trên|dưới)\s+)?(\d+(?:[.,]\d+)*(?:\s*%|\s+phần trăm)?"
    r"(?:\s+(?:triệu|nghìn|ngàn|tỷ|tỉ|trăm|vạn))?(?:\s+[^\W\d_]+)?)",
    re.I,
)
_NUMBER_WORDS_RE = re.compile(
    r"\b((?:một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|mươi|trăm|nghìn|ngàn|triệu|tỷ)"
    r"(?:\s+(?:một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|mươi|lăm|mốt|trăm|nghìn|ngàn|triệu|tỷ))*"
    r"(?:\s+[^\W\d_]+)?)\b",
    re.I,
)
_YES_RE = re.compile(r"\b(có|đúng|phải)\b", re.I)
_NEG_RE = re.compile(r"\b(không|chưa|chẳng|không phải|chưa từng)\b", re.I)
_SPLIT_RE = re.compile(r"[,;:()\"“”«»\[\]]|\s[–-]\s")


@dataclass
class Span:
    text: str
    start: int  # character offsets in the sentence
    end: int
    typed: bool


@lru_cache(maxsize=2048)
def _ner(sentence: str) -> tuple[tuple[str, str, str, str], ...]:
    from underthesea import ner

    try:
        return tuple(tuple(t) for t in ner(sentence))  # type: ignore[misc]
    except Exception:  # underthesea can fail on odd input; spans then come from patterns only
        return ()


def _entity_spans(sentence: str, labels: tuple[str, ...]) -> list[Span]:
    """Runs of NER entities with these labels, plus runs of proper nouns (Np) as a fallback."""
    out: list[Span] = []
    pos = 0
    cur: list[tuple[int, int]] = []
    cur_typed = False

    def flush() -> None:
        nonlocal cur, cur_typed
        if cur:
            s, e = cur[0][0], cur[-1][1]
            out.append(Span(sentence[s:e], s, e, cur_typed))
        cur, cur_typed = [], False

    for word, tag, _chunk, ent in _ner(sentence):
        i = sentence.find(word, pos)
        if i < 0:
            continue
        j = i + len(word)
        pos = j
        is_ent = ent[2:] in labels if ent != "O" else False
        if is_ent or tag == "Np":
            if cur and ent.startswith("B-") and cur_typed and not is_ent:
                flush()
            cur.append((i, j))
            cur_typed = cur_typed or is_ent
        else:
            flush()
    flush()
    return out


def _free_runs(sentence: str, q_words: set[str]) -> list[Span]:
    """Maximal runs of words not in the question, split at punctuation."""
    out: list[Span] = []
    for m in re.finditer(r"[^,;:()\"“”«»\[\]]+", sentence):
        seg_start = m.start()
        words = [(w.start() + seg_start, w.end() + seg_start, w.group(0)) for w in re.finditer(r"\S+", m.group(0))]
        run: list[tuple[int, int, str]] = []
        for w in words + [(-1, -1, "")]:
            key = fold(w[2].lower().strip(".!?"))
            if w[0] >= 0 and key and key not in q_words:
                run.append(w)
                continue
            while run and fold(run[0][2].lower()) in _EDGE_STOP:
                run.pop(0)
            while run and fold(run[-1][2].lower().strip(".!?")) in _EDGE_STOP:
                run.pop()
            if run:
                s, e = run[0][0], run[-1][1]
                out.append(Span(sentence[s:e].rstrip(".!?"), s, e, False))
            run = []
    return out


_EDGE_STOP = frozenset(
    fold(w)
    for w in [
        "và",
        "của",
        "là",
        "thì",
        "được",
        "bị",
        "đã",
        "đang",
        "sẽ",
        "các",
        "những",
        "cũng",
        "vào",
        "ở",
        "tại",
        "trong",
        "với",
        "cho",
        "bởi",
        "do",
        "từ",
        "rằng",
        "như",
        "theo",
        "một",
    ]
)


def _anchor_positions(sentence: str, q_words: set[str]) -> list[int]:
    return [m.start() for m in re.finditer(r"\S+", sentence) if fold(m.group(0).lower().strip('.,;:!?()"')) in q_words]


def _closest(spans: list[Span], anchors: list[int]) -> Span | None:
    if not spans:
        return None
    if not anchors:
        return spans[0]

    def score(s: Span) -> float:
        dist = min(min(abs(a - s.start), abs(a - s.end)) for a in anchors)
        n = len(s.text.split())
        after = any(a < s.start for a in anchors)
        return (10.0 if s.typed else 0.0) - dist / 15.0 + min(n, 6) * 0.4 + (0.5 if after else 0.0) - (n > 10) * 1.0

    return max(spans, key=score)


def extract_short_answer(sentence: str, question: str, qtype: QuestionType) -> str | None:
    """A short answer from ``sentence`` for ``question`` of type ``qtype``, or None."""
    sentence = normalize(sentence)
    q_syl = syllables(question)
    q_words = {fold(w) for w in q_syl if w not in QUESTION_STOP} | {fold(w) for w in q_syl if len(w) > 3}
    q_words_all = {fold(w) for w in q_syl}
    anchors = _anchor_positions(sentence, q_words)

    def not_in_question(s: Span) -> bool:
        return any(fold(w) not in q_words_all for w in syllables(s.text))

    if qtype == "yesno":
        return yes_no(sentence)
    if qtype == "time":
        spans = [Span(m.group(0), m.start(), m.end(), True) for m in _TIME_RE.finditer(sentence)]
        best = _closest([s for s in spans if not_in_question(s)], anchors)
        if best:
            return best.text
    if qtype == "number":
        spans = [Span(m.group(2), m.start(2), m.end(2), True) for m in _NUMBER_RE.finditer(sentence)]
        spans += [
            Span(m.group(1), m.start(1), m.end(1), True)
            for m in _NUMBER_WORDS_RE.finditer(sentence)
            if fold(m.group(1).split()[0].lower()) != "nam" or len(m.group(1).split()) > 1
        ]
        spans = [s for s in spans if not_in_question(s)]
        for s in spans:  # drop a trailing word the question already has ("38 đề nghị" -> "38")
            words = s.text.split()
            if len(words) > 1 and fold(words[-1].lower()) in q_words_all:
                s.text = " ".join(words[:-1])
        best = _closest(spans, anchors)
        if best:
            return best.text
    if qtype in ("person", "place"):
        labels = ("PER",) if qtype == "person" else ("LOC", "ORG")
        if qtype == "place":
            for m in re.finditer(r"\b(?:tại|ở|thuộc|trong|đến|từ)\s+((?:[A-ZĐÀ-Ỹ][\w.À-ỹ]*\s?)+)", sentence):
                cand = Span(m.group(1).strip().rstrip("."), m.start(1), m.end(1), True)
                if not_in_question(cand):
                    return cand.text
        spans = [s for s in _entity_spans(sentence, labels) if not_in_question(s)]
        best = _closest(spans, anchors)
        if best:
            return best.text
    if qtype == "other" and re.search(r"\b(nào|which)\b", normalize(question).lower()):
        # "đội nào", "cầu thủ nào": a named thing, when the sentence has one the question lacks
        spans = [s for s in _entity_spans(sentence, ("PER", "LOC", "ORG", "MISC")) if not_in_question(s)]
        spans = [s for s in spans if s.typed or any(w[:1].isupper() for w in s.text.split())]
        best = _closest(spans, anchors)
        if best:
            return best.text
    if qtype == "definition":
        m = re.search(r"\b(?:là|gọi là|nghĩa là|tức là)\s+([^,;.()]+)", sentence)
        if m and not_in_question(Span(m.group(1), m.start(1), m.end(1), True)):
            words = m.group(1).split()
            return " ".join(words[:8]).rstrip(".!?")
    runs = [r for r in _free_runs(sentence, q_words_all) if len(r.text.split()) <= 12]
    best = _closest(runs, anchors)
    return best.text if best else None


def yes_no(sentence: str) -> str | None:
    """ "Không" when the sentence states a negation, "Có" when it states the fact plainly."""
    low = normalize(sentence).lower()
    if _NEG_RE.search(low):
        return "Không"
    return "Có"
