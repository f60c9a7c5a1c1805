"""BM25 (Lucene formula) on a toy corpus, scores computed by hand."""

import math

import numpy as np
import pytest

from search.lexical import BM25Field

K1, B = 1.2, 0.75


def toy() -> BM25Field:
    f = BM25Field(merge_every=10_000)
    f.add(0, ["a", "b", "a"])  # len 3
    f.add(1, ["b", "c"])  # len 2
    f.add(2, ["c", "c", "c", "d"])  # len 4
    return f


def test_scores_match_hand_computation():
    f = toy()
    s = f.scores(["a"], 3)
    # N=3, df(a)=1 -> idf = ln(1 + 2.5/1.5) = ln(8/3); avgdl = 3; d0: tf=2, dl=3 -> 2*2.2/(2+1.2)
    assert s[0] == pytest.approx(math.log(8 / 3) * 4.4 / 3.2, rel=1e-5)
    assert s[1] == 0 and s[2] == 0
    s = f.scores(["c"], 3)
    idf_c = math.log(1 + 1.5 / 2.5)  # df(c)=2
    assert s[1] == pytest.approx(idf_c * 1 * 2.2 / (1 + K1 * (1 - B + B * 2 / 3)), rel=1e-5)
    assert s[2] == pytest.approx(idf_c * 3 * 2.2 / (3 + K1 * (1 - B + B * 4 / 3)), rel=1e-5)
    # a repeated query term counts twice; two terms add up
    assert f.scores(["a", "a"], 3)[0] == pytest.approx(2 * f.scores(["a"], 3)[0], rel=1e-6)
    both = f.scores(["a", "b"], 3)
    assert both[0] == pytest.approx(f.scores(["a"], 3)[0] + f.scores(["b"], 3)[0], rel=1e-6)


def test_merge_keeps_scores_and_delta_is_searchable():
    f = toy()
    before = f.scores(["c", "b", "a"], 3)
    f.merge(np.ones(3, dtype=bool))
    assert np.allclose(f.scores(["c", "b", "a"], 3), before)
    f.add(3, ["a", "e"])  # lands in the delta segment, searchable at once
    s = f.scores(["e"], 4)
    assert s[3] > 0 and s[:3].sum() == 0
    assert f.df("a") == 2


def test_deleted_docs_leave_statistics_at_merge():
    f = toy()
    f.merge(np.array([True, False, True]))
    assert f.n_docs == 2 and f.df("b") == 1
    s = f.scores(["b"], 3)
    assert s[1] == 0
    # N=2, avgdl=(3+4)/2
    assert s[0] == pytest.approx(math.log(1 + 1.5 / 1.5) * 2.2 / (1 + K1 * (1 - B + B * 3 / 3.5)), rel=1e-5)


def test_save_load_round_trip(tmp_path):
    f = toy()
    f.save(tmp_path / "lex.npz", np.ones(3, dtype=bool))
    g = BM25Field.load(tmp_path / "lex.npz")
    for q in (["a"], ["c", "d"], ["zzz"]):
        assert np.allclose(f.scores(q, 3), g.scores(q, 3))


def test_slot_cannot_be_indexed_twice():
    f = toy()
    with pytest.raises(ValueError):
        f.add(1, ["x"])
