"""Candidate lists: each component's top-n items per user with scores normalised to [0, 1], and
their fusion into one padded (users, candidates, components) array.

Normalisation: history items are masked, negative scores clipped to 0, and each user's scores
divided by that user's best; an item outside a component's top-n counts 0 for that component.
The same code serves weight tuning and serving, so what is tuned is what runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from recommender.als import ALS
from recommender.base import Model
from recommender.content import Content
from recommender.ease import EASE
from recommender.itemknn import ItemKNN
from recommender.popularity import Popularity


def _mask_history(s: np.ndarray, histories: sp.csr_matrix) -> None:
    h = histories.tocoo()
    s[h.row, h.col] = -np.inf


def _top_dense(s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(n, s.shape[1])
    idx = np.argpartition(-s, n - 1, axis=1)[:, :n]
    vals = np.take_along_axis(s, idx, axis=1)
    return idx, vals


def _normalise(vals: np.ndarray) -> np.ndarray:
    v = np.where(np.isfinite(vals), vals, 0.0).astype(np.float32)
    np.maximum(v, 0.0, out=v)
    mx = v.max(axis=1, keepdims=True)
    return v / np.maximum(mx, 1e-12)


def top_candidates(
    model: Model, histories: sp.csr_matrix, n: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(items (U, n), normalised scores (U, n)) of one component; -1 pads; history items and items
    outside ``allowed`` never appear."""
    u = histories.shape[0]
    histories = histories.tocsr()
    if isinstance(model, Popularity):
        lens = np.diff(histories.indptr)
        order = model.order()
        if allowed is not None:
            order = order[allowed[order]]
        pool = order[: n + int(lens.max(initial=0))]
        idx = np.full((u, n), -1, dtype=np.int64)
        vals = np.zeros((u, n), dtype=np.float32)
        for r in range(u):
            hist = histories.indices[histories.indptr[r] : histories.indptr[r + 1]]
            keep = pool[~np.isin(pool, hist)][:n]
            idx[r, : len(keep)] = keep
            vals[r, : len(keep)] = model.scores_[keep]
        return idx, _normalise(vals)
    if isinstance(model, EASE) and len(model.top_):
        s = model.score_top(histories)  # (U, n_top): only the items EASE models
        h = histories.tocoo()
        pos = model.positions()[h.col]
        ok = pos >= 0
        s[h.row[ok], pos[ok]] = -np.inf
        if allowed is not None:
            s[:, ~allowed[model.top_]] = -np.inf
        idx, vals = _top_dense(s, n)
        idx = np.where(np.isfinite(vals), model.top_[idx], -1)
        return idx, _normalise(vals)
    if isinstance(model, ALS):  # exact top n without scoring the long tail (see recommender.als)
        idx, vals = model.top_items(histories, n, allowed)
        return idx, _normalise(vals)
    if isinstance(model, Content):  # sparse: posting lists or one pass; dense: inverted-file index
        idx, vals = model.top_items(histories, n, allowed)
        return idx, _normalise(vals)
    if isinstance(model, ItemKNN):
        s = (histories.astype(np.float32) @ model.sim_).tocsr()
        idx = np.full((u, n), -1, dtype=np.int64)
        vals = np.zeros((u, n), dtype=np.float32)
        banned = np.zeros(s.shape[1], dtype=bool)
        for r in range(u):
            a, b = s.indptr[r], s.indptr[r + 1]
            d, c = s.data[a:b], s.indices[a:b]
            hist = histories.indices[histories.indptr[r] : histories.indptr[r + 1]]
            banned[hist] = True
            # only positive scores count (the normalisation clips the rest to 0 and fusion drops them)
            ok = (d > 0) & ~banned[c]
            if allowed is not None:
                ok &= allowed[c]
            banned[hist] = False
            d, c = d[ok], c[ok]
            if len(d) > n:
                sel = np.argpartition(-d, n - 1)[:n]
                d, c = d[sel], c[sel]
            idx[r, : len(c)] = c
            vals[r, : len(c)] = d
        return idx, _normalise(vals)
    s = model.score(histories).astype(np.float32, copy=False)
    _mask_history(s, histories)
    if allowed is not None:
        s[:, ~allowed] = -np.inf
    idx, vals = _top_dense(s, n)
    idx[~np.isfinite(vals)] = -1
    return idx, _normalise(vals)


def fuse_candidates(
    models: Mapping[str, Model], histories: sp.csr_matrix, n: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Padded (U, C) candidate items (-1 = padding) and (U, C, M) normalised component scores."""
    names = list(models)
    u = histories.shape[0]
    n_items = next(iter(models.values())).n_items
    parts = [top_candidates(models[nm], histories, n, allowed) for nm in names]
    rows = np.concatenate([np.repeat(np.arange(u), p[0].shape[1]) for p in parts])
    items = np.concatenate([p[0].ravel() for p in parts])
    vals = np.concatenate([p[1].ravel() for p in parts])
    comp = np.concatenate([np.full(p[0].size, j) for j, p in enumerate(parts)])
    keep = (vals > 0) & (items >= 0)
    rows, items, vals, comp = rows[keep], items[keep], vals[keep], comp[keep]
    keys = rows.astype(np.int64) * n_items + items
    uniq, inv = np.unique(keys, return_inverse=True)
    feats = np.zeros((len(uniq), len(names)), dtype=np.float32)
    np.maximum.at(feats, (inv, comp), vals)
    urows = uniq // n_items
    counts = np.bincount(urows, minlength=u)
    c_max = max(int(counts.max(initial=0)), 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(uniq)) - starts[urows]
    cand = np.full((u, c_max), -1, dtype=np.int64)
    cand[urows, pos] = uniq % n_items
    F = np.full((u, c_max, len(names)), -1.0, dtype=np.float32)
    F[urows, pos] = feats
    return cand, F


def rank(cand: np.ndarray, F: np.ndarray, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items (U, k; -1 = none) and fused scores by the weights ``w``."""
    s = F @ w
    s[cand < 0] = -np.inf
    k = min(k, s.shape[1])
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    sc = np.take_along_axis(s, top, axis=1)
    items = np.take_along_axis(cand, top, axis=1)
    items[~np.isfinite(sc)] = -1
    return items, sc


def weight_vector(weights: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    return np.array([float(weights.get(n, 0.0)) for n in names], dtype=np.float32)
