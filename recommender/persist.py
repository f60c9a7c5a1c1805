"""Versioned models on disk: ``<root>/<version>/`` holds ``manifest.json`` (written last), the
item catalogue and each component's arrays. A version is built in a hidden temporary directory and
renamed into place, so a reader never sees half a model. No pickles: numpy/scipy arrays and JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.als import ALS
from recommender.base import Model
from recommender.catalogue import ItemCatalogue
from recommender.content import Content
from recommender.ease import EASE
from recommender.hybrid import Hybrid
from recommender.itemknn import ItemKNN
from recommender.popularity import Popularity

MANIFEST = "manifest.json"


def _save_component(name: str, m: Model, d: Path) -> dict[str, Any]:
    if isinstance(m, Popularity):
        np.save(d / f"{name}.scores.npy", m.scores_)
        return {"class": "popularity", "half_life_days": m.half_life_days}
    if isinstance(m, ItemKNN):
        sp.save_npz(d / f"{name}.sim.npz", m.sim_, compressed=False)
        return {"class": "itemknn", "neighbours": m.neighbours, "shrink": m.shrink}
    if isinstance(m, EASE):
        np.save(d / f"{name}.top.npy", m.top_)
        np.save(d / f"{name}.B.npy", np.ascontiguousarray(m.B_))
        return {"class": "ease", "lam": m.lam, "max_items": m.max_items}
    if isinstance(m, ALS):
        np.save(d / f"{name}.item_factors.npy", m.item_factors_)
        return {
            "class": "als",
            "factors": m.factors,
            "regularization": m.regularization,
            "alpha": m.alpha,
            "iterations": m.iterations,
        }
    if isinstance(m, Content):
        if sp.issparse(m.vectors):
            sp.save_npz(d / f"{name}.vectors.npz", m.vectors, compressed=False)
        else:
            np.save(d / f"{name}.vectors.npy", m.vectors)
            if m.ann_ is not None:  # the inverted-file search index, as faiss serialises it (bytes)
                import faiss

                np.save(d / f"{name}.ivf.npy", faiss.serialize_index(m.ann_))
        return {"class": "content", "sparse": bool(sp.issparse(m.vectors))}
    raise TypeError(f"cannot save a {type(m).__name__}")


def _load_component(name: str, spec: dict[str, Any], d: Path, item_ids: np.ndarray) -> Model:
    cls = spec["class"]
    if cls == "popularity":
        m: Model = Popularity(spec.get("half_life_days"))
        m.scores_ = np.load(d / f"{name}.scores.npy")
    elif cls == "itemknn":
        m = ItemKNN(spec["neighbours"], spec["shrink"])
        m.sim_ = sp.load_npz(d / f"{name}.sim.npz").tocsr()
    elif cls == "ease":
        m = EASE(spec["lam"], spec["max_items"])
        m.top_ = np.load(d / f"{name}.top.npy")
        m.B_ = np.ascontiguousarray(np.load(d / f"{name}.B.npy"))
    elif cls == "als":
        m = ALS(spec["factors"], spec["regularization"], spec["alpha"], spec["iterations"])
        m.item_factors_ = np.load(d / f"{name}.item_factors.npy")
        m.yty_ = m.item_factors_.T @ m.item_factors_
    elif cls == "content":
        vec = sp.load_npz(d / f"{name}.vectors.npz").tocsr() if spec["sparse"] else np.load(d / f"{name}.vectors.npy")
        m = Content(vec)
        if (d / f"{name}.ivf.npy").is_file():
            import faiss

            m.ann_ = faiss.deserialize_index(np.load(d / f"{name}.ivf.npy"))
    else:
        raise ValueError(f"unknown component class {cls!r} in {d}")
    m.item_ids = item_ids
    return m


def new_version_name(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]


def save_version(
    model: Hybrid, catalogue: ItemCatalogue, root: Path, meta: dict[str, Any] | None = None, version: str | None = None
) -> str:
    """Write the model atomically under ``root/<version>/`` and return the version name."""
    root.mkdir(parents=True, exist_ok=True)
    version = version or new_version_name()
    tmp = root / f".tmp-{version}"
    tmp.mkdir()
    try:
        comps = {n: _save_component(n, m, tmp) for n, m in model.components.items()}
        catalogue.save(tmp / "items.json")
        manifest = {
            "version": version,
            "created": datetime.now(UTC).isoformat(),
            "n_items": len(catalogue.keys),
            "components": comps,
            "weights": model.weights,
            "buckets": list(model.buckets),
            "meta": meta or {},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, root / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def list_versions(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file())


def latest_version(root: Path) -> str | None:
    v = list_versions(root)
    return v[-1] if v else None


def load_version(root: Path, version: str) -> tuple[Hybrid, ItemCatalogue, dict[str, Any]]:
    d = root / version
    manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    cat = ItemCatalogue.load(d / "items.json")
    comps = {n: _load_component(n, spec, d, cat.keys) for n, spec in manifest["components"].items()}
    h = Hybrid(comps, manifest["weights"], tuple(manifest["buckets"]), prefitted=True)
    h.item_ids = cat.keys
    h._index = {str(k): i for i, k in enumerate(cat.keys)}
    for c in comps.values():
        c._index = h._index
        c.prepare()  # serving structures built once here, never per request
    h.item_counts_ = cat.counts
    return h, cat, manifest


def prune_versions(root: Path, keep: int = 3) -> list[str]:
    """Delete all but the newest ``keep`` versions; returns the deleted names."""
    old = list_versions(root)[:-keep] if keep > 0 else []
    for v in old:
        shutil.rmtree(root / v, ignore_errors=True)
    return old
