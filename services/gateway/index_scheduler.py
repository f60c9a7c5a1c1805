"""Group commit of the gateway's indexing runs: concurrent writers share one run instead of one each.

Every API write (``POST /api/v1/records``, an import, ``DELETE`` of a record) and the start-up catch-up ask
:meth:`IndexScheduler.index` for a run of ``IngestPipeline.index_pending`` (index what is pending, save one
index generation). At most one run is in progress at a time:

* a caller arriving while no run is in progress starts one;
* a caller arriving while a run is in progress waits for the *next* run, which starts when the current one
  ends and indexes everything pending by then (so the writes of every caller that waited for it);
* each caller returns once a run that started after its call has finished, so what it wrote before calling is
  searchable on return; an exception of that run is raised to every caller that waited for it.

A run belongs to the scheduler, not to a caller: a caller that goes away (a client that disconnects) does not
stop the run the others wait for. :meth:`aclose` cancels the run in progress (the pipeline is safe to stop at
any point: the next run finishes it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

log = logging.getLogger("thuvien.gateway.index")

RunFn = Callable[[], Awaitable[int]]


def _retrieve(fut: asyncio.Future[int]) -> None:
    """Mark a run's exception as seen even if every caller went away (no 'never retrieved' warning)."""
    if not fut.cancelled():
        fut.exception()


class IndexScheduler:
    """Single flight: one ``run`` at a time; callers arriving during a run share the next one."""

    def __init__(self, run: RunFn) -> None:
        self._run = run
        self._current: asyncio.Future[int] | None = None  # the run in progress
        self._next: asyncio.Future[int] | None = None  # the run that starts when the current one ends
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # runs started (for tests and logs)

    @property
    def busy(self) -> bool:
        return self._current is not None

    def _future(self) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieve)
        return fut

    async def index(self) -> int:
        """Wait for a run that starts after this call; its count of records indexed, or its exception."""
        if self._current is None:
            fut = self._current = self._future()
            self._task = asyncio.create_task(self._drive(fut), name="thuvien-index-run")
        else:
            if self._next is None:
                self._next = self._future()
            fut = self._next
        # shield: a caller cancelled (client gone) stops waiting, the run goes on for the others
        return await asyncio.shield(fut)

    async def _drive(self, fut: asyncio.Future[int]) -> None:
        while True:
            self.runs += 1
            try:
                result = await self._run()
            except asyncio.CancelledError:
                for f in (fut, self._next):
                    if f is not None and not f.done():
                        f.cancel()
                self._current = self._next = None
                raise
            except Exception as exc:  # every caller of this run gets it (the route renders it as today)
                log.warning("indexing run failed: %s", exc)
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            if self._next is None:
                self._current = None
                return
            fut, self._next = self._next, None
            self._current = fut

    async def aclose(self) -> None:
        """Cancel the run in progress (and the one queued after it) and wait until it has stopped."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
