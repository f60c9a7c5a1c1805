"""Every model behind one interface, on a real Book-Crossing subset."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.als import ALS
from recommender.base import Filters, Reason
from recommender.content import Content
from recommender.ease import EASE
from recommender.evaluation import holdout_split
from recommender.features import tfidf, tokens
from recommender.hybrid import DEFAULT_BUCKETS, Hybrid
from recommender.interactions import Interactions
from recommender.itemknn import ItemKNN
from recommender.mmr import mmr
from recommender.popularity import Popularity
from recommender.tuning import candidate_features, tune_buckets, validation_split


@pytest.fixture(scope="module")
def data(bx_subset):
    ratings = bx_subset["ratings"]
    train, test = holdout_split({u: [i for i, _ in v] for u, v in ratings.items()})
    items = sorted(bx_subset["books"]) + [i for i, _, _ in bx_subset["extra"]]
    inter = Interactions.from_events(((u, i, None, None) for u in train for i in train[u]), item_ids=items)
    titles = {**{i: tb for i, tb in bx_subset["books"].items()}, **{i: (t, a) for i, t, a in bx_subset["extra"]}}
    feats = tfidf([tokens(titles[i][0], [titles[i][1]]) for i in items])
    return inter, train, test, feats, items


def _models(feats):
    return [
        Popularity(None),
        ItemKNN(neighbours=50),
        EASE(lam=50.0, max_items=500),
        ALS(factors=16, iterations=5),
        Content(feats),
    ]


@pytest.mark.parametrize("which", range(5))
def test_fit_recommend_interface(data, which):
    inter, train, _test, feats, _ = data
    model = _models(feats)[which].fit(inter)
    user = sorted(train)[0]
    history = train[user]
    recs = model.recommend(history, k=10)
    assert 0 < len(recs) <= 10
    assert not {r.item for r in recs} & set(history), "already borrowed items must be left out"
    assert all(isinstance(r.reason, Reason) for r in recs)
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)


def test_filters_restrict_candidates(data):
    inter, train, _test, feats, items = data
    model = ItemKNN().fit(inter)
    allowed = np.zeros(len(items), dtype=bool)
    allowed[::7] = True
    recs = model.recommend(train[sorted(train)[1]], k=20, filters=Filters(allowed=allowed))
    assert recs and all(allowed[items.index(r.item)] for r in recs)


def test_content_reaches_items_nobody_borrowed(data):
    inter, train, _test, feats, items = data
    counts = inter.item_counts()
    never = {items[i] for i in np.flatnonzero(counts == 0)}
    model = Content(feats).fit(inter)
    reached = set()
    for u in sorted(train)[:80]:
        reached |= {r.item for r in model.recommend(train[u], k=20)} & never
    assert reached, "the content model must be able to recommend items with no loans"


def test_collaborative_models_beat_nothing_on_holdout(data):
    """On held-out items EASE finds more than a constant list of the least-borrowed items would (zero)."""
    inter, train, test, feats, items = data
    idx = {k: i for i, k in enumerate(items)}
    ease = EASE(lam=20.0, max_items=2000).fit(inter)
    hits = sum(len({r.item for r in ease.recommend(train[u], k=20)} & set(test[u])) for u in train)
    assert hits > 0
    assert all(i in idx for u in test for i in test[u])


def test_hybrid_weights_are_learned_and_used(data):
    inter, train, _test, feats, _items = data
    vtrain, vusers, vheld = validation_split(inter, max_users=200)
    comps = {"popularity": Popularity(None), "itemknn": ItemKNN(), "content": Content(feats)}
    fitted = {n: m.fit(vtrain) for n, m in comps.items()}
    F, L, n_rel = candidate_features(fitted, vtrain.binary()[vusers], vheld, per_model=30)
    weights, scores = tune_buckets(
        F, L, n_rel, np.diff(vtrain.binary()[vusers].indptr), list(comps), DEFAULT_BUCKETS, min_users=5
    )
    assert len(weights) == len(DEFAULT_BUCKETS)
    assert all(max(w.values()) == pytest.approx(1.0) for w in weights)
    final = {
        n: m.fit(inter)
        for n, m in {"popularity": Popularity(None), "itemknn": ItemKNN(), "content": Content(feats)}.items()
    }
    hybrid = Hybrid(final, weights, prefitted=True).fit(inter)
    u = sorted(train)[2]
    recs = hybrid.recommend(train[u], k=10)
    assert len(recs) == 10 and not {r.item for r in recs} & set(train[u])


def test_mmr_diversifies():
    vecs = np.array([[1, 0], [0.99, 0.01], [0, 1]], dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    order = mmr([0, 1, 2], np.array([1.0, 0.95, 0.6]), lambda a, b: vecs[a] @ vecs[b].T, k=2, lam=0.5)
    assert order == [0, 2]
    assert mmr([0, 1, 2], np.array([1.0, 0.95, 0.6]), lambda a, b: vecs[a] @ vecs[b].T, k=2, lam=1.0) == [0, 1]
