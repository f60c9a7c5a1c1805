"""Recommendations as the service serves them: a loaded model version plus its item catalogue.

Adds to the model what patrons and librarians see: unknown records reported as warnings, filters
(library, copies on the shelf, already borrowed), MMR diversification over content vectors, titles,
and a reason per item in Vietnamese (English on request).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.base import Filters, Reason, select
from recommender.catalogue import ItemCatalogue
from recommender.hybrid import Hybrid
from recommender.mmr import mmr
from recommender.reasons import render

#: callback giving live copies on the shelf for item keys (e.g. from the catalogue store)
Availability = Callable[[list[str]], dict[str, int]]


@dataclass
class Result:
    items: list[dict] = field(default_factory=list)
    model: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"items": self.items, "model": self.model, "warnings": self.warnings}


class Engine:
    def __init__(
        self,
        model: Hybrid,
        catalogue: ItemCatalogue,
        version: str,
        *,
        mmr_lambda: float = 0.85,
        pool: int = 60,
        availability: Availability | None = None,
    ) -> None:
        self.model = model
        self.cat = catalogue
        self.version = version
        self.mmr_lambda = mmr_lambda
        self.pool = pool
        self.availability = availability
        self._lib = catalogue.library_of()
        self._index = {str(k): i for i, k in enumerate(catalogue.keys)}
        self._content = model.components.get("content")

    # -- helpers ---------------------------------------------------------------------------------
    def key(self, library_id: str, record_id: str) -> str:
        return f"{library_id}/{record_id}"

    def resolve(self, keys: Sequence[str], lang: str = "vi") -> tuple[list[int], list[str]]:
        known, seen, warnings = [], set(), []
        for k in keys:
            i = self._index.get(k)
            if i is None:
                warnings.append(
                    f"Unknown record {k} was ignored" if lang == "en" else f"Không biết biểu ghi {k}; đã bỏ qua"
                )
            elif i not in seen:
                seen.add(i)
                known.append(i)
        return known, warnings

    def filters(
        self, library_id: str | None, available_only: bool, exclude: Sequence[int] = (), only: np.ndarray | None = None
    ) -> Filters:
        allowed = None
        if library_id:
            allowed = self._lib == library_id
        if available_only:
            av = self.cat.available != 0  # unknown (-1) is checked live below, when a callback is given
            allowed = av if allowed is None else allowed & av
        if only is not None:
            allowed = only if allowed is None else allowed & only
        return Filters(allowed=allowed, exclude=set(int(i) for i in exclude))

    def _live_available(self, picked: Sequence[int]) -> list[int]:
        if self.availability is None:
            return [i for i in picked if self.cat.available[i] > 0]
        keys = [str(self.cat.keys[i]) for i in picked]
        live = self.availability(keys)
        return [i for i, k in zip(picked, keys, strict=True) if live.get(k, 0) > 0]

    def _item(self, i: int, score: float, reason: Reason, lang: str) -> dict:
        lib, rid = str(self.cat.keys[i]).split("/", 1)
        return {
            "record_id": rid,
            "library_id": lib,
            "title": self.cat.titles[i],
            "score": round(float(score), 6),
            "reason": render(reason, self.cat.titles, self.cat.subjects, i, lang),
        }

    def _diversify(self, picked: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
        if self._content is None or len(picked) <= k:
            return list(range(min(k, len(picked))))
        order = mmr(
            list(range(len(picked))),
            np.maximum(scores, 0.0),
            lambda a, b: self._content.similarity([int(picked[x]) for x in a], [int(picked[x]) for x in b]),
            k,
            self.mmr_lambda,
        )
        return order

    # -- what the API serves -----------------------------------------------------------------------
    def recommend(
        self,
        history: Sequence[str],
        k: int = 10,
        library_id: str | None = None,
        available_only: bool = False,
        lang: str = "vi",
        patron_known: bool = True,
        only: np.ndarray | None = None,
    ) -> Result:
        hist, warnings = self.resolve(history, lang)
        if not hist:
            res = self.popular(library_id, k, available_only, lang, only=only, unknown_patron=True)
            res.warnings = warnings + res.warnings
            return res
        f = self.filters(library_id, available_only, only=only)
        pool = max(self.pool, 3 * k) if self.mmr_lambda < 1.0 else k
        if available_only:
            pool = max(pool, 4 * k)
        picked, scores, reasons_of = self.model.recommend_indexes(hist, k, f, pool=pool)
        if available_only:
            keep = set(self._live_available(list(picked)))
            sel = [j for j, i in enumerate(picked) if int(i) in keep]
            picked, scores = picked[sel], scores[sel]
        order = self._diversify(picked, scores, k)
        reasons = reasons_of([int(picked[j]) for j in order])
        items = [self._item(int(picked[j]), scores[j], r, lang) for j, r in zip(order, reasons, strict=True)]
        return Result(items, self.version, warnings)

    def popular(
        self,
        library_id: str | None,
        k: int = 10,
        available_only: bool = False,
        lang: str = "vi",
        unknown_patron: bool = False,
        only: np.ndarray | None = None,
    ) -> Result:
        pop = self.model.components.get("popularity")
        scores = pop.scores_.astype(np.float64) if pop is not None else self.cat.counts.astype(np.float64)
        f = self.filters(library_id, available_only, only=only)
        picked = select(scores, [], max(k, 4 * k if available_only else k), f)
        if available_only:
            picked = np.asarray(self._live_available(list(picked)), dtype=np.int64)
        picked = picked[:k]
        reason = Reason("popular_unknown" if unknown_patron else "popular")
        top = float(scores[picked].max()) if len(picked) else 1.0
        items = [self._item(int(i), scores[i] / max(top, 1e-12), reason, lang) for i in picked]
        return Result(items, self.version, [])

    def similar(self, key: str, k: int = 10, library_id: str | None = None, lang: str = "vi") -> Result | None:
        i = self._index.get(key)
        if i is None:
            return None
        picked, scores, reasons_of = self.model.recommend_indexes([i], k, self.filters(library_id, False), pool=k)
        items = []
        for j, s, r in zip(picked, scores, reasons_of([int(x) for x in picked]), strict=True):
            kind = "similar_item" if r.kind == "because" else r.kind
            items.append(self._item(int(j), s, Reason(kind, r.anchor), lang))
        return Result(items, self.version, [])

    def new_arrivals(
        self,
        history: Sequence[str],
        k: int = 10,
        library_id: str | None = None,
        lang: str = "vi",
        available_only: bool = False,
    ) -> Result:
        """Items nobody had borrowed when the model was trained (new acquisitions), ranked for this patron."""
        new = self.cat.counts == 0
        hist, warnings = self.resolve(history, lang)
        content = self._content
        f = self.filters(library_id, available_only, only=new)
        want = 4 * k if available_only else k  # some may turn out to be on loan right now
        if not hist or content is None:
            picked = select(np.zeros(len(new)) + np.arange(len(new)) * 1e-9, [], want, f)
            if available_only:
                picked = self._live_available(list(picked))
            items = [self._item(int(i), 0.0, Reason("new_similar"), lang) for i in picked[:k]]
            return Result(items, self.version, warnings)
        from recommender.base import history_matrix

        s = content.score(history_matrix([hist], len(new))).ravel().astype(np.float64)
        picked = select(s, hist, want, f)
        if available_only:
            picked = self._live_available(list(picked))
        picked = picked[:k]
        items = [
            self._item(int(i), s[i], Reason("new_similar", content.explain(hist, int(i)).anchor), lang) for i in picked
        ]
        return Result(items, self.version, warnings)
