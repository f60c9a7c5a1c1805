import math

import numpy as np

from recommender.evaluation import holdout_split, ndcg_at_k, recall_at_k


def test_holdout_follows_the_protocol():
    users = {"10": ["b", "a", "c", "d", "e"], "2": ["x1", "x2", "x3", "x4", "x5", "x6", "x7"], "3": ["q", "r"]}
    train, test = holdout_split(users, fraction=0.2, min_items=5, seed=20261125)
    assert set(test) == {"10", "2"}  # fewer than 5 interactions: not evaluated
    rng = np.random.default_rng(20261125)
    for u in sorted(users):  # ascending user-id *string* order: "10" before "2"
        items = sorted(users[u])
        if len(items) < 5:
            continue
        perm = rng.permutation(len(items))
        n_out = math.ceil(0.2 * len(items))
        assert test[u] == [items[i] for i in perm[:n_out]]
        assert sorted(train[u] + test[u]) == items
    assert len(test["2"]) == 2 and len(test["10"]) == 1


def test_metrics():
    assert ndcg_at_k([5, 1, 2], {5}) == 1.0
    assert 0 < ndcg_at_k([1, 5], {5}) < 1
    assert recall_at_k([1, 2, 3], {3, 4}) == 0.5
    assert ndcg_at_k([1], set()) == 0.0
