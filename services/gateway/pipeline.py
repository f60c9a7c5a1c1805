"""Ingest orchestration through the service clients.

catalog (stored records not yet indexed, a window at a time) -> search (documents of each record)
-> embedding (passages) -> search (upsert) -> nlp (learn diacritic restoration from the new text);
then, once per window: search (save) -> nlp (save) -> catalog (mark indexed).

A record is marked indexed only after the index holding it is saved, so a run killed at any point is
finished by the next run: unmarked records are indexed again, and an upsert replaces a record's
documents, so nothing is doubled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.common.client import ServiceClient

ProgressFn = Callable[[int], None]


class IngestPipeline:
    def __init__(
        self,
        clients: dict[str, ServiceClient],
        *,
        batch: int = 64,
        window: int = 2000,
        on_index_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.catalog = clients["catalog"]
        self.search = clients["search"]
        self.embedding = clients["embedding"]
        self.nlp = clients["nlp"]
        self.batch = batch
        self.window = window
        if on_index_change is None:  # the shared search cache of the environment's settings (THUVIEN_REDIS_URL)
            from services.gateway.search_cache import index_changed_from_env

            on_index_change = index_changed_from_env
        self.on_index_change = on_index_change

    async def index_pending(self, progress: ProgressFn | None = None) -> int:
        """Index every stored record whose current version is not in the index yet, and drop deleted ones.

        After each saved window (and on the way out of a failed run that touched the index) the
        search result cache is invalidated (``on_index_change``)."""
        self._touched = False
        try:
            return await self._index_pending(progress)
        finally:
            if self._touched:
                await self.on_index_change()

    async def _changed(self) -> None:
        self._touched = False
        await self.on_index_change()

    async def _index_pending(self, progress: ProgressFn | None) -> int:
        await self._apply_deletions()
        done = 0
        while True:
            window = await self.catalog.pending(self.window)
            if not window:
                return done
            for start in range(0, len(window), self.batch):
                items = window[start : start + self.batch]
                docs = await self.search.documents([(it.record, it.chunks) for it in items])
                vectors = await self.embedding.embed([d["embed_text"] for d in docs], "passage")
                self._touched = True
                await self.search.upsert(docs, vectors)
                await self.nlp.learn([d["embed_text"] for d in docs])
                done += len(items)
                if progress:
                    progress(len(items))
            await self.search.save()
            await self._changed()
            await self.nlp.save()
            await self.catalog.mark_indexed([(it.record.library_id, it.record.id, it.content_hash) for it in window])

    async def _apply_deletions(self) -> None:
        while keys := await self.catalog.pending_deletions(1000):
            self._touched = True
            await self.search.delete([f"{lib}/{rid}" for lib, rid in keys])
            await self.search.save()
            await self._changed()
            await self.catalog.deletions_done(keys)
