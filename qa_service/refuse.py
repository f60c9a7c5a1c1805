"""Answerability: is the best sentence good enough evidence to answer, or do we refuse?

A logistic model over the top candidate's features gives a probability; two evidence floors come
first. All of it is fitted by ``bench/qa_quality.py --fit`` (written to ``calibration.json``): the
refusal threshold is chosen by :func:`choose_threshold` on out-of-fold probabilities for refusal
precision, never guessed. Until a calibration exists a conservative coverage rule is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa_service.rerank import Candidate, Weights, load_calibration
from qa_service.types import ClosestRecord, Passage

ANSWERABILITY_FEATURES = (
    "top_logit",
    "cov",
    "cov_window",
    "bigram",
    "type_ok",
    "margin",
    "max_idf",
    "passage_missing_idf",
    "window_missing_idf",
    "passage_cov",
    "trigram",
    "q_run",
)


_COV_WINDOW = ANSWERABILITY_FEATURES.index("cov_window")
_MISSING_IDF = ANSWERABILITY_FEATURES.index("passage_missing_idf")


def answerability_features(cands: Sequence[Candidate], passages: Sequence[Passage]) -> np.ndarray:
    """Scale-free features of the best candidate (no raw retrieval scores: BM25 in the benchmark,
    fused ranks behind the search service)."""
    if not cands:
        return np.zeros(len(ANSWERABILITY_FEATURES))
    top = cands[0]
    second = cands[1].score if len(cands) > 1 else top.score - 5.0
    f = top.features
    return np.array(
        [
            top.score,
            f["cov"],
            f["cov_window"],
            f["bigram"],
            f["type_ok"],
            top.score - second,
            f["max_idf"],
            f["passage_missing_idf"],
            f["window_missing_idf"],
            f["passage_cov"],
            f["trigram"],
            f["q_run"],
        ]
    )


class Answerability:
    """Probability that the retrieved evidence answers the question, and the refusal decision.

    Two evidence floors come first, both calibrated as the 1st/99th percentile over correctly
    answered training questions (so they cost about 1% of good answers each): the idf-weighted
    share of the question's content words found around the best sentence, and the rarest question
    word missing from its passage. They catch questions about things the holdings never mention,
    which the model (trained where every question has on-topic contexts) under-weights."""

    def __init__(
        self,
        weights: Weights | None = None,
        threshold: float | None = None,
        *,
        min_window_cov: float | None = None,
        max_missing_idf: float | None = None,
    ) -> None:
        cal = load_calibration().get("answerability", {})
        if cal.get("features") != list(ANSWERABILITY_FEATURES):  # fitted for another feature set
            cal = {}
        if weights is None and "weights" in cal:
            weights = Weights.from_json(cal["weights"])
            threshold = cal["threshold"] if threshold is None else threshold
        self.weights = weights
        self.threshold = 0.5 if threshold is None else threshold
        self.min_window_cov = cal.get("min_window_cov", 0.0) if min_window_cov is None else min_window_cov
        self.max_missing_idf = cal.get("max_missing_idf", 1.01) if max_missing_idf is None else max_missing_idf

    def below_floor(self, cand: Candidate) -> bool:
        f = cand.features
        return f["cov_window"] < self.min_window_cov or f["passage_missing_idf"] > self.max_missing_idf

    def probability(self, cands: Sequence[Candidate], passages: Sequence[Passage]) -> float:
        if not cands:
            return 0.0
        return self.probability_of(answerability_features(cands, passages))

    def probability_of(self, x: np.ndarray) -> float:
        """The probability for a feature vector of :func:`answerability_features` (0.0 below an
        evidence floor)."""
        if not np.any(x):  # no candidate at all
            return 0.0
        if x[_COV_WINDOW] < self.min_window_cov or x[_MISSING_IDF] > self.max_missing_idf:
            return 0.0
        if self.weights is None:  # before calibration: idf coverage of the question by the sentence
            return float(min(1.0, max(0.0, x[_COV_WINDOW])))
        return float(1.0 / (1.0 + np.exp(-self.weights.logit(x)[0])))

    def refuse(self, probability: float) -> bool:
        """Refuse below the threshold, and always when an evidence floor was hit (probability 0)."""
        return probability <= 0.0 or probability < self.threshold


def choose_threshold(
    probs: np.ndarray,
    unanswerable: np.ndarray,
    answerable_probs: np.ndarray | None = None,
    answerable_good: np.ndarray | None = None,
    *,
    min_precision: float = 0.80,
    min_refusals: int = 10,
    max_good_refused: float = 0.02,
) -> float:
    """The refusal threshold (refuse when p < t), chosen on held-out (out-of-fold) data.

    ``probs``/``unanswerable``: answerability probabilities of questions and whether each really
    is unanswerable. Among thresholds that refuse at least ``min_refusals`` questions with a
    refusal precision of at least ``min_precision``, the one with the best refusal recall (ties:
    the better precision). ``answerable_probs``/``answerable_good``: probabilities of answerable
    questions and whether they were answered correctly; a threshold may refuse at most
    ``max_good_refused`` of the correct ones. 0.0 when no threshold qualifies: the model then never
    refuses and only the evidence floors do."""
    probs = np.asarray(probs, dtype=np.float64)
    unanswerable = np.asarray(unanswerable, dtype=bool)
    good = np.zeros(0)
    if answerable_probs is not None and answerable_good is not None:
        good = np.asarray(answerable_probs, dtype=np.float64)[np.asarray(answerable_good, dtype=bool)]
    best_t, best_key = 0.0, (-1.0, -1.0)
    for p in np.unique(probs).tolist():
        t = p + 1e-6
        refused = probs < t
        if refused.sum() < min_refusals:
            continue
        if len(good) and (good < t).mean() > max_good_refused:
            break
        tp = float((refused & unanswerable).sum())
        prec = tp / refused.sum()
        rec = tp / max(1, int(unanswerable.sum()))
        if prec >= min_precision and (rec, prec) > best_key:
            best_t, best_key = t, (rec, prec)
    return float(best_t)


def closest_records(passages: Sequence[Passage], n: int = 3) -> list[ClosestRecord]:
    """The first ``n`` distinct records among the retrieved passages."""
    out: list[ClosestRecord] = []
    seen: set[tuple[str, str]] = set()
    for p in passages:
        key = (p.library_id, p.record_id)
        if key in seen:
            continue
        seen.add(key)
        out.append(ClosestRecord(record_id=p.record_id, library_id=p.library_id, title=p.title, chunk_id=p.chunk_id))
        if len(out) == n:
            break
    return out
