"""Short answer spans from a supporting sentence, by question type.

With a fitted model (``calibration.json`` → "span") a listwise ranker over candidate word spans
chooses the answer (see :class:`SpanModel`, below); the rules described next are its fallback and
one of its features.

Candidates are the sentence's runs of words that the question does not contain (the answer is
what the sentence adds to the question), typed with underthesea NER/POS for people and places and
with patterns for times and quantities. The candidate of the expected type closest to the words
the question shares with the sentence wins; "là gì" questions take the phrase after "là".
"""

from __future__ import annotations

import re
from collections import Counter
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


# --- learned span ranking --------------------------------------------------------------------
# Candidates are the word sequences (underthesea words) of up to ``MAX_SPAN_WORDS`` inside one
# punctuation-free segment of the supporting sentence. Each gets features of its form (length,
# POS, NER, capitals, digits, time/number patterns, crossed with the question type), of its overlap
# with the question, and of its context: how well the words around it match the words around the
# question's interrogative ("đánh bại đội nào trong …" ↔ "đánh bại <span> trong …"). A linear
# listwise model over these (``calibration.json`` → "span", fitted by ``bench/qa_quality.py --fit``)
# picks the span; the rules above remain the fallback and one of the features.

MAX_SPAN_WORDS = 10
_SEG_BREAK = frozenset(',;:()[]"“”«».!?…')
_WH_RE = re.compile(
    r"\b(ai|gì|nào|đâu|bao nhiêu|bao giờ|bao lâu|bao xa|mấy|khi nào|thế nào|tại sao|vì sao|sao)\b", re.I
)
_POS_GROUPS = ("N", "Np", "M", "V", "A", "E", "C", "R", "P", "L", "Nc", "X")
_QTYPES = ("person", "time", "place", "number", "definition", "other")
_FUNCTION_POS = frozenset(["E", "C", "CC", "R", "T", "L", "P"])


def _pos_onehot(prefix: str, tag: str) -> dict[str, float]:
    t = tag if tag in _POS_GROUPS else ("N" if tag.startswith("N") else "X")
    return {f"{prefix}_{g}": float(t == g) for g in _POS_GROUPS}


def _type_names() -> list[str]:
    return [
        "has_digit",
        "year",
        "time_pat",
        "num_pat",
        "per",
        "loc_org",
        "misc",
        "np",
        "cap",
        "ent_exact",
        "head_match",
        "pat_exact",
    ]


SPAN_FEATURES: tuple[str, ...] = tuple(
    [f"len_{b}" for b in ("1", "2", "3", "45", "68", "9p")]
    + ["q_overlap", "q_content_in", "edge_first", "edge_last"]
    + [f"first_{g}" for g in _POS_GROUPS]
    + [f"last_{g}" for g in _POS_GROUPS]
    + ["np_start", "chunk_end", "seg_start", "seg_end", "left_q", "right_q", "near_q", "seg_cov"]
    + ["left_ctx", "right_ctx", "left_adj", "right_adj", "after_la", "rule_f1", "sent_pos", "all_cap_words"]
    + ["seg_has_q", "crosses_pattern", "full_np", "full_ent"]
    + [f"prev_{g}" for g in _POS_GROUPS]
    + [f"next_{g}" for g in (*_POS_GROUPS, "CH", "END")]
    + [f"{t}_len_{b}" for t in _QTYPES for b in ("1", "2", "3", "45", "68", "9p")]
    + [f"{t}_{n}" for t in _QTYPES for n in _type_names()]
)


@dataclass
class SpanCandidate:
    text: str
    start: int
    end: int
    features: dict[str, float]
    score: float = 0.0


def wh_context(question: str) -> tuple[set[str], set[str], str | None, str | None, str | None]:
    """Folded syllables just left and right of the question's interrogative, and the noun that the
    interrogative asks about ("đội" in "đội nào")."""
    q = normalize(question)
    syl = syllables(q)
    low = " ".join(syl)
    m = _WH_RE.search(low)
    if not m:
        return set(), set(), None, None, None
    left = syllables(low[: m.start()])
    right = syllables(low[m.end() :])
    stop = {fold(w) for w in QUESTION_STOP}
    lset = {fold(w) for w in left[-4:] if fold(w) not in stop}
    rset = {fold(w) for w in right[:4] if fold(w) not in stop}
    head = fold(left[-1]) if left and m.group(1) in ("nào", "gì") and fold(left[-1]) not in stop else None
    ladj = fold(left[-1]) if left else None
    radj = fold(right[0]) if right else None
    return lset, rset, head, ladj, radj


def span_candidates(sentence: str, question: str, qtype: QuestionType) -> list[SpanCandidate]:
    sentence = normalize(sentence)
    toks = []  # (start, end, word, pos, chunk, ent)
    pos = 0
    for word, tag, chunk, ent in _ner(sentence):
        i = sentence.find(word, pos)
        if i < 0:
            continue
        toks.append((i, i + len(word), word, tag, chunk, ent))
        pos = i + len(word)
    if not toks:
        return []
    q_syl = syllables(question)
    q_all = {fold(w) for w in q_syl}
    stop = {fold(w) for w in QUESTION_STOP}
    q_content = {w for w in q_all if w not in stop}
    lctx, rctx, head, ladj, radj = wh_context(question)
    rule = extract_short_answer(sentence, question, qtype) if qtype != "yesno" else None
    qt = qtype if qtype in _QTYPES else "other"

    tok_syl = [[fold(s) for s in syllables(t[2])] for t in toks]
    in_q = [bool(s) and all(x in q_all for x in s) for s in tok_syl]
    function = [bool(s) and all(x in stop or x in _EDGE_STOP for x in s) for s in tok_syl]
    has_qc = [any(x in q_content for x in s) for s in tok_syl]
    qc_idx = [i for i, h in enumerate(has_qc) if h]
    # segments split at punctuation
    segs: list[tuple[int, int]] = []
    s0 = 0
    for i, t in enumerate(toks + [(0, 0, ".", "CH", "O", "O")]):
        if t[2] in _SEG_BREAK or (t[3] == "CH" and t[2] not in ("-", "–", "&", "/", "'", "%")):
            if i > s0:
                segs.append((s0, i))
            s0 = i + 1
    n_tok = len(toks)
    tm = [(m.start(), m.end()) for m in _TIME_RE.finditer(sentence)]
    nm = [(m.start(2), m.end(2)) for m in _NUMBER_RE.finditer(sentence)]
    ent_spans: set[tuple[int, int]] = set()
    cur = None
    for i, t in enumerate(toks):
        if t[5].startswith("B-"):
            if cur is not None:
                ent_spans.add((cur, i))
            cur = i
        elif t[5] == "O" and cur is not None:
            ent_spans.add((cur, i))
            cur = None
    if cur is not None:
        ent_spans.add((cur, n_tok))

    def ctx_set(a: int, b: int) -> set[str]:
        return {x for s in tok_syl[max(0, a) : max(0, b)] for x in s}

    out: list[SpanCandidate] = []
    for sa, sb in segs:
        seg_cov = sum(has_qc[sa:sb]) / max(1, len(q_content))
        for i in range(sa, sb):
            if in_q[i] or function[i] or toks[i][3] in _FUNCTION_POS:
                continue
            for j in range(i + 1, min(sb, i + MAX_SPAN_WORDS) + 1):
                last = toks[j - 1]
                if in_q[j - 1] or function[j - 1] or last[3] in _FUNCTION_POS and j - 1 > i:
                    continue
                cs, ce = toks[i][0], last[1]
                text = sentence[cs:ce]
                syl = [x for s in tok_syl[i:j] for x in s]
                n = len(syl)
                words = text.split()
                f: dict[str, float] = dict.fromkeys(SPAN_FEATURES, 0.0)
                f[
                    "len_1"
                    if n == 1
                    else "len_2"
                    if n == 2
                    else "len_3"
                    if n == 3
                    else "len_45"
                    if n <= 5
                    else "len_68"
                    if n <= 8
                    else "len_9p"
                ] = 1.0
                f["q_overlap"] = sum(x in q_all for x in syl) / max(1, n)
                f["q_content_in"] = float(any(has_qc[i:j]))
                f["edge_first"] = float(fold(words[0].lower()) in _EDGE_STOP)
                f["edge_last"] = float(fold(words[-1].lower()) in _EDGE_STOP)
                f.update(_pos_onehot("first", toks[i][3]))
                f.update(_pos_onehot("last", last[3]))
                f["np_start"] = float(toks[i][4] == "B-NP")
                f["chunk_end"] = float(j >= n_tok or not toks[j][4].startswith("I-"))
                f["seg_start"] = float(i == sa)
                f["seg_end"] = float(j == sb)
                f["left_q"] = float(i > 0 and has_qc[i - 1])
                f["right_q"] = float(j < n_tok and has_qc[j])
                d = min((min(abs(k - i), abs(k - (j - 1))) for k in qc_idx), default=20)
                f["near_q"] = 1.0 / (1.0 + d)
                f["seg_cov"] = seg_cov
                left_words = ctx_set(i - 4, i)
                right_words = ctx_set(j, j + 4)
                f["left_ctx"] = len(left_words & lctx) / max(1, len(lctx)) if lctx else 0.0
                f["right_ctx"] = len(right_words & rctx) / max(1, len(rctx)) if rctx else 0.0
                f["left_adj"] = float(ladj is not None and i > 0 and ladj in tok_syl[i - 1])
                f["right_adj"] = float(radj is not None and j < n_tok and radj in tok_syl[j])
                f["seg_has_q"] = float(seg_cov > 0)
                pats = tm + nm
                f["crosses_pattern"] = float(any(a < cs < b or a < ce < b for a, b in pats))
                f["full_np"] = f["np_start"] * f["chunk_end"]
                f["full_ent"] = float((i, j) in ent_spans and toks[i][5] != "O")
                if i > 0:
                    f.update(_pos_onehot("prev", toks[i - 1][3]))
                if j < n_tok:
                    if toks[j][3] == "CH":
                        f["next_CH"] = 1.0
                    else:
                        f.update(_pos_onehot("next", toks[j][3]))
                else:
                    f["next_END"] = 1.0
                for b in ("1", "2", "3", "45", "68", "9p"):
                    f[f"{qt}_len_{b}"] = f[f"len_{b}"]
                f["after_la"] = float(i > 0 and fold(toks[i - 1][2].lower()) in ("la", "goi la", "tuc la"))
                f["rule_f1"] = _overlap_f1(text, rule) if rule else 0.0
                f["sent_pos"] = i / max(1, n_tok)
                caps = [w for w in words if w[:1].isupper()]
                f["all_cap_words"] = float(len(caps) == len(words))
                ents = [t[5][2:] for t in toks[i:j]]
                typ = {
                    "has_digit": float(any(ch.isdigit() for ch in text)),
                    "year": float(bool(_YEAR4_RE.search(text))),
                    "time_pat": float(any(a <= cs and ce <= b or cs <= a and b <= ce for a, b in tm)),
                    "num_pat": float(any(a <= cs and ce <= b or cs <= a and b <= ce for a, b in nm)),
                    "per": ents.count("PER") / (j - i),
                    "loc_org": (ents.count("LOC") + ents.count("ORG")) / (j - i),
                    "misc": ents.count("MISC") / (j - i),
                    "np": sum(t[3] == "Np" for t in toks[i:j]) / (j - i),
                    "cap": len(caps) / len(words),
                    "ent_exact": float((i, j) in ent_spans),
                    "pat_exact": float((cs, ce) in set(tm) or (cs, ce) in set(nm)),
                    "head_match": float(
                        head is not None and (syl[:1] == [head] or (i > 0 and tok_syl[i - 1][-1:] == [head]))
                    ),
                }
                for k, v in typ.items():
                    f[f"{qt}_{k}"] = v
                out.append(SpanCandidate(text.rstrip(".!?"), cs, ce, f))
    return out


_YEAR4_RE = re.compile(r"\b(1\d{3}|20\d{2})\b")


def _bag(text: str) -> Counter[str]:
    return Counter(fold(w) for w in syllables(text))


def _bag_f1(x: Counter[str], y: Counter[str]) -> float:
    common = sum((x & y).values())
    if not common:
        return 0.0
    p, r = common / sum(x.values()), common / sum(y.values())
    return 2 * p * r / (p + r)


def _overlap_f1(a: str, b: str) -> float:
    return _bag_f1(_bag(a), _bag(b))


MBR_TOP = 30  # candidates (by score) among which expected-F1 decoding chooses


def expected_f1_choice(texts: list[str], scores, top: int = MBR_TOP) -> int:
    """Minimum-Bayes-risk decoding: the index of the candidate with the highest expected overlap F1
    against the ``top`` best-scored, weighted by the softmax of their scores. Only the best-scored
    span and the spans that contain it or lie within it may be chosen: where the model hesitates
    between "Ba Lan", "Thống nhất Ba Lan" and "Công nhân Thống nhất Ba Lan", the span that shares
    most with the probable answers wins, but the answer never jumps to another entity. A confident
    model keeps its argmax."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores)[:top]
    p = np.exp(scores[order] - scores[order[0]])
    p /= p.sum()
    bags = [_bag(texts[i]) for i in order]
    best = texts[order[0]]
    nested = [k for k, i in enumerate(order) if texts[i] in best or best in texts[i]]
    gain = [sum(pj * _bag_f1(bags[k], bj) for pj, bj in zip(p, bags, strict=True)) for k in nested]
    return int(order[nested[int(np.argmax(gain))]])


def span_matrix(cands: list[SpanCandidate]):
    import numpy as np

    return np.array([[c.features[k] for k in SPAN_FEATURES] for c in cands], dtype=np.float64)


class SpanModel:
    """Scores span candidates with fitted weights (``calibration.json`` → "span"); without them
    the rule-based :func:`extract_short_answer` is used.

    ``sentence_weight`` (fitted too) lets the best span's score re-order the top ``rerank_top``
    sentences: a sentence that holds a good answer of the expected type beats a slightly better
    lexical match that holds none. The span itself is chosen by :func:`expected_f1_choice` (with
    ``expected_f1``; else the argmax); its score is the best candidate's logit either way."""

    def __init__(
        self, weights=None, sentence_weight: float | None = None, rerank_top: int = 3, expected_f1: bool = True
    ) -> None:
        cal = {}
        if weights is None:
            from qa_service.rerank import Weights, load_calibration

            cal = load_calibration().get("span", {})
            if cal.get("features") == list(SPAN_FEATURES):
                weights = Weights.from_json(cal["weights"])
            else:
                cal = {}
        self.weights = weights
        self.sentence_weight = float(cal.get("sentence_weight", 0.0)) if sentence_weight is None else sentence_weight
        self.rerank_top = rerank_top
        self.expected_f1 = expected_f1

    def scored(self, sentence: str, question: str, qtype: QuestionType) -> tuple[str | None, float]:
        """The chosen span and the best candidate's logit (-inf when there is no candidate or no
        fitted model)."""
        if qtype == "yesno":
            return yes_no(sentence), float("-inf")
        if self.weights is None:
            return extract_short_answer(sentence, question, qtype), float("-inf")
        cands = span_candidates(sentence, question, qtype)
        if not cands:
            return extract_short_answer(sentence, question, qtype), float("-inf")
        scores = self.weights.logit(span_matrix(cands))
        b = expected_f1_choice([c.text for c in cands], scores) if self.expected_f1 else int(scores.argmax())
        return cands[b].text, float(scores.max())

    def best(self, sentence: str, question: str, qtype: QuestionType) -> str | None:
        return self.scored(sentence, question, qtype)[0]

    def rerank(self, question: str, qtype: QuestionType, cands: list) -> list:
        """Re-order the top sentences by sentence score + ``sentence_weight`` x best span logit;
        each of them keeps its best span in ``.short``."""
        if self.weights is None or qtype == "yesno" or self.sentence_weight <= 0 or len(cands) < 2:
            return cands
        top = cands[: self.rerank_top]
        joint = []
        for c in top:
            c.short, logit = self.scored(c.text, question, qtype)
            joint.append(c.score + self.sentence_weight * (logit if logit > float("-inf") else -20.0))
        order = sorted(range(len(top)), key=lambda i: -joint[i])
        return [top[i] for i in order] + cands[self.rerank_top :]
