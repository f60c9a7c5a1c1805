"""Train a versioned hybrid from the loans store (and the catalogue's records), and save it.

Steps: retention -> interactions over (borrowed items ∪ catalogue records) -> content vectors
(with an encoder: the record embeddings of title/authors/subjects, centred, as the ``content``
component, and TF-IDF of the same fields as a second one, ``content_text``; without one, TF-IDF is
``content``) ->
validation split carved from the loans -> fusion weights tuned there -> components refitted on all
loans -> ``<root>/<version>/`` written atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.als import ALS
from recommender.base import Model
from recommender.catalogue import ItemCatalogue
from recommender.content import ANN_MIN_ITEMS, Content, build_ann
from recommender.ease import EASE
from recommender.features import centre, tfidf, tokens
from recommender.hybrid import DEFAULT_BUCKETS, Hybrid
from recommender.interactions import Interactions
from recommender.itemknn import ItemKNN
from recommender.loans_store import LoansStore
from recommender.persist import prune_versions, save_version
from recommender.popularity import Popularity
from recommender.tuning import candidate_features, tune_buckets, validation_split

log = logging.getLogger("thuvien.recommender")


def record_text(r) -> str:
    parts = [r.title, ", ".join(r.authors or []), "; ".join(r.subjects or [])]
    return " — ".join(p for p in parts if p)


def components(
    feats,
    *,
    ease_items: int,
    als_factors: int,
    als_reg: float,
    ease_lam: float,
    n_users: int,
    text_feats=None,
    half_life_days: float | None = 365.0,
    ann=None,
) -> dict[str, Model]:
    """The hybrid's components; ``feats`` feed ``content`` (record embeddings when there are any),
    ``text_feats`` (TF-IDF beside embeddings) a second content component ``content_text``."""
    comps: dict[str, Model] = {
        "popularity": Popularity(half_life_days=half_life_days),
        "itemknn": ItemKNN(),
        "ease": EASE(lam=ease_lam, max_items=ease_items),
        "content": Content(feats, ann=ann),
    }
    if text_feats is not None:
        comps["content_text"] = Content(text_feats)
    if n_users >= 20:
        comps["als"] = ALS(factors=als_factors, regularization=als_reg, iterations=15)
    return comps


def fit_components(models: dict[str, Model], inter: Interactions) -> dict[str, Model]:
    """Fit every component. EASE's dense inverse (torch, which releases the GIL) runs in a thread
    beside the others, so that the single-threaded item-kNN does not leave the second core idle."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ease-fit") as pool:
        futures = [pool.submit(m.fit, inter) for m in models.values() if isinstance(m, EASE)]
        for m in models.values():
            if not isinstance(m, EASE):
                m.fit(inter)
        for f in futures:
            f.result()
    return models


def train(
    store: LoansStore,
    root: Path,
    *,
    records: Iterable[Any] = (),
    encoder: Any | None = None,
    retention_months: int | None = None,
    today: date | None = None,
    ease_items: int = 10_000,
    ease_lam: float = 200.0,
    als_factors: int = 64,
    als_reg: float = 0.1,
    keep_versions: int = 3,
    progress: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Train and save a model version; returns (version, manifest meta)."""
    t0 = time.perf_counter()
    steps: dict[str, float] = {}

    steps_cpu: dict[str, float] = {}
    clock = [t0, time.process_time()]

    def lap(name: str) -> None:  # wall and CPU seconds per step, in the manifest's meta
        now, cpu = time.perf_counter(), time.process_time()
        steps[name] = round(now - clock[0], 2)
        steps_cpu[name] = round(cpu - clock[1], 2)
        clock[:] = [now, cpu]

    today = today or date.today()
    dropped = store.apply_retention(retention_months, today) if retention_months else 0
    records = list(records)
    loans = list(store.iter_loans())
    keys = sorted({f"{r.library_id}/{r.id}" for r in records} | {f"{x.library_id}/{x.record_id}" for x in loans})
    if not keys:
        raise ValueError("không có khoản mượn hay biểu ghi nào để huấn luyện (no loans and no records)")
    inter = Interactions.from_events(
        ((x.patron_id, f"{x.library_id}/{x.record_id}", x.rating, x.date) for x in loans), item_ids=keys, today=today
    )
    lap("read_loans")
    by_key = {f"{r.library_id}/{r.id}": r for r in records}
    docs = []
    for k in keys:
        r = by_key.get(k)
        docs.append(tokens(r.title, r.authors, r.subjects) if r else [f"id:{k}"])
    feats, text_feats = tfidf(docs), None
    if encoder is not None and by_key:
        texts = [record_text(by_key[k]) if k in by_key else k.split("/", 1)[1] for k in keys]
        dense = np.asarray(encoder.encode_passages(texts), dtype=np.float32)
        feats, text_feats = centre(dense), feats
    lap("content_features")
    # the embeddings' search index depends on the vectors only: built once, shared by both fits
    ann = build_ann(feats) if not sp.issparse(feats) and feats.shape[0] >= ANN_MIN_ITEMS else None
    lap("content_index")
    n_users = inter.n_users
    make = dict(
        ease_items=ease_items,
        als_factors=als_factors,
        als_reg=als_reg,
        ease_lam=ease_lam,
        n_users=n_users,
        text_feats=text_feats,
        ann=ann,
    )

    # fusion weights from a validation split carved from the loans
    vtrain, vusers, vheld = validation_split(inter, max_users=4000)
    names = list(components(feats, **make))
    tuned = len(vusers) >= 10
    if tuned:
        vcomp = fit_components(components(feats, **make), vtrain)
        lap("validation_fit")
        F, L, n_rel = candidate_features(vcomp, vtrain.binary()[vusers], vheld, per_model=50, progress=progress)
        lap("validation_candidates")
        weights, scores = tune_buckets(
            F, L, n_rel, np.diff(vtrain.binary()[vusers].indptr), names, DEFAULT_BUCKETS, min_users=10
        )
    else:  # too few patrons to learn from: every component counts the same, and the manifest says so
        weights, scores = [dict.fromkeys(names, 1.0) for _ in DEFAULT_BUCKETS], []
    lap("tune_weights")
    comps = fit_components(components(feats, **make), inter)
    lap("fit")
    model = Hybrid(comps, weights, DEFAULT_BUCKETS, prefitted=True).fit(inter)
    cat = ItemCatalogue.from_records(records, keys, counts=inter.item_counts())
    meta = {
        "patrons": n_users,
        "items": len(keys),
        "loans": int(inter.matrix.nnz),
        "retention_dropped": dropped,
        "weights_tuned": tuned,
        "validation_users": int(len(vusers)),
        "validation_ndcg": scores,
        "encoder": getattr(encoder, "model_id", None),
        "fit_seconds": round(time.perf_counter() - t0, 2),
        "step_seconds": steps,
        "step_cpu_seconds": steps_cpu,
    }
    version = save_version(model, cat, root, meta=meta)
    prune_versions(root, keep_versions)
    lap("save")
    meta["seconds_with_save"] = round(time.perf_counter() - t0, 2)
    log.info("recommender model %s trained: %s", version, meta)
    return version, meta
