"""The documents of the index, by slot, with column arrays of their metadata for masks and facets.

A *slot* is the integer id of a document in every structure (BM25 rows, FAISS ids). Slots are never
reused; deleted ones are dead in ``alive``.
"""

from __future__ import annotations

import numpy as np

from search.documents import IndexDoc
from search.filters import Filters, UnknownFilterValue, norm_value, subject_keys
from search.titles import title_keys

__all__ = ["DocStore"]


class _Codes:
    """Value <-> small integer code (0 is "none")."""

    def __init__(self) -> None:
        self.values: list[str | None] = [None]
        self.index: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None or value == "":
            return 0
        c = self.index.get(value)
        if c is None:
            c = self.index[value] = len(self.values)
            self.values.append(value)
        return c


class DocStore:
    def __init__(self) -> None:
        self.docs: dict[int, IndexDoc] = {}
        self.by_doc_id: dict[str, int] = {}
        self.by_record: dict[str, list[int]] = {}
        self.next_slot = 0
        cap = 1024
        self.alive = np.zeros(cap, dtype=bool)
        self.is_record_doc = np.zeros(cap, dtype=bool)
        self.year = np.full(cap, -1, dtype=np.int32)
        self.library = np.zeros(cap, dtype=np.int32)
        self.language = np.zeros(cap, dtype=np.int32)
        self.type = np.zeros(cap, dtype=np.int32)
        self.record = np.zeros(cap, dtype=np.int32)
        self.libraries = _Codes()
        self.languages = _Codes()
        self.types = _Codes()
        self.records = _Codes()
        self.subject_slots: dict[str, list[int]] = {}  # comparison key -> slots
        self.subject_display: dict[str, str] = {}  # comparison key -> heading as written
        self.slot_subjects: dict[int, list[str]] = {}
        # (slot, subject code) pairs of full headings, for vectorised subject facets
        self.subject_codes = _Codes()
        self._pair_slot = np.zeros(1024, dtype=np.int64)
        self._pair_code = np.zeros(1024, dtype=np.int32)
        self._n_pairs = 0
        # known-item search: title key -> record-document slots (search.titles)
        self.title_accented: dict[str, set[int]] = {}
        self.title_folded: dict[str, set[int]] = {}

    # ---- sizes ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.docs)

    def record_count(self) -> int:
        return len(self.by_record)

    def _grow(self, n: int) -> None:
        if n <= len(self.alive):
            return
        cap = max(n, len(self.alive) * 2)
        for name, fill in (
            ("alive", False),
            ("is_record_doc", False),
            ("year", -1),
            ("library", 0),
            ("language", 0),
            ("type", 0),
            ("record", 0),
        ):
            old = getattr(self, name)
            new = np.full(cap, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    # ---- writes --------------------------------------------------------------------------------
    def add(self, doc: IndexDoc, slot: int | None = None) -> int:
        if doc.doc_id in self.by_doc_id:
            raise ValueError(f"document {doc.doc_id!r} is already indexed")
        if slot is None:
            slot = self.next_slot
        self.next_slot = max(self.next_slot, slot + 1)
        self._grow(self.next_slot)
        self.docs[slot] = doc
        self.by_doc_id[doc.doc_id] = slot
        self.by_record.setdefault(doc.record_key, []).append(slot)
        self.alive[slot] = True
        self.is_record_doc[slot] = doc.kind == "record"
        self.year[slot] = doc.year if doc.year is not None else -1
        self.library[slot] = self.libraries.code(doc.library_id)
        self.language[slot] = self.languages.code(doc.language.strip().lower() if doc.language else None)
        self.type[slot] = self.types.code(doc.type)
        self.record[slot] = self.records.code(doc.record_key)
        keys: list[str] = []
        for heading in doc.subjects:
            for i, key in enumerate(subject_keys(heading)):
                self.subject_slots.setdefault(key, []).append(slot)
                if key not in self.subject_display:
                    parts = [p.strip() for p in heading.split("--") if p.strip()]
                    self.subject_display[key] = " -- ".join(parts[: i + 1])
                if i == len(subject_keys(heading)) - 1:
                    keys.append(key)
        self.slot_subjects[slot] = keys
        if doc.kind == "record":
            self._index_title(doc.title, slot, add=True)
        for key in dict.fromkeys(keys):
            if self._n_pairs == len(self._pair_slot):
                self._pair_slot = np.concatenate([self._pair_slot, np.zeros_like(self._pair_slot)])
                self._pair_code = np.concatenate([self._pair_code, np.zeros_like(self._pair_code)])
            self._pair_slot[self._n_pairs] = slot
            self._pair_code[self._n_pairs] = self.subject_codes.code(key)
            self._n_pairs += 1
        return slot

    def subject_counts(self, slots: np.ndarray, top: int | None = None) -> list[tuple[str, int]]:
        """How many of ``slots`` carry each full subject heading (display form), most first; only
        the ``top`` most frequent (ties at the cut kept, then cut by name) when given."""
        if self._n_pairs == 0 or len(slots) == 0:
            return []
        sel = np.zeros(self.next_slot, dtype=bool)
        sel[np.asarray(slots, dtype=np.int64)] = True
        ps, pc = self._pair_slot[: self._n_pairs], self._pair_code[: self._n_pairs]
        counts = np.bincount(pc[sel[ps]], minlength=len(self.subject_codes.values))
        counts[0] = 0  # code 0 is "no subject"
        nz = np.flatnonzero(counts)
        if top is not None and len(nz) > top:
            # only the codes that can be in the top: count >= the top-th largest count
            cut = np.partition(counts[nz], len(nz) - top)[len(nz) - top]
            nz = nz[counts[nz] >= cut]
        out = sorted(
            ((self.subject_display[self.subject_codes.values[c]], int(counts[c])) for c in nz),
            key=lambda x: (-x[1], x[0]),
        )
        return out if top is None else out[:top]

    def remove_record(self, key: str) -> list[int]:
        slots = self.by_record.pop(key, [])
        for s in slots:
            doc = self.docs.pop(s)
            self.by_doc_id.pop(doc.doc_id, None)
            self.slot_subjects.pop(s, None)
            self.alive[s] = False
            if doc.kind == "record":
                self._index_title(doc.title, s, add=False)
        return slots

    def _index_title(self, title: str, slot: int, add: bool) -> None:
        keys = title_keys(title)
        for table, table_keys in ((self.title_accented, keys.accented), (self.title_folded, keys.folded)):
            for key in table_keys:
                if add:
                    table.setdefault(key, set()).add(slot)
                elif key in table:
                    table[key].discard(slot)
                    if not table[key]:
                        del table[key]

    def title_slots(self, key: str | None, accented: bool) -> list[int]:
        """Record-document slots whose title (or title proper) has this key, in slot order."""
        if key is None:
            return []
        return sorted((self.title_accented if accented else self.title_folded).get(key, ()))

    # ---- filters -------------------------------------------------------------------------------
    def known_values(self, field: str) -> list[str]:
        live = self.alive[: self.next_slot]
        if field == "library_id":
            codes = np.unique(self.library[: self.next_slot][live])
            return sorted(self.libraries.values[c] for c in codes if c)
        if field == "language":
            codes = np.unique(self.language[: self.next_slot][live])
            return sorted(self.languages.values[c] for c in codes if c)
        if field == "type":
            codes = np.unique(self.type[: self.next_slot][live])
            return sorted(self.types.values[c] for c in codes if c)
        if field == "subject":
            return sorted(self.subject_display[k] for k, slots in self.subject_slots.items() if live[slots].any())
        if field == "year":
            years = self.year[: self.next_slot][live]
            years = years[years >= 0]
            return [str(int(years.min())), str(int(years.max()))] if len(years) else []
        raise ValueError(f"unknown filter field {field!r}; expected library_id, language, type, subject or year")

    def mask(self, filters: Filters | None, strict: bool = True) -> np.ndarray:
        """Live slots passing ``filters``. With ``strict``, an unknown library, language or subject
        raises :class:`UnknownFilterValue` (a type outside RECORD_TYPES is refused by ``Filters``)."""
        n = self.next_slot
        m = self.alive[:n].copy()
        if filters is None or filters.is_empty():
            return m
        libs = filters.libraries()
        if libs:
            codes = []
            for lib in libs:
                c = self.libraries.index.get(lib)
                if c is None:
                    if strict:
                        raise UnknownFilterValue("library_id", lib, self.known_values("library_id"))
                    continue
                codes.append(c)
            m &= np.isin(self.library[:n], np.asarray(codes, dtype=np.int32))
        if filters.language is not None:
            lang = filters.language.strip().lower()
            c = self.languages.index.get(lang)
            if c is None:
                if strict:
                    raise UnknownFilterValue("language", filters.language, self.known_values("language"))
                m[:] = False
            else:
                m &= self.language[:n] == c
        if filters.type is not None:
            c = self.types.index.get(filters.type)
            if c is None:
                m[:] = False
            else:
                m &= self.type[:n] == c
        if filters.year_from is not None:
            m &= self.year[:n] >= filters.year_from
        if filters.year_to is not None:
            m &= (self.year[:n] >= 0) & (self.year[:n] <= filters.year_to)
        if filters.subject is not None:
            key = norm_value(filters.subject)
            slots = self.subject_slots.get(key)
            if not slots:
                if strict:
                    raise UnknownFilterValue("subject", filters.subject)
                m[:] = False
            else:
                sm = np.zeros(n, dtype=bool)
                sm[np.asarray(slots, dtype=np.int64)] = True
                m &= sm
        return m
