"""Learning the hybrid's fusion weights on a validation split (never on the test hold-out).

1. :func:`validation_split` carves a per-user hold-out out of the *training* interactions.
2. Components are fitted on what remains; :func:`candidate_features` gathers, for each validation
   user, the union of every component's top candidates with their normalised scores.
3. :func:`tune_weights` runs coordinate ascent over a weight grid maximising NDCG@k, separately for
   each history-length bucket.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from recommender.base import Model
from recommender.candidates import fuse_candidates
from recommender.evaluation import batch_ndcg
from recommender.hybrid import PER_COMPONENT, bucket_of
from recommender.interactions import Interactions

GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


def validation_split(
    inter: Interactions, *, fraction: float = 0.2, min_items: int = 5, seed: int = 1125, max_users: int | None = None
) -> tuple[Interactions, np.ndarray, list[np.ndarray]]:
    """(interactions without the validation items, validation user rows, their held-out item indexes)."""
    rng = np.random.default_rng(seed)
    m = inter.matrix.tocsr()
    lens = np.diff(m.indptr)
    users = np.flatnonzero(lens >= min_items)
    if max_users is not None and len(users) > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    keep = np.ones(m.nnz, dtype=bool)
    held: list[np.ndarray] = []
    for u in users:
        s, e = m.indptr[u], m.indptr[u + 1]
        n_out = math.ceil(fraction * (e - s))
        pos = s + rng.permutation(e - s)[:n_out]
        keep[pos] = False
        held.append(np.sort(m.indices[pos]))
    coo = m.tocoo()
    mk = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=m.shape, dtype=np.float32)
    dk = None
    if inter.days_ago is not None:
        dc = inter.days_ago.tocsr().tocoo()
        dk = sp.csr_matrix((dc.data[keep], (dc.row[keep], dc.col[keep])), shape=m.shape, dtype=np.float32)
    return Interactions(inter.user_ids, inter.item_ids, mk, dk), users, held


def candidate_features(
    models: Mapping[str, Model],
    histories: sp.csr_matrix,
    targets: Sequence[np.ndarray],
    per_model: int = PER_COMPONENT,
    batch: int = 256,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F (users, C, models) normalised scores of the candidate union (-1 = padding), L (users, C)
    relevance, n_rel (users,)."""
    n = histories.shape[0]
    blocks_f, blocks_l = [], []
    for start in tqdm(range(0, n, batch), desc="candidates", disable=not progress):
        h = histories[start : start + batch]
        cand, F = fuse_candidates(models, h, per_model)
        lab = np.zeros(cand.shape, dtype=bool)
        for r in range(cand.shape[0]):
            lab[r] = np.isin(cand[r], targets[start + r]) & (cand[r] >= 0)
        blocks_f.append(F)
        blocks_l.append(lab)
    c_max = max(f.shape[1] for f in blocks_f) if blocks_f else 1
    feats = np.full((n, c_max, len(models)), -1.0, dtype=np.float32)
    labels = np.zeros((n, c_max), dtype=bool)
    row = 0
    for F, lab in zip(blocks_f, blocks_l, strict=True):
        feats[row : row + F.shape[0], : F.shape[1]] = F
        labels[row : row + F.shape[0], : F.shape[1]] = lab
        row += F.shape[0]
    return feats, labels, np.array([len(t) for t in targets])


def fused_ndcg(feats: np.ndarray, labels: np.ndarray, n_rel: np.ndarray, w: np.ndarray, k: int = 20) -> float:
    s = feats @ w
    s[feats[:, :, 0] < 0] = -np.inf
    top = np.argpartition(-s, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    hits = np.take_along_axis(labels, top, axis=1).astype(np.float64)
    return float(batch_ndcg(top, hits, n_rel).mean()) if len(n_rel) else 0.0


def tune_weights(
    feats: np.ndarray,
    labels: np.ndarray,
    n_rel: np.ndarray,
    names: Sequence[str],
    grid: Sequence[float] = GRID,
    rounds: int = 3,
    k: int = 20,
) -> tuple[dict[str, float], float]:
    """Coordinate ascent from the best single component; returns (weights, validation NDCG@k)."""
    m = len(names)
    singles = [fused_ndcg(feats, labels, n_rel, np.eye(m)[j], k) for j in range(m)]
    w = np.eye(m)[int(np.argmax(singles))].astype(np.float32)
    best = max(singles)
    for _ in range(rounds):
        improved = False
        for j in range(m):
            for g in grid:
                trial = w.copy()
                trial[j] = g
                if trial.sum() <= 0:
                    continue
                v = fused_ndcg(feats, labels, n_rel, trial, k)
                if v > best + 1e-6:
                    best, w, improved = v, trial, True
        if not improved:
            break
    w = w / max(float(w.max()), 1e-12)
    return {nm: float(x) for nm, x in zip(names, w, strict=True)}, best


def tune_buckets(feats, labels, n_rel, hist_lens, names, buckets, min_users: int = 50):
    """One weight set per history-length bucket (falling back to all users when a bucket is thin)."""
    out, scores = [], []
    all_w, all_v = tune_weights(feats, labels, n_rel, names)
    for b in range(len(buckets)):
        rows = np.flatnonzero([bucket_of(int(n), buckets) == b for n in hist_lens])
        if len(rows) < min_users:
            out.append(all_w)
            scores.append(all_v)
            continue
        w, v = tune_weights(feats[rows], labels[rows], n_rel[rows], names)
        out.append(w)
        scores.append(v)
    return out, scores
