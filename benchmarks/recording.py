"""What the jobs with a report of their own (outbox, agents) keep of each run.

Such a job measures like any :class:`~benchmarks.job.Job`, but its runners also record the
seconds of every call or transaction (:func:`current_recorder`), and the job keeps a
:class:`Recorded` result for its module's report: latency quantiles and its own tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Generic, TypeVar

import attrs

from benchmarks.databases import SyncSides
from benchmarks.harness import Measurement, Settings
from benchmarks.job import Job

J = TypeVar("J", bound="RecordingJob")


@attrs.define
class Recorder:
    """Per-call seconds of every run of each side (warm-up runs included), filled by the runners."""

    hexalchemy: list[list[float]] = attrs.field(factory=list)
    raw: list[list[float]] = attrs.field(factory=list)

    def clear(self) -> None:
        """Forget the runs made while the job was set up."""
        self.hexalchemy.clear()
        self.raw.clear()


_recorder = Recorder()


def current_recorder() -> Recorder:
    """The recorder of the job being measured (runners take it when they are built)."""
    return _recorder


def _start_recording() -> Recorder:
    global _recorder
    _recorder = Recorder()
    return _recorder


@attrs.frozen
class Recorded(Generic[J]):
    """One measured job, with the runs its own report needs."""

    job: J
    measurement: Measurement
    warmup: int
    recorder: Recorder

    def latencies(self, side: str) -> list[float]:
        """Every timed call's seconds of ``side`` (warm-up runs dropped)."""
        runs = self.recorder.hexalchemy if side == "hexalchemy" else self.recorder.raw
        return [seconds for run in runs[self.warmup :] for seconds in run]


@attrs.frozen
class RecordingJob(Job):
    """A job that records its runs, cleans up after itself and hands a :class:`Recorded` to :meth:`keep`.

    ``warmup`` caps the warm-up runs per side.
    """

    warmup: int = 1

    def keep(self, result: Recorded[RecordingJob]) -> None:
        """Store ``result`` for the module's report."""
        raise NotImplementedError

    def clean_up_sync(self, sides: SyncSides) -> None:
        """Release what the sync job set up (it runs even when the job failed)."""

    async def clean_up_async(self, url: str | None) -> None:
        """Release what the async job set up (it runs even when the job failed)."""

    def _lighter(self, settings: Settings) -> Settings:
        return attrs.evolve(settings, warmup=min(settings.warmup, self.warmup))

    def measure_sync(self, sides: SyncSides, settings: Settings) -> Measurement:
        """Measure as a plain job while recording, clean up, then keep the result."""
        recorder = _start_recording()
        lighter = self._lighter(settings)
        try:
            measurement = super().measure_sync(sides, lighter)
        finally:
            self.clean_up_sync(sides)
        self.keep(Recorded(self, measurement, lighter.warmup, recorder))
        return measurement

    async def measure_async(self, settings: Settings, url: str | None = None) -> Measurement:
        """The async twin of :meth:`measure_sync`."""
        recorder = _start_recording()
        lighter = self._lighter(settings)
        try:
            measurement = await super().measure_async(lighter, url)
        finally:
            await self.clean_up_async(url)
        self.keep(Recorded(self, measurement, lighter.warmup, recorder))
        return measurement


def quantile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank quantile (p99 of 500 values: the 495th smallest)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def runs_text(results: Sequence[Recorded[J]], unit: str) -> str:
    """ "1 warm-up and 10 timed runs per side of 50 <unit>", from the first result."""
    first = results[0]
    return (
        f"{first.warmup} warm-up and {len(first.measurement.timings.hexalchemy_laps)} timed runs "
        f"per side of {first.measurement.work:,} {unit}"
    ).rstrip()
