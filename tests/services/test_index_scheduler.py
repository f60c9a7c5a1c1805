"""The group commit of indexing runs (services/gateway/index_scheduler.py), with plain coroutines as runs."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.index_scheduler import IndexScheduler


class Runs:
    """A run that indexes every 'write' made before it started and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.written = 0  # writes made so far
        self.started: list[int] = []  # writes visible to each run when it started
        self.release = asyncio.Event()
        self.fail: dict[int, Exception] = {}  # run number (1, 2, …) -> what it raises
        self.active = 0
        self.most_active = 0

    async def run(self) -> int:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            self.started.append(self.written)
            seen, number = self.written, len(self.started)
            await self.release.wait()
            if number in self.fail:
                raise self.fail[number]
            return seen
        finally:
            self.active -= 1


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _call(sched: IndexScheduler) -> asyncio.Task[int]:
    """A caller of ``sched.index()``, let run until it waits."""
    task = asyncio.create_task(sched.index())
    await _settle()
    return task


def test_callers_during_a_run_share_the_next_one() -> None:
    async def main() -> None:
        runs = Runs()
        sched = IndexScheduler(runs.run)

        async def writer() -> int:
            runs.written += 1
            return await sched.index()

        first = asyncio.create_task(writer())
        await _settle()
        assert runs.started == [1] and sched.busy
        later = [asyncio.create_task(writer()) for _ in range(7)]
        await _settle()
        assert runs.started == [1]  # nobody starts a second run beside the first
        assert not any(t.done() for t in [first, *later])
        runs.release.set()
        results = await asyncio.gather(first, *later)
        # the first caller got the first run; the seven others one more run, which saw all eight writes
        assert results == [1] + [8] * 7
        assert runs.started == [1, 8] and sched.runs == 2 and runs.most_active == 1
        assert not sched.busy

    asyncio.run(main())


def test_a_caller_never_returns_on_a_run_that_started_before_it() -> None:
    async def main() -> None:
        runs = Runs()
        sched = IndexScheduler(runs.run)
        a = await _call(sched)
        runs.written = 5  # written while the first run is in progress
        b = await _call(sched)
        runs.release.set()
        assert await a == 0
        assert await b == 5  # b waited for a run that started after its write
        # no run in progress: the next caller starts one at once
        runs.written = 6
        assert await sched.index() == 6
        assert runs.started == [0, 5, 6]

    asyncio.run(main())


def test_an_error_reaches_every_caller_of_that_run_only() -> None:
    async def main() -> None:
        runs = Runs()
        runs.fail[2] = RuntimeError("the embedding service is down")
        sched = IndexScheduler(runs.run)
        first = await _call(sched)
        waiting = [await _call(sched) for _ in range(3)]
        runs.release.set()
        assert await first == 0  # the first run succeeded
        for t in waiting:  # the second failed: all three of its callers see that error
            with pytest.raises(RuntimeError, match="embedding service is down"):
                await t
        assert await sched.index() == 0  # and the scheduler goes on
        assert sched.runs == 3

    asyncio.run(main())


def test_a_caller_that_goes_away_does_not_stop_the_run() -> None:
    async def main() -> None:
        runs = Runs()
        sched = IndexScheduler(runs.run)
        first = await _call(sched)
        other = await _call(sched)
        first.cancel()  # e.g. the client disconnected
        await _settle()
        assert sched.busy and runs.active == 1
        runs.release.set()
        assert await other == 0
        assert first.cancelled() and sched.runs == 2

    asyncio.run(main())


def test_aclose_cancels_the_run_in_progress() -> None:
    async def main() -> None:
        runs = Runs()
        sched = IndexScheduler(runs.run)
        first = await _call(sched)
        queued = await _call(sched)
        await sched.aclose()
        for t in (first, queued):
            with pytest.raises(asyncio.CancelledError):
                await t
        assert runs.active == 0 and not sched.busy

    asyncio.run(main())
