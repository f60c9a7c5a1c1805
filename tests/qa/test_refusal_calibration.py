"""The refusal threshold is chosen on data (precision first), and the evidence floors hold."""

from __future__ import annotations

import json

import numpy as np

from qa_service.refuse import ANSWERABILITY_FEATURES, Answerability, choose_threshold
from qa_service.rerank import CALIBRATION_PATH, FEATURES, Weights


def _flat_model() -> Weights:
    n = len(ANSWERABILITY_FEATURES)
    return Weights([0.0] * n, 0.0, [0.0] * n, [1.0] * n)


def test_threshold_maximises_recall_at_the_required_precision():
    rng = np.random.default_rng(7)
    # 100 unanswerable questions with low probabilities, 300 answerable ones with higher ones
    unans_p = rng.uniform(0.0, 0.5, 100)
    ans_p = rng.uniform(0.3, 1.0, 300)
    probs = np.concatenate([unans_p, ans_p])
    unans = np.concatenate([np.ones(100, bool), np.zeros(300, bool)])
    t = choose_threshold(probs, unans, min_precision=0.8, min_refusals=10)
    refused = probs < t
    precision = (refused & unans).sum() / refused.sum()
    recall = (refused & unans).sum() / unans.sum()
    assert precision >= 0.8
    # no other threshold reaches the precision with a better recall
    for other in np.unique(probs) + 1e-6:
        r = probs < other
        if r.sum() >= 10 and (r & unans).sum() / r.sum() >= 0.8:
            assert (r & unans).sum() / unans.sum() <= recall + 1e-12


def test_no_threshold_when_refusals_cannot_be_precise():
    rng = np.random.default_rng(8)
    probs = rng.uniform(0, 1, 400)
    unans = rng.uniform(0, 1, 400) < 0.27  # labels unrelated to the probabilities
    assert choose_threshold(probs, unans, min_precision=0.8) == 0.0


def test_threshold_respects_the_cap_on_refused_good_answers():
    probs = np.linspace(0.0, 1.0, 200)
    unans = probs < 0.5  # a perfect model
    good_p = np.linspace(0.0, 1.0, 100)  # answerable questions spread over the whole range
    free = choose_threshold(probs, unans, min_precision=0.8)
    capped = choose_threshold(probs, unans, good_p, np.ones(100, bool), min_precision=0.8, max_good_refused=0.1)
    assert free > 0.4
    assert 0.0 < capped <= 0.11


def test_evidence_floors_and_empty_evidence_give_zero():
    model = Answerability(_flat_model(), 0.3, min_window_cov=0.4, max_missing_idf=0.9)
    x = np.ones(len(ANSWERABILITY_FEATURES))
    x[ANSWERABILITY_FEATURES.index("passage_missing_idf")] = 0.5
    assert model.probability_of(x) == 0.5  # flat model: sigmoid(0)
    low = x.copy()
    low[ANSWERABILITY_FEATURES.index("cov_window")] = 0.2
    assert model.probability_of(low) == 0.0
    missing = x.copy()
    missing[ANSWERABILITY_FEATURES.index("passage_missing_idf")] = 1.0
    assert model.probability_of(missing) == 0.0
    assert model.probability_of(np.zeros(len(ANSWERABILITY_FEATURES))) == 0.0
    assert model.refuse(0.0) and model.refuse(0.2) and not model.refuse(0.5)
    assert model.probability([], []) == 0.0


def test_shipped_calibration_matches_the_code():
    """calibration.json is written by ``bench/qa_quality.py --fit``: it must be for the current
    features, or the service would silently fall back to the uncalibrated rules."""
    cal = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    assert cal["features"] == list(FEATURES)
    a = cal["answerability"]
    assert a["features"] == list(ANSWERABILITY_FEATURES)
    assert len(a["weights"]["w"]) == len(ANSWERABILITY_FEATURES)
    assert 0.0 <= a["threshold"] <= 1.0
    assert 0.0 <= a["min_window_cov"] <= 1.0
    loaded = Answerability()
    assert loaded.weights is not None and loaded.threshold == a["threshold"]
