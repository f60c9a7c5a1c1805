"""The serving fast paths give exactly what exhaustive scoring gives, on a real Book-Crossing subset.

ALS stops its scan by a norm bound, content switches between posting lists and one pass over all
item vectors, top-n selection thresholds on a sample, EASE explains in one gather: each is checked
here against the plain computation it replaces.
"""

from __future__ import annotations

import numpy as np
import pytest

from recommender.als import ALS
from recommender.base import history_matrix, top_k, top_unordered
from recommender.catalogue import ItemCatalogue
from recommender.content import Content
from recommender.ease import EASE
from recommender.engine import Engine
from recommender.evaluation import holdout_split
from recommender.features import tfidf, tokens
from recommender.hybrid import Hybrid
from recommender.interactions import Interactions
from recommender.popularity import Popularity


@pytest.fixture(scope="module")
def fitted(bx_subset):
    ratings = bx_subset["ratings"]
    train, _ = holdout_split({u: [i for i, _ in v] for u, v in ratings.items()})
    items = sorted(bx_subset["books"]) + [i for i, _, _ in bx_subset["extra"]]
    inter = Interactions.from_events(((u, i, None, None) for u in train for i in train[u]), item_ids=items)
    titles = {**dict(bx_subset["books"]), **{i: (t, a) for i, t, a in bx_subset["extra"]}}
    feats = tfidf([tokens(titles[i][0], [titles[i][1]]) for i in items])
    index = {k: n for n, k in enumerate(items)}
    histories = [[index[i] for i in train[u]] for u in sorted(train)]
    return {
        "inter": inter,
        "items": items,
        "titles": titles,
        "histories": histories,
        "als": ALS(factors=16, iterations=5).fit(inter),
        "content": Content(feats).fit(inter),
        "ease": EASE(lam=50.0, max_items=500).fit(inter),
    }


def _exhaustive(scores: np.ndarray, history, n: int, allowed=None) -> dict[int, float]:
    s = scores.astype(np.float64).copy()
    s[list(history)] = -np.inf
    if allowed is not None:
        s[~allowed] = -np.inf
    order = np.argsort(-s, kind="stable")[:n]
    return {int(i): float(s[i]) for i in order if s[i] > 0}


def _same_top(got_idx, got_val, want: dict[int, float], n: int) -> None:
    got = {int(i): float(v) for i, v in zip(got_idx, got_val, strict=True) if i >= 0}
    assert len(got) == len(want)
    lowest = min(want.values()) if want else 0.0
    for i, v in got.items():  # items may differ only among exact ties at the cut
        assert i in want or abs(v - lowest) < 1e-5 * max(1.0, abs(lowest))
        if i in want:
            assert v == pytest.approx(want[i], rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("with_filter", [False, True])
def test_als_bounded_scan_is_the_exact_top_n(fitted, with_filter):
    als: ALS = fitted["als"]
    als.prepare()
    allowed = (np.arange(als.n_items) % 3 != 0) if with_filter else None
    for hist in fitted["histories"][:40]:
        h = history_matrix([hist], als.n_items)
        dense = als.score(h)[0]
        idx, vals = als.top_items(h, 30, allowed, first_block=16)  # small blocks: the bound must stop the scan
        _same_top(idx[0], vals[0], _exhaustive(dense, hist, 30, allowed), 30)


@pytest.mark.parametrize("with_filter", [False, True])
def test_content_top_items_match_exhaustive_scoring(fitted, with_filter):
    content: Content = fitted["content"]
    content.prepare()
    allowed = (np.arange(content.n_items) % 2 == 0) if with_filter else None
    hists = fitted["histories"][:30] + [sorted({i for h in fitted["histories"][:40] for i in h})]
    # the last, very long history reads most posting lists: the one-pass branch is taken
    last = history_matrix([hists[-1]], content.n_items)
    prof = content.profiles(last)
    work = int(np.diff(content._vt.indptr)[prof.indices].sum())
    assert work * 6 > content.vectors.nnz
    for hist in hists:
        h = history_matrix([hist], content.n_items)
        dense = np.asarray((content.vectors @ content.profiles(h).T).todense()).ravel()
        idx, vals = content.top_items(h, 25, allowed)
        _same_top(idx[0], vals[0], _exhaustive(dense, hist, 25, allowed), 25)


def test_top_unordered_is_exact_on_real_scores(fitted):
    pop = Popularity(None).fit(fitted["inter"])
    s = pop.scores_.astype(np.float64)  # many exact ties: counts of a small subset
    for n in (1, 5, 20, 100):
        got = top_unordered(s, n)
        assert len(got) == n and len(set(got.tolist())) == n
        assert np.sort(s[got])[::-1].tolist() == np.sort(s)[::-1][:n].tolist()
    assert top_k(s, 10).tolist() == sorted(top_k(s, 10).tolist(), key=lambda i: -s[i])


def test_top_unordered_on_a_large_array():
    """Unit test on synthetic numbers (seeded random draws), only for the selection routine itself."""
    rng = np.random.default_rng(20261125)
    s = np.round(rng.standard_normal(300_000), 2)  # rounded: many ties
    s[rng.random(300_000) < 0.3] = -np.inf
    for n in (1, 10, 100, 1000):
        got = top_unordered(s, n)
        assert np.sort(s[got])[::-1].tolist() == np.sort(s)[::-1][:n].tolist()


def test_ease_explain_many_matches_the_largest_weight(fitted):
    ease: EASE = fitted["ease"]
    pos = ease.positions()
    hist = [i for i in max(fitted["histories"], key=len) if pos[i] >= 0][:50]
    items = [int(i) for i in ease.top_[:200] if int(i) not in set(hist)]
    reasons = ease.explain_many(hist, items)
    for item, r in zip(items, reasons, strict=True):
        w = ease.B_[pos[hist], pos[item]]
        if w.max() > 0:
            assert r.kind == "because" and r.anchor == hist[int(np.argmax(w))]
        else:
            assert r.kind == "popular"
    outside = [i for i in range(ease.n_items) if pos[i] < 0][:3]
    assert all(r.kind == "popular" for r in ease.explain_many(hist, outside))


def test_engine_resolve_keeps_order_and_drops_repeats(fitted):
    items, inter = fitted["items"], fitted["inter"]
    comps = {"popularity": Popularity(None).fit(inter), "ease": fitted["ease"]}
    model = Hybrid(comps, [{"popularity": 0.2, "ease": 1.0}] * 2, prefitted=True).fit(inter)
    keys = [f"bx/{i}" for i in items]
    cat = ItemCatalogue.from_titles(keys, [fitted["titles"][i][0] for i in items], counts=inter.item_counts())
    engine = Engine(model, cat, "v-test")
    known, warnings = engine.resolve([keys[5], keys[2], keys[5], "bx/NOPE", keys[2]])
    assert known == [5, 2]
    assert len(warnings) == 1 and "bx/NOPE" in warnings[0]
    res = engine.recommend([keys[i] for i in fitted["histories"][0]], k=5)
    assert len(res.items) == 5
    assert not {f"bx/{it['record_id']}" for it in res.items} & {keys[i] for i in fitted["histories"][0]}
