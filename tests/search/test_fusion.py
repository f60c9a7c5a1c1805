import numpy as np
import pytest

from search.fusion import FusionConfig, Ranked, Weights, fuse, rrf, top_slots


def lst(name, slots, scores=None):
    slots = np.asarray(slots)
    return Ranked(name=name, slots=slots, scores=np.asarray(scores if scores is not None else np.zeros(len(slots))))


def test_rrf_weighted_sum():
    out = rrf([lst("acc", [1, 2]), lst("dense", [2, 3])], {"acc": 1.0, "dense": 2.0}, k0=60)
    assert out[1] == pytest.approx(1 / 61)
    assert out[2] == pytest.approx(1 / 62 + 2 / 61)
    assert out[3] == pytest.approx(2 / 62)


def test_zero_weight_ignores_a_list():
    out = fuse([lst("acc", [1]), lst("fold", [2]), lst("dense", [3])], Weights(acc=1, fold=0, dense=1), FusionConfig())
    assert set(out) == {1, 3}


def test_score_fusion_min_max():
    cfg = FusionConfig(method="score")
    out = fuse(
        [lst("acc", [1, 2, 3], [9.0, 5.0, 1.0]), lst("dense", [3, 1], [0.9, 0.8])], Weights(acc=1, fold=0, dense=1), cfg
    )
    assert out[1] == pytest.approx(1.0 + 0.0)
    assert out[2] == pytest.approx(0.5)
    assert out[3] == pytest.approx(0.0 + 1.0)


def test_top_slots_respects_mask_and_positive_scores():
    scores = np.array([0.0, 3.0, 1.0, 5.0, 2.0], dtype=np.float32)
    mask = np.array([True, True, True, False, True])
    slots, vals = top_slots(scores, mask, 2)
    assert slots.tolist() == [1, 4] and vals.tolist() == [3.0, 2.0]
    slots, _ = top_slots(scores, None, 10)
    assert slots.tolist() == [3, 1, 4, 2]
