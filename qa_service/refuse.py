"""Answerability: is the best sentence good enough evidence to answer, or do we refuse?

A logistic model over the top candidate's features (fitted on the qa-news training split, see
``bench/qa_quality.py --fit``) gives a probability; the refusal threshold is chosen on that split
for refusal precision, never guessed. Until a calibration exists a conservative coverage rule is
used.
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
)


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
        ]
    )


class Answerability:
    """Probability that the top sentence answers the question, and the refusal decision.

    Two evidence floors come first, both calibrated as the 5th/95th percentile over correctly
    answered training questions (so they cost at most ~5% of good answers each): the idf-weighted
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
        if self.below_floor(cands[0]):
            return 0.0
        x = answerability_features(cands, passages)
        if self.weights is None:  # before calibration: idf coverage of the question by the sentence
            return float(min(1.0, max(0.0, cands[0].features["cov_window"])))
        return float(1.0 / (1.0 + np.exp(-self.weights.logit(x)[0])))

    def refuse(self, probability: float) -> bool:
        """Refuse below the threshold, and always when an evidence floor was hit (probability 0)."""
        return probability <= 0.0 or probability < self.threshold


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
