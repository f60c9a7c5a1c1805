"""The hybrid: each component proposes its top candidates with scores normalised per patron
(history masked, negatives clipped, divided by the patron's best); the union is ranked by a
weighted sum whose weights depend on how long the patron's history is. The weights come from
:func:`recommender.tuning.tune_weights` on a validation split carved from the training loans;
they are never set by hand. See :mod:`recommender.candidates`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from recommender.base import Filters, Model, Reason, Recommendation, history_matrix
from recommender.candidates import fuse_candidates, rank, weight_vector
from recommender.content import Content
from recommender.interactions import Interactions

#: history-length buckets: a patron with n known loans uses the first bucket whose bound is >= n
DEFAULT_BUCKETS: tuple[int, ...] = (5, 1_000_000_000)
#: candidates taken from each component
PER_COMPONENT = 100


def bucket_of(n: int, buckets: Sequence[int]) -> int:
    for b, bound in enumerate(buckets):
        if n <= bound:
            return b
    return len(buckets) - 1


class Hybrid(Model):
    name = "hybrid"

    def __init__(
        self,
        components: Mapping[str, Model],
        weights: Sequence[Mapping[str, float]],
        buckets: Sequence[int] = DEFAULT_BUCKETS,
        prefitted: bool = False,
        per_component: int = PER_COMPONENT,
    ) -> None:
        super().__init__()
        if len(weights) != len(buckets):
            raise ValueError("one weight set per history-length bucket is needed")
        self.components = dict(components)
        self.weights = [dict(w) for w in weights]
        self.buckets = tuple(buckets)
        self.prefitted = prefitted
        self.per_component = per_component
        self.item_counts_: np.ndarray = np.zeros(0, dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        if not self.prefitted:
            for m in self.components.values():
                m.fit(interactions)
        self.item_counts_ = interactions.item_counts().astype(np.float32)

    def _active(self) -> dict[str, Model]:
        used = {n for w in self.weights for n, v in w.items() if v > 0}
        return {n: m for n, m in self.components.items() if n in used}

    def rank_batch(self, histories: sp.csr_matrix, k: int, allowed: np.ndarray | None = None, n: int | None = None):
        """Top-k (items (U, k), fused scores, candidates, component scores, component names)."""
        comps = self._active()
        names = list(comps)
        cand, F = fuse_candidates(comps, histories, max(n or self.per_component, k), allowed)
        lens = np.diff(histories.tocsr().indptr)
        buckets = np.array([bucket_of(int(x), self.buckets) for x in lens])
        items = np.full((histories.shape[0], k), -1, dtype=np.int64)
        scores = np.full((histories.shape[0], k), -np.inf, dtype=np.float32)
        for b in np.unique(buckets):
            rows = np.flatnonzero(buckets == b)
            it, sc = rank(cand[rows], F[rows], weight_vector(self.weights[b], names), k)
            items[rows, : it.shape[1]] = it
            scores[rows, : sc.shape[1]] = sc
        return items, scores, cand, F, names

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """Dense scores: fused values on the candidate union, -inf elsewhere (for generic callers)."""
        items, scores, cand, F, names = self.rank_batch(histories, self.per_component)
        out = np.full((histories.shape[0], self.n_items), -np.inf, dtype=np.float32)
        for r in range(histories.shape[0]):
            ok = items[r] >= 0
            out[r, items[r, ok]] = scores[r, ok]
        return out

    def recommend_indexes(self, history: Sequence[int], k: int, filters: Filters | None = None, pool: int = 0):
        """(item indexes, fused scores, reasons_of) for one history; ``pool`` > k returns more (for MMR).

        ``reasons_of(items)`` explains picked items; call it only for the items actually shown.
        """
        f = filters or Filters()
        allowed = None if f.allowed is None else f.allowed.copy()
        if f.exclude:
            allowed = np.ones(self.n_items, dtype=bool) if allowed is None else allowed
            allowed[np.fromiter(f.exclude, dtype=np.int64)] = False
        h = history_matrix([list(history)], self.n_items)
        want = max(k, pool)
        items, scores, cand, F, names = self.rank_batch(h, want, allowed, n=max(self.per_component, want))
        ok = items[0] >= 0
        picked, sc = items[0, ok], scores[0, ok]
        w = weight_vector(self.weights[bucket_of(len(history), self.buckets)], names)
        row_c, row_f = cand[0], F[0]

        def reasons_of(items: Sequence[int]) -> list[Reason]:
            """Reasons for the items actually shown, batched per explaining component."""
            out: list[Reason] = [Reason("popular")] * len(items)
            if not len(history):
                return out
            groups: dict[str, list[int]] = {}
            for j, item in enumerate(items):
                hit = np.flatnonzero(row_c == item)
                contrib = row_f[hit[0]] * w if len(hit) else np.zeros(len(names))
                if contrib.max(initial=0) > 0:
                    groups.setdefault(names[int(np.argmax(contrib))], []).append(j)
            for name, js in groups.items():
                rs = self.components[name].explain_many(history, [int(items[j]) for j in js])
                for j, r in zip(js, rs, strict=True):
                    if isinstance(self.components[name], Content) and self.item_counts_[int(items[j])] == 0:
                        r = Reason("new_similar", r.anchor)
                    out[j] = r
            return out

        return picked, sc, reasons_of

    def _reason(self, history: Sequence[int], item: int, contrib: np.ndarray, names: Sequence[str]) -> Reason:
        if not len(history) or contrib.max(initial=0) <= 0:
            return Reason("popular")
        best = names[int(np.argmax(contrib))]
        r = self.components[best].explain(history, item)
        if isinstance(self.components[best], Content) and self.item_counts_[item] == 0:
            return Reason("new_similar", r.anchor)
        return r

    def recommend(self, history, k=10, filters=None) -> list[Recommendation]:
        hist, _ = self.indexes(history)
        picked, scores, reasons_of = self.recommend_indexes(hist, k, filters)
        reasons = reasons_of([int(i) for i in picked])
        return [
            Recommendation(str(self.item_ids[i]), float(s), r) for i, s, r in zip(picked, scores, reasons, strict=True)
        ]
