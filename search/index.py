"""``SearchIndex``: the hybrid index facade (BM25 accented + BM25 folded + dense, fused).

Usage::

    index = SearchIndex.open(path, model_id=encoder.model_id, dim=encoder.dim)
    docs = docs_for_record(record, chunks)
    index.upsert(docs, encoder.encode_passages([d.embed_text for d in docs]))
    analysis = analyze_query(q, restorer)          # nlp.analyze
    qvec = encoder.encode_queries([analysis.restored or analysis.normalized])[0]
    result = index.search(analysis, qvec, k=10, filters=Filters(library_id="tinh"))
    index.save()

The query vector is computed by the caller from ``analysis.restored or analysis.normalized`` (the
restored form when the query was typed without diacritics); ``qvec=None`` searches lexically only.

On disk (``path``): ``CURRENT`` names the live generation directory ``gen-NNNNNN`` holding
``meta.json``, ``docs.jsonl``, ``lex_acc.npz``, ``lex_fold.npz``, ``dense.faiss``, ``dense.json``.
``save`` writes a new generation in a temporary directory, renames it into place, then swaps
``CURRENT`` with ``os.replace``: a crash at any point leaves the previous generation readable.

Dense vectors live in a :class:`search.vectors.VectorBackend` chosen by ``vectors``
(:class:`search.vectors.VectorConfig`): FAISS inside each generation (the default), or a Qdrant
collection, which is not versioned by generation: there ``qdrant.json`` names the collection,
removals are deleted from Qdrant only after the new generation is current (``commit``), and
``open`` deletes the points of slots that the loaded generation does not hold (``reconcile``), so
after a crash the collection matches the generation that is read back. Opening a generation saved
with FAISS under the Qdrant backend fills the collection from its ``dense.faiss``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nlp.fold import fold_normalized
from nlp.normalize import normalize
from nlp.tokenize import TOKEN_RE
from search.dense import DenseIndex, ModelMismatchError
from search.documents import IndexDoc
from search.facets import Facets, compute_facets
from search.filters import Filters, UnknownFilterValue
from search.fusion import FusionConfig, Ranked, Weights, fuse, top_slots
from search.lexical import BM25Field
from search.results import Hit, Passage, QueryInput, SearchResult
from search.snippets import make_snippet
from search.store import DocStore
from search.titles import query_title_key
from search.vectors import VectorBackend, VectorConfig, doc_payload, load_backend, new_backend

__all__ = ["SearchIndex", "ModelMismatchError", "UnknownFilterValue", "DEFAULT_FUSION", "MAX_QUERY_TOKENS"]

FORMAT_VERSION = 1
MAX_QUERY_TOKENS = 64
MAX_QUERY_CHARS = 2000
PASSAGES_PER_HIT = 3

# Normalised score fusion; weights tuned on the dev halves of XQuAD-vi and ALQAC 2023
# (bench/search_quality.py --tune: grid over acc/fold weights with dense = 1, RRF and score fusion),
# checked on the test halves. With diacritics the accented field carries the lexical side; without
# them the accented field matches the restored query and the folded field adds a little.
DEFAULT_FUSION = FusionConfig(
    method="score",
    accented=Weights(acc=1.0, fold=0.0, dense=1.0),
    plain=Weights(acc=1.0, fold=0.25, dense=1.0),
)


@lru_cache(maxsize=200_000)
def _fold_token(tok: str) -> str:
    return fold_normalized(tok)


def _with_bigrams(toks: list[str]) -> list[str]:
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]


def doc_tokens(text: str, bigrams: bool = False) -> tuple[list[str], list[str]]:
    """(accented, folded) syllable tokens of a text, optionally with syllable bigrams."""
    acc = TOKEN_RE.findall(normalize(text).lower())
    fold = [_fold_token(t) for t in acc]
    if bigrams:
        return _with_bigrams(acc), _with_bigrams(fold)
    return acc, fold


class SearchIndex:
    def __init__(
        self,
        path: Path,
        model_id: str,
        dim: int,
        hnsw_threshold: int = 50_000,
        fusion: FusionConfig | None = None,
        vectors: VectorConfig | None = None,
        dense: VectorBackend | None = None,
    ) -> None:
        self.path = Path(path)
        self.model_id = model_id
        self.dim = dim
        self.fusion = fusion or DEFAULT_FUSION
        self.store = DocStore()
        self.acc = BM25Field()
        self.fold = BM25Field()
        self.vectors = vectors if vectors is not None else VectorConfig(hnsw_threshold=hnsw_threshold)
        self.dense: VectorBackend = dense if dense is not None else new_backend(self.vectors, model_id, dim)
        self.generation = 0
        self.dense_report: dict[str, int] = {"removed": 0, "missing": 0}  # what ``reconcile`` did on open
        self._dead = 0
        self._lock = threading.RLock()

    # ---- opening / saving ----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path,
        model_id: str,
        dim: int,
        hnsw_threshold: int = 50_000,
        fusion: FusionConfig | None = None,
        vectors: VectorConfig | None = None,
    ) -> SearchIndex:
        """Open the index at ``path`` (an empty one if nothing was saved there yet).

        Raises :class:`ModelMismatchError` if the saved index was built with another model."""
        path = Path(path)
        vectors = vectors if vectors is not None else VectorConfig(hnsw_threshold=hnsw_threshold)
        current = path / "CURRENT"
        if not current.exists():
            idx = cls(path, model_id, dim, hnsw_threshold, fusion, vectors=vectors)
            idx.dense_report = idx.dense.reconcile(idx.store.alive[:0])
            return idx
        gen_dir = path / current.read_text(encoding="utf-8").strip()
        meta = json.loads((gen_dir / "meta.json").read_text(encoding="utf-8"))
        if meta.get("model_id") != model_id or int(meta.get("dim", -1)) != dim:
            raise ModelMismatchError(
                f"the search index in {path} was built with model {meta.get('model_id')!r} "
                f"(dimension {meta.get('dim')}), but the configured encoder is {model_id!r} (dimension {dim}); "
                "re-index the collection (remove the index directory and import again)"
            )
        dense = load_backend(vectors, gen_dir, model_id, dim)
        try:
            idx = cls(path, model_id, dim, hnsw_threshold, fusion, vectors=vectors, dense=dense)
            idx._load_generation(gen_dir, meta, fusion)
        except BaseException:
            dense.close()
            raise
        return idx

    def _load_generation(self, gen_dir: Path, meta: dict[str, Any], fusion: FusionConfig | None) -> None:
        idx = self
        if fusion is None and meta.get("fusion"):
            idx.fusion = FusionConfig.model_validate(meta["fusion"])
        idx.generation = int(meta["generation"])
        idx.acc = BM25Field.load(gen_dir / "lex_acc.npz")
        idx.fold = BM25Field.load(gen_dir / "lex_fold.npz")
        with (gen_dir / "docs.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                idx.store.add(IndexDoc.model_validate(row["doc"]), slot=int(row["slot"]))
        idx.store.next_slot = max(idx.store.next_slot, int(meta["next_slot"]))
        alive = idx.store.alive[: idx.store.next_slot]
        idx.dense_report = idx.dense.reconcile(alive)
        if idx.dense_report["missing"] and not isinstance(idx.dense, DenseIndex) and (gen_dir / "dense.faiss").exists():
            idx._fill_from_faiss(gen_dir, alive)

    def _fill_from_faiss(self, gen_dir: Path, alive: np.ndarray) -> None:
        """Copy the vectors of a generation saved with FAISS into the configured backend."""
        faiss_index = DenseIndex.load(gen_dir, self.model_id, self.dim)
        slots, vecs = faiss_index._all()
        keep = (slots < len(alive)) & alive[np.minimum(slots, max(len(alive) - 1, 0))]
        slots, vecs = slots[keep], vecs[keep]
        payloads = [doc_payload(self.store.docs[int(s)]) for s in slots] if self.dense.uses_payloads else None
        self.dense.add(slots, vecs, payloads)
        self.dense_report = self.dense.reconcile(alive)

    def close(self) -> None:
        """Release the vector backend (a Qdrant client); the index is not usable afterwards."""
        self.dense.close()

    def save(self) -> Path:
        """Write a new generation atomically; returns its directory."""
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True)
            gen = self.generation + 1
            name = f"gen-{gen:06d}"
            tmp = self.path / f".tmp-{name}-{os.getpid()}"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            alive = self.store.alive[: self.store.next_slot]
            self.acc.save(tmp / "lex_acc.npz", alive)
            self.fold.save(tmp / "lex_fold.npz", alive)
            self._dead = 0
            self.dense.save(tmp)
            with (tmp / "docs.jsonl").open("w", encoding="utf-8") as fh:
                for slot in sorted(self.store.docs):
                    fh.write(json.dumps({"slot": slot, "doc": self.store.docs[slot].model_dump()}, ensure_ascii=False))
                    fh.write("\n")
            meta = {
                "format": FORMAT_VERSION,
                "generation": gen,
                "model_id": self.model_id,
                "dim": self.dim,
                "next_slot": self.store.next_slot,
                "docs": len(self.store),
                "records": self.store.record_count(),
                "fusion": self.fusion.model_dump(),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            for f in tmp.iterdir():
                _fsync(f)
            final = self.path / name
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            cur_tmp = self.path / f".CURRENT.tmp-{os.getpid()}"
            cur_tmp.write_text(name, encoding="utf-8")
            _fsync(cur_tmp)
            os.replace(cur_tmp, self.path / "CURRENT")
            _fsync_dir(self.path)
            self.generation = gen
            self.dense.commit()  # removals reach a shared vector store only now that they are saved
            self._cleanup(keep={name, f"gen-{gen - 1:06d}"})
            return final

    def _cleanup(self, keep: set[str]) -> None:
        for p in self.path.iterdir():
            if p.is_dir() and (p.name.startswith("gen-") or p.name.startswith(".tmp-gen-")) and p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)

    # ---- sizes ---------------------------------------------------------------------------------
    def count(self) -> int:
        """Indexed documents (record docs + chunk docs)."""
        return len(self.store)

    def record_count(self) -> int:
        return self.store.record_count()

    def known_values(self, field: str) -> list[str]:
        """Values present in the index for a filter field (``year``: [min, max])."""
        with self._lock:
            return self.store.known_values(field)

    def stats(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "dim": self.dim,
            "documents": self.count(),
            "records": self.record_count(),
            "dense_vectors": self.dense.size,
            "dense_kind": self.dense.kind,
            "dense_missing": self.dense_report.get("missing", 0),
            "generation": self.generation,
            "fusion": self.fusion.model_dump(),
        }

    # ---- writes --------------------------------------------------------------------------------
    def upsert(self, docs: Sequence[IndexDoc], vectors: np.ndarray, model_id: str | None = None) -> int:
        """Index ``docs`` (with their passage vectors, one row per doc, from ``doc.text``), replacing
        every document of the records they belong to. Searchable on return. Returns docs added."""
        docs = list(docs)
        ids = [d.doc_id for d in docs]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"document {dup!r} appears twice in one upsert")
        vecs = self.dense.check_vectors(
            vectors if len(docs) else np.zeros((0, self.dim), np.float32), len(docs), model_id=model_id
        )
        tokenized = [doc_tokens(d.lexical_text(), self.fusion.bigrams) for d in docs]
        payloads = [doc_payload(d) for d in docs] if self.dense.uses_payloads else None
        with self._lock:
            for d in docs:
                slot = self.store.by_doc_id.get(d.doc_id)
                if slot is not None and self.store.docs[slot].record_key != d.record_key:
                    raise ValueError(
                        f"document {d.doc_id!r} is already indexed under record {self.store.docs[slot].record_key!r}"
                    )
            # vectors first (the one step that can fail on a remote store), at the slots the docs will get
            first = self.store.next_slot
            slots = list(range(first, first + len(docs)))
            self.dense.add(np.asarray(slots, dtype=np.int64), vecs, payloads)
            self._delete_locked({d.record_key for d in docs})
            for d, (acc, fold), slot in zip(docs, tokenized, slots, strict=True):
                self.store.add(d, slot=slot)
                self.acc.add(slot, acc)
                self.fold.add(slot, fold)
            self._maybe_merge()
        return len(docs)

    def delete_records(self, keys: Iterable[str]) -> int:
        """Remove every document of the given record keys ("library_id/record_id"). Returns docs removed."""
        with self._lock:
            n = self._delete_locked(set(keys))
            self._maybe_merge()
            return n

    def _delete_locked(self, keys: set[str]) -> int:
        removed: list[int] = []
        for key in keys:
            removed.extend(self.store.remove_record(key))
        if removed:
            self.dense.remove(removed)
            self._dead += len(removed)
        return len(removed)

    def _maybe_merge(self) -> None:
        if self.acc.needs_merge(self._dead) or self.fold.needs_merge(self._dead):
            alive = self.store.alive[: self.store.next_slot]
            self.acc.merge(alive)
            self.fold.merge(alive)
            self._dead = 0

    # ---- reads ---------------------------------------------------------------------------------
    def search(
        self,
        analysis: Any,
        qvec: np.ndarray | None = None,
        k: int = 10,
        filters: Filters | None = None,
        offset: int = 0,
        *,
        facets: bool = True,
        strict_filters: bool = True,
    ) -> SearchResult:
        """Hybrid search, grouped by record.

        ``analysis``: an ``nlp.analyze.QueryAnalysis`` (or anything with its fields, e.g.
        :class:`~search.results.QueryInput`). ``qvec``: the query embedding of
        ``analysis.restored or analysis.normalized`` (None: lexical only). Filters are applied
        to every retriever before its top-k. Raises :class:`UnknownFilterValue` for a library,
        language or subject the index does not hold."""
        if k < 0 or offset < 0:
            raise ValueError("k and offset must be non-negative")
        q = analysis if isinstance(analysis, QueryInput) else QueryInput.model_validate(analysis, from_attributes=True)
        with self._lock:
            n = self.store.next_slot
            mask = self.store.mask(filters, strict=strict_filters)
            lists, matched = self._retrieve(
                q,
                qvec,
                mask,
                max(self.fusion.depth, k + offset),
                filtered=not (filters is None or filters.is_empty()),
                filters=filters,
            )
            weights = self.fusion.accented if q.has_diacritics else self.fusion.plain
            fused = fuse(lists, weights, self.fusion)
            self._pin_known_items(q, fused, mask)
            ranked = sorted(fused.items(), key=lambda x: -x[1])
            # group by record, best doc first
            groups: dict[int, list[tuple[int, float]]] = {}
            for slot, score in ranked:
                groups.setdefault(int(self.store.record[slot]), []).append((slot, score))
            order = list(groups.items())
            matched_records = self._matched_records(matched, groups, n)
            total = len(matched_records)
            page = order[offset : offset + k]
            terms = self._snippet_terms(q)
            hits = [self._hit(group, terms) for _, group in page]
            fac = compute_facets(self.store, matched_records) if facets else Facets()
            return SearchResult(total=total, offset=offset, hits=hits, facets=fac)

    def rank_records(
        self,
        analysis: Any,
        qvec: np.ndarray | None,
        k: int = 10,
        filters: Filters | None = None,
        weights_override: Any = None,
    ) -> list[str]:
        """Record keys in fused order (no snippets or facets): for evaluation."""
        q = analysis if isinstance(analysis, QueryInput) else QueryInput.model_validate(analysis, from_attributes=True)
        with self._lock:
            mask = self.store.mask(filters)
            lists, _ = self._retrieve(
                q,
                qvec,
                mask,
                max(self.fusion.depth, k),
                filtered=not (filters is None or filters.is_empty()),
                filters=filters,
            )
            weights = weights_override or (self.fusion.accented if q.has_diacritics else self.fusion.plain)
            fused = fuse(lists, weights, self.fusion)
            self._pin_known_items(q, fused, mask)
            seen: dict[str, None] = {}
            for slot, _ in sorted(fused.items(), key=lambda x: -x[1]):
                seen.setdefault(self.store.docs[slot].record_key, None)
                if len(seen) >= k:
                    break
            return list(seen)

    def _pin_known_items(self, q: QueryInput, fused: dict[int, float], mask: np.ndarray) -> None:
        """Put the records whose title is the query (``search.titles``) ahead of every other
        candidate in ``fused``, in their fused order (unless the fusion config turns ``known_items``
        off). Such a record always matches lexically (its title is in its text), so the matched set
        for totals and facets already holds it."""
        if not self.fusion.known_items:
            return
        key = query_title_key(_normalized(q), q.has_diacritics)
        slots = [s for s in self.store.title_slots(key, q.has_diacritics) if s < len(mask) and mask[s]]
        top = max(fused.values(), default=0.0)
        for s in slots:
            fused[s] = top + 1.0 + fused.get(s, 0.0)

    def _query_tokens(self, q: QueryInput) -> tuple[list[str], list[str]]:
        normalized = _normalized(q)
        acc_src = normalized
        if not q.has_diacritics and q.restored:
            acc_src = q.restored[:MAX_QUERY_CHARS]
        acc, _ = doc_tokens(acc_src)
        _, fold = doc_tokens(normalized)
        acc, fold = acc[:MAX_QUERY_TOKENS], fold[:MAX_QUERY_TOKENS]
        if self.fusion.bigrams:
            acc, fold = _with_bigrams(acc), _with_bigrams(fold)
        return acc, fold

    def _retrieve(
        self,
        q: QueryInput,
        qvec: np.ndarray | None,
        mask: np.ndarray,
        depth: int,
        filtered: bool = True,
        filters: Filters | None = None,
    ) -> tuple[list[Ranked], np.ndarray]:
        n = self.store.next_slot
        acc_toks, fold_toks = self._query_tokens(q)
        acc_scores = self.acc.scores(acc_toks, n) * mask
        fold_scores = self.fold.scores(fold_toks, n) * mask
        lists = [
            Ranked(name="acc", slots=(r := top_slots(acc_scores, None, depth))[0], scores=r[1]),
            Ranked(name="fold", slots=(r := top_slots(fold_scores, None, depth))[0], scores=r[1]),
        ]
        matched = (acc_scores > 0) | (fold_scores > 0)
        if qvec is not None and self.dense.size:
            allowed = None if filtered is False else mask  # deleted slots are out of the dense index already
            slots, scores = self.dense.search(
                np.asarray(qvec, dtype=np.float32),
                depth,
                allowed=allowed,
                filters=filters if allowed is not None and self.dense.uses_payloads else None,
            )
            lists.append(Ranked(name="dense", slots=slots, scores=scores))
            matched[slots[slots < n]] = True
        return lists, matched

    def _matched_records(self, matched: np.ndarray, groups: dict[int, list], n: int) -> np.ndarray:
        """One representative slot per matched record."""
        slots = np.flatnonzero(matched)
        if len(slots) == 0:
            return slots
        rec = self.store.record[slots]
        _, first = np.unique(rec, return_index=True)
        return slots[first]

    def _snippet_terms(self, q: QueryInput) -> dict[str, float]:
        normalized = _normalized(q)
        _, fold = doc_tokens(normalized)
        terms = {t: self.fold.idf(t) for t in fold[:MAX_QUERY_TOKENS]}
        if q.restored:
            for t in doc_tokens(q.restored)[1][:MAX_QUERY_TOKENS]:
                terms.setdefault(t, self.fold.idf(t))
        if not terms:
            return terms
        top = max(terms.values())
        return {t: w for t, w in terms.items() if w >= 0.25 * top} or terms

    def _hit(self, group: list[tuple[int, float]], terms: dict[str, float]) -> Hit:
        best_slot, best_score = group[0]
        doc = self.store.docs[best_slot]
        chunk_hits = [(s, sc) for s, sc in group if self.store.docs[s].kind == "chunk"][:PASSAGES_PER_HIT]
        passages = [
            Passage(
                chunk_id=self.store.docs[s].doc_id,
                text=self.store.docs[s].text,
                snippet=make_snippet(self.store.docs[s].text, terms),
                score=float(sc),
                location=self.store.docs[s].location,
            )
            for s, sc in chunk_hits
        ]
        return Hit(
            id=doc.record_id,
            record_id=doc.record_id,
            record_key=doc.record_key,
            library_id=doc.library_id,
            title=doc.title,
            authors=doc.authors,
            year=doc.year,
            language=doc.language,
            type=doc.type,
            subjects=doc.subjects,
            score=float(best_score),
            snippet=passages[0].snippet
            if passages and passages[0].chunk_id == doc.doc_id
            else make_snippet(doc.text, terms),
            passages=passages,
        )


def _normalized(q: QueryInput) -> str:
    """The query as normalised by the analysis (or here, when it was not), cut to MAX_QUERY_CHARS."""
    return (q.normalized or normalize(q.original))[:MAX_QUERY_CHARS]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems do not allow fsync on directories
        _fsync(path)
