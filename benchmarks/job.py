"""One benchmark job: an operation, its sync and async runners, and how its ratio is judged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from benchmarks.databases import AsyncSides, SyncSides, default_url
from benchmarks.harness import Kind, Lap, Measurement, Settings, interleave, interleave_async

Run = Callable[[], Lap]
AsyncRun = Callable[[], Awaitable[Lap]]


@attrs.frozen
class Runners:
    """The hexalchemy and raw sides of one job; each call does an untimed setup and returns the timed :class:`Lap`."""

    hexalchemy: Run
    raw: Run


@attrs.frozen
class AsyncRunners:
    """The async twin of :class:`Runners`."""

    hexalchemy: AsyncRun
    raw: AsyncRun


@attrs.frozen
class Job:
    """A benchmarked operation.

    ``sync`` and ``async_`` prepare the table state the job needs and return its runners;
    ``work`` is how many calls (latency) or rows (throughput) one run does; ``unit`` names
    what a latency job's work counts (a call, a row, a transaction). ``clean_up``, given
    the database URL, drops what the job created (its tables) once it has been measured,
    whether or not it succeeded.
    """

    name: str
    key: str
    kind: Kind
    target: float
    work: Callable[[Settings], int]
    repetitions: Callable[[Settings], int]
    sync: Callable[[SyncSides, Settings], Runners]
    async_: Callable[[AsyncSides, Settings], Awaitable[AsyncRunners]]
    unit: str = "call"
    clean_up: Callable[[str], None] | None = None
    modes: tuple[str, ...] = ("sync", "async")
    """The modes the job runs in (the broker jobs: async only)."""

    def measure_sync(self, sides: SyncSides, settings: Settings) -> Measurement:
        """Prepare, then time both sides interleaved."""
        try:
            runners = self.sync(sides, settings)
            timings = interleave(
                runners.hexalchemy, runners.raw, settings, self.repetitions(settings), f"{self.name} (sync)"
            )
        finally:
            if self.clean_up is not None:
                self.clean_up(sides.engine.url.render_as_string(hide_password=False))
        return Measurement(self.name, "sync", self.kind, self.work(settings), timings, self.target, self.unit)

    async def measure_async(self, settings: Settings, url: str | None = None) -> Measurement:
        """Open fresh async sides, prepare, time both sides interleaved, close."""
        url = url or default_url()
        sides = await AsyncSides.open(url)
        try:
            runners = await self.async_(sides, settings)
            timings = await interleave_async(
                runners.hexalchemy,
                runners.raw,
                settings,
                self.repetitions(settings),
                f"{self.name} (async)",
            )
        finally:
            await sides.close()
            if self.clean_up is not None:
                self.clean_up(url)
        return Measurement(
            self.name, "async", self.kind, self.work(settings), timings, self.target, self.unit
        )
