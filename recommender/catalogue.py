"""What the recommender knows about each item besides loans: title, library, copies on the shelf,
first subject, and how often it was borrowed when the model was trained. Aligned with model items.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ItemCatalogue:
    keys: np.ndarray  # "library_id/record_id"
    titles: list[str]
    subjects: list[str]
    available: np.ndarray  # int copies on the shelf, -1 when unknown
    counts: np.ndarray  # training interactions per item

    @classmethod
    def from_titles(cls, keys: Sequence[str], titles: Sequence[str], counts=None) -> ItemCatalogue:
        n = len(keys)
        return cls(
            keys=np.asarray(keys, dtype=object),
            titles=list(titles),
            subjects=[""] * n,
            available=np.full(n, -1, dtype=np.int32),
            counts=np.zeros(n, np.float32) if counts is None else np.asarray(counts, np.float32),
        )

    @classmethod
    def from_records(cls, records: Iterable, keys: Sequence[str], counts=None) -> ItemCatalogue:
        """``records`` are :class:`catalog.model.Record`-like objects; keys without a record keep their id as title."""
        by_key = {f"{r.library_id}/{r.id}": r for r in records}
        titles, subjects, avail = [], [], []
        for k in keys:
            r = by_key.get(k)
            titles.append(r.title if r else k.split("/", 1)[-1])
            subjects.append(r.subjects[0].split(" -- ")[0] if r and r.subjects else "")
            avail.append(int(r.available) if r else -1)
        cat = cls.from_titles(keys, titles, counts)
        cat.subjects = subjects
        cat.available = np.asarray(avail, dtype=np.int32)
        return cat

    def library_of(self) -> np.ndarray:
        return np.array([k.split("/", 1)[0] for k in self.keys], dtype=object)

    def save(self, path: Path) -> None:
        data = {
            "keys": [str(k) for k in self.keys],
            "titles": self.titles,
            "subjects": self.subjects,
            "available": self.available.tolist(),
            "counts": self.counts.tolist(),
        }
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ItemCatalogue:
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            np.asarray(d["keys"], dtype=object),
            d["titles"],
            d["subjects"],
            np.asarray(d["available"], dtype=np.int32),
            np.asarray(d["counts"], dtype=np.float32),
        )
