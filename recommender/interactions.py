"""Interactions: who borrowed (or rated) what, as a sparse user x item matrix.

Items are keyed ``library_id/record_id`` (see :func:`catalog.model.record_key`). Each interaction
has a weight (1 for a loan; Book-Crossing style ratings map to a confidence) and an optional date,
which popularity uses for recency weighting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import scipy.sparse as sp


def rating_weight(rating: float | None) -> float:
    """Confidence of one interaction: a loan or an implicit 0 counts 1; an explicit 1–10 rating adds a little."""
    if rating is None or rating <= 0:
        return 1.0
    return 1.0 + float(rating) / 10.0


@dataclass
class Interactions:
    """A user x item matrix with its id maps. Build with :meth:`from_events`."""

    user_ids: np.ndarray  # (n_users,) str
    item_ids: np.ndarray  # (n_items,) str
    matrix: sp.csr_matrix  # (n_users, n_items) float32 weights
    days_ago: sp.csr_matrix | None = None  # same pattern, age of the interaction in days (+1), or None
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_events(
        cls,
        events: Iterable[tuple[str, str, float | None, date | None]],
        *,
        item_ids: Sequence[str] | None = None,
        today: date | None = None,
    ) -> Interactions:
        """``events`` are (user, item, rating|None, date|None); repeats of a pair keep the max weight."""
        users: dict[str, int] = {}
        items: dict[str, int] = {i: n for n, i in enumerate(item_ids)} if item_ids is not None else {}
        fixed = item_ids is not None
        pairs: dict[tuple[int, int], tuple[float, int]] = {}
        ref = today or date.today()
        any_date = False
        for user, item, rating, when in events:
            if fixed and item not in items:
                continue
            u = users.setdefault(user, len(users))
            i = items.setdefault(item, len(items))
            w = rating_weight(rating)
            age = (ref - when).days + 1 if when is not None else 0
            any_date = any_date or when is not None
            old = pairs.get((u, i))
            if old is None or w > old[0]:
                pairs[(u, i)] = (w, max(age, 1) if when is not None else 0)
        n_u, n_i = len(users), len(items)
        if pairs:
            keys = np.fromiter((k for uv in pairs for k in uv), dtype=np.int64, count=2 * len(pairs)).reshape(-1, 2)
            vals = np.array([v[0] for v in pairs.values()], dtype=np.float32)
            ages = np.array([v[1] for v in pairs.values()], dtype=np.float32)
        else:
            keys = np.zeros((0, 2), dtype=np.int64)
            vals = ages = np.zeros(0, dtype=np.float32)
        m = sp.csr_matrix((vals, (keys[:, 0], keys[:, 1])), shape=(n_u, n_i), dtype=np.float32)
        d = sp.csr_matrix((ages, (keys[:, 0], keys[:, 1])), shape=(n_u, n_i), dtype=np.float32) if any_date else None
        return cls(
            user_ids=np.array(list(users), dtype=object),
            item_ids=np.array(list(items), dtype=object),
            matrix=m,
            days_ago=d,
        )

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    def item_index(self) -> dict[str, int]:
        if not self._item_index:
            self._item_index = {str(k): i for i, k in enumerate(self.item_ids)}
        return self._item_index

    def binary(self) -> sp.csr_matrix:
        b = self.matrix.copy()
        b.data[:] = 1.0
        return b

    def item_counts(self) -> np.ndarray:
        return np.asarray(self.binary().sum(axis=0)).ravel()
