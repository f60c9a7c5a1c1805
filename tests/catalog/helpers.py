"""Test helpers for the catalog tests."""

from __future__ import annotations

from catalog.store import CatalogStore


def snapshot(store: CatalogStore) -> dict:
    """Everything stored: records (as JSON) and chunks, for before/after comparisons."""
    recs = {}
    for batch in store.iter_records(500):
        for r in batch:
            recs[r.key] = (r.model_dump_json(), [c.model_dump_json() for c in store.chunks_of(r.library_id, r.id)])
    return recs
