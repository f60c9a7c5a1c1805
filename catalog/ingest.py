"""Import files into the catalogue store: ``import_path``.

Items from the importers are upserted in batches (one transaction each). Re-running an import is
idempotent (unchanged records are "skipped") and a run killed midway can be re-run to completion:
committed batches are skipped, the rest imported, no duplicates. Indexing is not done here: the
indexer consumes ``CatalogStore.pending_index``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from catalog.chunking import chunk_text, make_chunks
from catalog.importers.base import ImportItem
from catalog.importers.detect import read_any
from catalog.model import Chunk, ImportProblem, ImportSummary, Record
from catalog.store import CatalogStore

log = logging.getLogger(__name__)
BATCH = 200
_SKIP_NAMES = (".", "~")


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files given directly, and the files under given directories (sorted, hidden ones skipped)."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(_SKIP_NAMES) for part in f.relative_to(p).parts):
                    yield f
        else:
            yield p


def _to_write(item: ImportItem, store: CatalogStore, target_words: int) -> tuple[Record, list[Chunk] | None]:
    rec = item.record
    assert rec is not None
    if item.attach:
        stored = store.get(rec.library_id, rec.id)
        if stored is not None:
            rec = stored
    passages = item.chunks
    if passages is None and item.text:
        passages = chunk_text(item.text, target_words=target_words)
    chunks = make_chunks(rec.library_id, rec.id, passages) if passages is not None else None
    return rec, chunks


class _Batcher:
    def __init__(self, store: CatalogStore, summary: ImportSummary, bar: Any) -> None:
        self.store = store
        self.summary = summary
        self.bar = bar
        self.records: list[Record] = []
        self.chunks: dict[str, list[Chunk]] = {}
        self.origins: list[tuple[str, str]] = []

    def add(self, rec: Record, chunks: list[Chunk] | None, file: str, position: str) -> None:
        self.records.append(rec)
        if chunks is not None:
            self.chunks[rec.key] = chunks
        self.origins.append((file, position))

    def _count(self, statuses: list[str]) -> None:
        for s in statuses:
            if s == "inserted":
                self.summary.imported += 1
            elif s == "updated":
                self.summary.updated += 1
            else:
                self.summary.skipped += 1

    def flush(self) -> None:
        if not self.records:
            return
        try:
            self._count(self.store.upsert(self.records, self.chunks))
        except Exception as batch_error:  # noqa: BLE001 - isolate the bad record(s)
            log.warning("batch of %d failed (%s); retrying one by one", len(self.records), batch_error)
            for rec, (file, pos) in zip(self.records, self.origins, strict=True):
                ch = self.chunks.get(rec.key)
                try:
                    self._count(self.store.upsert([rec], {rec.key: ch} if ch is not None else None))
                except Exception as e:  # noqa: BLE001
                    self.summary.errors.append(
                        ImportProblem(file=file, position=pos, reason=f"cannot store: {type(e).__name__}: {e}")
                    )
        if self.bar is not None:
            self.bar.set_postfix(
                new=self.summary.imported, upd=self.summary.updated, skip=self.summary.skipped,
                err=len(self.summary.errors), refresh=False,
            )  # fmt: skip
        self.records, self.chunks, self.origins = [], {}, []


def import_items(
    items: Iterable[ImportItem],
    store: CatalogStore,
    *,
    file: str = "<input>",
    batch_size: int = BATCH,
    target_words: int = 200,
    summary: ImportSummary | None = None,
    bar: Any = None,
) -> ImportSummary:
    """Upsert importer items (e.g. from ``iter_objects`` for an API body) into ``store``."""
    summary = summary or ImportSummary()
    batcher = _Batcher(store, summary, bar)
    for item in items:
        if bar is not None:
            bar.update(1)
        if item.error is not None or item.record is None:
            summary.errors.append(ImportProblem(file=file, position=item.position, reason=item.error or "no record"))
            continue
        try:
            rec, chunks = _to_write(item, store, target_words)
        except Exception as e:  # noqa: BLE001
            summary.errors.append(ImportProblem(file=file, position=item.position, reason=str(e)))
            continue
        # a record repeated in one batch: flush first so statuses stay per occurrence
        if any(r.key == rec.key for r in batcher.records):
            batcher.flush()
        batcher.add(rec, chunks, file, item.position)
        if len(batcher.records) >= batch_size:
            batcher.flush()
    batcher.flush()
    return summary


def import_path(
    paths: str | Path | Iterable[str | Path],
    library_id: str,
    store: CatalogStore,
    *,
    fmt: str | None = None,
    mapping: Mapping[str, str] | None = None,
    progress: bool = True,
    record_id: str | None = None,
    batch_size: int = BATCH,
    **options: Any,
) -> ImportSummary:
    """Import files or directories into ``store``; returns imported/updated/skipped counts and
    errors (file, position, reason). ``record_id`` attaches a digitized file to that record."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = list(expand_paths(paths))
    summary = ImportSummary()
    bar = None
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        bar = tqdm(total=None, unit=" rec", desc="ingest", dynamic_ncols=True)
    try:
        for f in files:
            if bar is not None:
                bar.set_description(f"ingest {f.name[:30]}")
            items = read_any(f, library_id, fmt=fmt, mapping=mapping, record_id=record_id, **options)
            import_items(items, store, file=str(f), batch_size=batch_size, summary=summary, bar=bar)
    finally:
        if bar is not None:
            bar.close()
    return summary


def format_summary(summary: ImportSummary, max_errors: int = 50, lang: str = "vi") -> str:
    """The end-of-import report for the CLI: counts, then errors as ``file: position: reason``."""
    if lang == "vi":
        head = (
            f"Đã nhập mới: {summary.imported} · cập nhật: {summary.updated} · "
            f"bỏ qua (không đổi): {summary.skipped} · lỗi: {len(summary.errors)}"
        )
    else:
        head = (
            f"imported: {summary.imported} · updated: {summary.updated} · "
            f"skipped (unchanged): {summary.skipped} · errors: {len(summary.errors)}"
        )
    lines = [head]
    for e in summary.errors[:max_errors]:
        lines.append(f"  {e.file}: {e.position}: {e.reason}")
    if len(summary.errors) > max_errors:
        more = len(summary.errors) - max_errors
        lines.append(f"  … {more} lỗi khác" if lang == "vi" else f"  … {more} more")
    return "\n".join(lines)
