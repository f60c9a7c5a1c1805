"""Subject facet counts: the top-N shortcut gives exactly the head of the full ranking."""

from __future__ import annotations

import random

import numpy as np

from search.documents import IndexDoc
from search.store import DocStore


def _store(seed: int) -> DocStore:
    rng = random.Random(seed)
    headings = [f"Chủ đề {i:02d}" for i in range(30)] + ["Việt Nam -- Lịch sử", "Việt Nam -- Địa lý"]
    store = DocStore()
    for n in range(400):
        subjects = rng.sample(headings, rng.randint(0, 4))
        store.add(IndexDoc(doc_id=f"r{n}", kind="record", text="x", record_key=f"lib/r{n}", library_id="lib",
                           record_id=f"r{n}", subjects=subjects))  # fmt: skip
    return store


def test_top_subjects_are_the_head_of_the_full_ranking_ties_included():
    for seed in range(5):
        store = _store(seed)
        rng = np.random.default_rng(seed)
        slots = np.sort(rng.choice(400, size=150, replace=False))
        full = store.subject_counts(slots)
        for top in (1, 3, 10, 31, 100):
            assert store.subject_counts(slots, top=top) == full[:top]
        # counts are right: recount by hand
        want: dict[str, int] = {}
        for s in slots:
            for h in store.docs[int(s)].subjects:
                want[h] = want.get(h, 0) + 1
        assert dict(full) == want


def test_no_subjects_or_no_slots():
    store = _store(0)
    assert store.subject_counts(np.zeros(0, dtype=np.int64), top=5) == []
    empty = DocStore()
    assert empty.subject_counts(np.array([0]), top=5) == []
