"""Sentence-level reranking: every sentence of the top passages gets features and a learned score.

Features mix lexical evidence on syllables (idf-weighted coverage of the question's content
syllables, bigram overlap, coverage in a ±1 sentence window), the passage's retrieval score and
rank, whether the sentence holds something of the expected answer type that the question does not,
and — when an encoder is given — the e5 cosine between question and sentence. The weights are a
logistic regression fitted on a training split (``qa_service/calibration.json``, written by
``bench/qa_quality.py --fit``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa_service.questions import QUESTION_STOP, QUESTION_STOP_FOLDED
from qa_service.text import fold, has_diacritics, split_sentences, syllables
from qa_service.types import Passage, QuestionType

FEATURES = (
    "cov",
    "cov_window",
    "bigram",
    "passage_cov",
    "passage_score",
    "passage_rrank",
    "type_ok",
    "log_len",
    "novelty",
    "first",
    "dense",
    "has_dense",
    "cov_gap",
    "best_in_passage",
    "max_idf",
    "window_gap",
    "passage_missing_idf",
    "window_missing_idf",
    # order and context: question trigrams in the sentence, the longest run of the question found
    # contiguous, the words around the interrogative, the noun it asks about, plain coverage; each
    # also as a gap to the best candidate of the question
    "trigram",
    "q_run",
    "wh_left",
    "wh_right",
    "wh_head",
    "cov_plain",
    "trigram_gap",
    "q_run_gap",
    "wh_left_gap",
    "wh_right_gap",
    "wh_head_gap",
    "cov_plain_gap",
)
_ORDER_FEATURES = ("trigram", "q_run", "wh_left", "wh_right", "wh_head", "cov_plain")
CALIBRATION_PATH = Path(__file__).with_name("calibration.json")

_YEAR_RE = re.compile(r"\b(1\d{3}|20\d{2})\b")
_TIME_WORDS_RE = re.compile(r"\b(năm|tháng|ngày|thế kỷ|thế kỉ|thập niên|giờ|mùa|century|year)\b", re.I)
_NUM_RE = re.compile(r"\d")
_NUM_WORDS = frozenset(
    [
        "một",
        "hai",
        "ba",
        "bốn",
        "năm",
        "sáu",
        "bảy",
        "tám",
        "chín",
        "mười",
        "trăm",
        "nghìn",
        "ngàn",
        "triệu",
        "tỷ",
        "tỉ",
        "mươi",
        "nửa",
    ]
)
_CAP_RE = re.compile(r"(?<![\w])[A-ZĐÀ-Ỹ][\wÀ-ỹ]*")


@dataclass
class Candidate:
    """A sentence of a retrieved passage, with its features and score."""

    passage_index: int
    sentence_index: int
    text: str
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    short: str | None = None  # its best answer span, once computed


def type_evidence(sentence: str, qtype: QuestionType, question_words: set[str]) -> float:
    """1.0 when the sentence holds something of the expected answer type the question lacks."""
    if qtype == "time":
        return 1.0 if _YEAR_RE.search(sentence) or _TIME_WORDS_RE.search(sentence) and _NUM_RE.search(sentence) else 0.0
    if qtype == "number":
        words = set(syllables(sentence))
        return 1.0 if _NUM_RE.search(sentence) or (words & _NUM_WORDS) - question_words else 0.0
    if qtype in ("person", "place"):
        caps = {fold(m.group(0).lower()) for m in _CAP_RE.finditer(sentence[1:])}
        return 1.0 if caps - {fold(w) for w in question_words} else 0.0
    if qtype == "definition":
        return 1.0 if " là " in f" {sentence.lower()} " or " is " in f" {sentence.lower()} " else 0.0
    return 1.0


class Weights:
    """A logistic scorer: standardised features, weights, bias."""

    def __init__(self, w: Sequence[float], b: float, mean: Sequence[float], std: Sequence[float]) -> None:
        self.w = np.asarray(w, dtype=np.float64)
        self.b = float(b)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((np.atleast_2d(x) - self.mean) / self.std) @ self.w + self.b

    def to_json(self) -> dict:
        return {"w": self.w.tolist(), "b": self.b, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> Weights:
        return cls(d["w"], d["b"], d["mean"], d["std"])


# Used only until ``calibration.json`` exists: coverage dominates, then bigrams and retrieval.
DEFAULT_SENTENCE_WEIGHTS = Weights(
    w=[2.0, 0.8, 1.0, 0.3, 0.6, 0.4, 0.5, 0.1, 0.2, 0.0, 0.0, 0.0, 0.5, 0.3, 0.3, 0.2, -0.3, -0.3] + [0.0] * 12,
    b=0.0,
    mean=[0.0] * len(FEATURES),
    std=[1.0] * len(FEATURES),
)


def load_calibration(path: Path = CALIBRATION_PATH) -> dict:
    """The fitted sentence scorer and answerability model, if the file exists and was fitted for
    the current sentence features."""
    if path.exists():
        cal = json.loads(path.read_text(encoding="utf-8"))
        if cal.get("features") == list(FEATURES):
            return cal
    return {}


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 600, lr: float = 0.5) -> Weights:
    """Plain full-batch gradient descent on standardised features (no extra dependency)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = (x - mean) / std
    w = np.zeros(z.shape[1])
    b = 0.0
    pos = y.mean() if len(y) else 0.5
    b = math.log(max(pos, 1e-6) / max(1 - pos, 1e-6))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = p - y
        w -= lr * (z.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return Weights(w, b, mean, std)


def fit_listwise(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float = 1e-2, steps: int = 400, lr: float = 0.5
) -> Weights:
    """Softmax over each question's candidates (conditional logit): the positive candidates of a
    question should get the probability mass (``y`` may be graded: the mass is split in proportion).
    Groups without a positive are skipped. Minimised with L-BFGS (``steps`` iterations at most);
    ``lr`` is kept for callers of the former gradient-descent version and unused."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    groups = np.asarray(groups)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = (x - mean) / std
    _, inv = np.unique(groups, return_inverse=True)
    n_groups = inv.max() + 1
    pos_per_group = np.bincount(inv, weights=y, minlength=n_groups)
    keep = pos_per_group[inv] > 0
    z, y, inv = z[keep], y[keep], inv[keep]
    target = y / pos_per_group[inv]
    n_used = max(1, int((pos_per_group > 0).sum()))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ w
        gmax = np.full(n_groups, -np.inf)
        np.maximum.at(gmax, inv, s)
        e = np.exp(s - gmax[inv])
        norm = np.bincount(inv, weights=e, minlength=n_groups)
        p = e / norm[inv]
        logp = s - gmax[inv] - np.log(norm[inv])
        value = -(target * logp).sum() / n_used + 0.5 * l2 * float(w @ w)
        grad = z.T @ (p - target) / n_used + l2 * w
        return value, grad

    res = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": steps})
    return Weights(res.x, 0.0, mean, std)


class SentenceRanker:
    """Scores sentences of retrieved passages for a question."""

    def __init__(
        self,
        weights: Weights | None = None,
        *,
        idf: Callable[[str], float] | None = None,
        encoder=None,
        max_passages: int = 8,
        max_dense_sentences: int = 24,
    ) -> None:
        cal = load_calibration()
        if weights is None:
            key = "sentence_dense" if encoder is not None and "sentence_dense" in cal else "sentence"
            weights = Weights.from_json(cal[key]) if key in cal else DEFAULT_SENTENCE_WEIGHTS
        self.weights = weights
        self.idf = idf
        self.encoder = encoder
        self.max_passages = max_passages
        self.max_dense_sentences = max_dense_sentences

    def candidates(self, question: str, qtype: QuestionType, passages: Sequence[Passage]) -> list[Candidate]:
        folded = not has_diacritics(question)
        stop = QUESTION_STOP_FOLDED if folded else QUESTION_STOP

        def toks(text: str) -> list[str]:
            sy = syllables(text)
            return [fold(s) for s in sy] if folded else sy

        q_all = toks(question)
        q_content = [w for w in q_all if w not in stop] or q_all
        q_set = set(q_content)
        q_bigrams = {(a, b) for a, b in zip(q_all, q_all[1:], strict=False) if a not in stop or b not in stop}
        passages = list(passages)[: self.max_passages]
        sents = [split_sentences(p.text) or [p.text] for p in passages]
        sent_toks = [[set(toks(s)) for s in ss] for ss in sents]
        idf = self.idf or _local_idf([w for st in sent_toks for w in st])
        q_weight = sum(idf(w) for w in q_set) or 1.0
        q_max = max((idf(w) for w in q_set), default=1.0) or 1.0

        def cov(words: set[str]) -> float:
            return sum(idf(w) for w in q_set & words) / q_weight

        top_score = max((p.score for p in passages), default=0.0) or 1.0
        out: list[Candidate] = []
        for pi, (p, ss, st) in enumerate(zip(passages, sents, sent_toks, strict=True)):
            p_words = set().union(*st) if st else set()
            for si, s in enumerate(ss):
                words = st[si]
                window = words | (st[si - 1] if si > 0 else set()) | (st[si + 1] if si + 1 < len(st) else set())
                seq = toks(s)
                bigr = {(a, b) for a, b in zip(seq, seq[1:], strict=False)}
                feats = {
                    "cov": cov(words),
                    "cov_window": cov(window),
                    "bigram": len(q_bigrams & bigr) / max(1, len(q_bigrams)),
                    "passage_cov": cov(p_words),
                    "passage_score": p.score / top_score if top_score > 0 else 0.0,
                    "passage_rrank": 1.0 / (1 + pi),
                    "type_ok": type_evidence(s, qtype, set(q_all)),
                    "log_len": math.log1p(len(seq)),
                    "novelty": len(words - q_set) / max(1, len(words)),
                    "first": 1.0 if si == 0 else 0.0,
                    "dense": 0.0,
                    "has_dense": 0.0,
                    "cov_gap": 0.0,
                    "best_in_passage": 0.0,
                    "max_idf": max((idf(w) for w in q_set & words), default=0.0) / q_max,
                    "window_gap": 0.0,
                    "passage_missing_idf": max((idf(w) for w in q_set - p_words), default=0.0) / q_max,
                    "window_missing_idf": max((idf(w) for w in q_set - window), default=0.0) / q_max,
                }
                out.append(Candidate(pi, si, s, feats))
        if out:
            _order_features(question, out)
            best = max(c.features["cov"] for c in out)
            best_w = max(c.features["cov_window"] for c in out)
            per_passage: dict[int, float] = {}
            for c in out:
                per_passage[c.passage_index] = max(per_passage.get(c.passage_index, 0.0), c.features["cov"])
            for c in out:
                c.features["cov_gap"] = c.features["cov"] - best
                c.features["window_gap"] = c.features["cov_window"] - best_w
                c.features["best_in_passage"] = float(c.features["cov"] >= per_passage[c.passage_index])
        return out

    def add_dense(self, question: str, cands: list[Candidate]) -> None:
        """e5 cosine for the best lexical candidates (embedding every sentence is too slow here)."""
        if self.encoder is None or not cands:
            return
        order = sorted(range(len(cands)), key=lambda i: -cands[i].score)[: self.max_dense_sentences]
        qv = self.encoder.encode_queries([question])[0]
        sv = self.encoder.encode_passages([cands[i].text for i in order])
        for i, v in zip(order, sv, strict=True):
            cands[i].features["dense"] = float(np.dot(qv, v))
            cands[i].features["has_dense"] = 1.0

    def rank(self, question: str, qtype: QuestionType, passages: Sequence[Passage]) -> list[Candidate]:
        cands = self.candidates(question, qtype, passages)
        if not cands:
            return []
        self._score(cands, DEFAULT_SENTENCE_WEIGHTS if self.encoder is not None else self.weights)
        if self.encoder is not None:
            self.add_dense(question, cands)
            self._score(cands, self.weights)
        cands.sort(key=lambda c: -c.score)
        return cands

    @staticmethod
    def matrix(cands: Sequence[Candidate]) -> np.ndarray:
        return np.array([[c.features[f] for f in FEATURES] for c in cands], dtype=np.float64)

    def _score(self, cands: list[Candidate], weights: Weights) -> None:
        logits = weights.logit(self.matrix(cands))
        for c, v in zip(cands, logits, strict=True):
            c.score = float(v)


def _order_features(question: str, cands: list[Candidate]) -> None:
    from qa_service.span import wh_context

    stop = QUESTION_STOP_FOLDED
    qs = [fold(w) for w in syllables(question)]
    qc = {w for w in qs if w not in stop}
    lctx, rctx, head, _, _ = wh_context(question)
    q_tri = set(zip(qs, qs[1:], qs[2:], strict=False))
    q_pairs = list(zip(qs, qs[1:], strict=False))
    for c in cands:
        ss = [fold(w) for w in syllables(c.text)]
        sset = set(ss)
        s_bi = set(zip(ss, ss[1:], strict=False))
        best = run = 0
        for pair in q_pairs:
            run = run + 1 if pair in s_bi else 0
            best = max(best, run)
        f = c.features
        f["trigram"] = len(q_tri & set(zip(ss, ss[1:], ss[2:], strict=False))) / max(1, len(q_tri))
        f["q_run"] = best / max(1, len(qs))
        f["wh_left"] = len(lctx & sset) / len(lctx) if lctx else 0.0
        f["wh_right"] = len(rctx & sset) / len(rctx) if rctx else 0.0
        f["wh_head"] = float(head is not None and head in sset)
        f["cov_plain"] = len(qc & sset) / max(1, len(qc))
    for name in _ORDER_FEATURES:
        top = max(c.features[name] for c in cands)
        for c in cands:
            c.features[f"{name}_gap"] = c.features[name] - top


def _local_idf(sentence_sets: Sequence[set[str]]) -> Callable[[str], float]:
    """idf over the candidate sentences, when no corpus statistics are available."""
    n = max(1, len(sentence_sets))
    counts: dict[str, int] = {}
    for words in sentence_sets:
        for t in words:
            counts[t] = counts.get(t, 0) + 1
    return lambda w: math.log(1.0 + (n - counts.get(w, 0) + 0.5) / (counts.get(w, 0) + 0.5))
