"""Timing: interleaved repetitions, medians, ratios against the raw baseline, and the table."""

from __future__ import annotations

import cProfile
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import attrs

Mode = Literal["sync", "async"]
Kind = Literal["latency", "throughput"]


@attrs.frozen
class Settings:
    """How much to run.

    Every job runs each side ``warmup`` times untimed, then ``repetitions`` timed runs per
    side, alternating; ``get`` uses ``get_repetitions`` shorter runs of ``get_calls`` calls
    instead, so that the pairs it compares are close together in time. A run of the
    9-column ``range9`` job is ``range_calls`` reads of ``range_ids`` ids; a run of the
    short business transactions (``txn``) is ``transactions`` transactions, and they do
    ``transaction_repetitions`` timed runs per side.
    """

    repetitions: int
    get_repetitions: int
    get_calls: int
    warmup: int
    rows: int = 10_000
    range_calls: int = 20
    range_ids: int = 1_000
    transactions: int = 300
    transaction_repetitions: int = 7


FULL = Settings(repetitions=11, get_repetitions=41, get_calls=250, warmup=2)
QUICK = Settings(
    repetitions=3,
    get_repetitions=9,
    get_calls=200,
    warmup=1,
    range_calls=10,
    transactions=100,
    transaction_repetitions=3,
)
TINY = Settings(
    repetitions=1,
    get_repetitions=1,
    get_calls=5,
    warmup=0,
    rows=200,
    range_calls=1,
    range_ids=100,
    transactions=5,
    transaction_repetitions=1,
)
"""One run of each job at a token size (200 rows: above the COPY threshold): a smoke test, not a measurement."""


@attrs.define
class Lap:
    """What a :func:`timed` block took, set when it ends: wall-clock and this process's CPU seconds."""

    seconds: float = 0.0
    cpu: float = 0.0


_profiler: cProfile.Profile | None = None


def set_profiler(profiler: cProfile.Profile | None) -> None:
    """Profile every :func:`timed` block with ``profiler`` (``None``: stop)."""
    global _profiler
    _profiler = profiler


@contextmanager
def timed() -> Iterator[Lap]:
    """Time the block (and profile it when a profiler is set): the timed part of a run."""
    lap = Lap()
    profiler = _profiler
    if profiler is not None:
        profiler.enable()
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        yield lap
    finally:
        lap.seconds = time.perf_counter() - start
        lap.cpu = time.process_time() - start_cpu
        if profiler is not None:
            profiler.disable()


@attrs.frozen
class Timings:
    """The timed runs of both sides, each for ``work`` calls or rows."""

    hexalchemy_laps: tuple[Lap, ...]
    raw_laps: tuple[Lap, ...]

    @property
    def hexalchemy(self) -> list[float]:
        """Wall-clock seconds of each hexalchemy run."""
        return [lap.seconds for lap in self.hexalchemy_laps]

    @property
    def raw(self) -> list[float]:
        """Wall-clock seconds of each raw run."""
        return [lap.seconds for lap in self.raw_laps]

    @property
    def hexalchemy_cpu_median(self) -> float:
        """Median CPU seconds of this process in one hexalchemy run."""
        return statistics.median(lap.cpu for lap in self.hexalchemy_laps)

    @property
    def raw_cpu_median(self) -> float:
        """Median CPU seconds of this process in one raw run."""
        return statistics.median(lap.cpu for lap in self.raw_laps)

    @property
    def hexalchemy_median(self) -> float:
        """Median seconds of one hexalchemy run."""
        return statistics.median(self.hexalchemy)

    @property
    def raw_median(self) -> float:
        """Median seconds of one raw run."""
        return statistics.median(self.raw)


@attrs.frozen
class Measurement:
    """One row of the table.

    ``kind`` "latency": values are seconds per ``unit`` (a call, a row, a transaction), the
    ratio is hexalchemy / raw of the times and the target a maximum. "throughput": values
    are rows per second, the ratio is hexalchemy / raw and the target a minimum.
    """

    operation: str
    mode: Mode
    kind: Kind
    work: int
    timings: Timings
    target: float
    unit: str = "call"
    raw_driver: str = "psycopg 3"
    """The driver the raw side wrote its code with (the table names it)."""

    @property
    def hexalchemy_value(self) -> float:
        """Seconds per unit (latency) or rows per second (throughput)."""
        return self._value(self.timings.hexalchemy_median)

    @property
    def raw_value(self) -> float:
        """Seconds per unit (latency) or rows per second (throughput)."""
        return self._value(self.timings.raw_median)

    def _value(self, seconds: float) -> float:
        return seconds / self.work if self.kind == "latency" else self.work / seconds

    @property
    def paired_ratios(self) -> list[float]:
        """hexalchemy / raw (of latency or of throughput) for each pair of runs made side by side."""
        pairs = zip(self.timings.hexalchemy, self.timings.raw, strict=True)
        return [h / r if self.kind == "latency" else r / h for h, r in pairs]

    @property
    def ratio(self) -> float:
        """The median of the paired ratios: pairs run back to back, so drift cancels out."""
        return statistics.median(self.paired_ratios)

    @property
    def met(self) -> bool:
        """Whether the ratio meets the target."""
        return self.ratio <= self.target if self.kind == "latency" else self.ratio >= self.target

    @property
    def target_text(self) -> str:
        """The target as ``<= 1.25x`` or ``>= 0.8x``."""
        return f"{'<=' if self.kind == 'latency' else '>='} {self.target:g}x"

    @property
    def spread(self) -> tuple[float, float]:
        """The interquartile range of the paired ratios."""
        ratios = self.paired_ratios
        if len(ratios) < 2:
            return ratios[0], ratios[0]
        low, _, high = statistics.quantiles(ratios, n=4, method="inclusive")
        return low, high

    @property
    def cpu_per_unit(self) -> tuple[float, float]:
        """Client CPU µs per :attr:`per` (a call, a row, a transaction), hexalchemy and raw (medians)."""
        return (
            self.timings.hexalchemy_cpu_median / self.work * 1e6,
            self.timings.raw_cpu_median / self.work * 1e6,
        )

    @property
    def per(self) -> str:
        """What a value and a CPU figure are per: the latency unit, or a row for throughput."""
        return self.unit if self.kind == "latency" else "row"

    def format_value(self, value: float) -> str:
        """Render a value with its unit."""
        if self.kind == "latency":
            return f"{value * 1e6:,.{1 if value < 1e-4 else 0}f} µs/{self.unit}"
        return f"{value:,.0f} rows/s"


def interleave(
    hexalchemy: Callable[[], Lap],
    raw: Callable[[], Lap],
    settings: Settings,
    repetitions: int,
    label: str,
) -> Timings:
    """Run both sides ``settings.warmup`` times untimed, then ``repetitions`` times each, alternating.

    Each callable does its own (untimed) setup and returns the :class:`Lap` of its timed part.
    The side that goes first alternates between repetitions so drift and order effects
    cancel.
    """
    for _ in range(settings.warmup):
        hexalchemy()
        raw()
    hex_laps: list[Lap] = []
    raw_laps: list[Lap] = []
    for index in range(repetitions):
        order = [(hexalchemy, hex_laps), (raw, raw_laps)]
        if index % 2:
            order.reverse()
        for run, laps in order:
            gc.collect()
            laps.append(run())
    timings = Timings(tuple(hex_laps), tuple(raw_laps))
    progress(label, timings)
    return timings


async def interleave_async(
    hexalchemy: Callable[[], Awaitable[Lap]],
    raw: Callable[[], Awaitable[Lap]],
    settings: Settings,
    repetitions: int,
    label: str,
) -> Timings:
    """The async twin of :func:`interleave`."""
    for _ in range(settings.warmup):
        await hexalchemy()
        await raw()
    hex_laps: list[Lap] = []
    raw_laps: list[Lap] = []
    for index in range(repetitions):
        order = [(hexalchemy, hex_laps), (raw, raw_laps)]
        if index % 2:
            order.reverse()
        for run, laps in order:
            gc.collect()
            laps.append(await run())
    timings = Timings(tuple(hex_laps), tuple(raw_laps))
    progress(label, timings)
    return timings


def progress(label: str, timings: Timings) -> None:
    """Report one finished measurement on stderr (stdout carries only the tables)."""
    print(
        f"  {label}: hexalchemy {timings.hexalchemy_median * 1e3:.1f} ms "
        f"(CPU {timings.hexalchemy_cpu_median * 1e3:.1f} ms), "
        f"raw {timings.raw_median * 1e3:.1f} ms (CPU {timings.raw_cpu_median * 1e3:.1f} ms) per run, medians",
        file=sys.stderr,
    )


def markdown_table(measurements: Sequence[Measurement]) -> str:
    """The results as a markdown table; the raw column names the driver, or each row does when they differ."""
    drivers = {m.raw_driver for m in measurements}
    one_driver = len(drivers) == 1
    raw_heading = f"raw {next(iter(drivers))}" if one_driver else "raw (driver)"
    lines = [
        f"| operation | sync/async | hexalchemy | {raw_heading} | ratio | ratio IQR | target | met? |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for m in measurements:
        low, high = m.spread
        raw = m.format_value(m.raw_value) if one_driver else f"{m.format_value(m.raw_value)} ({m.raw_driver})"
        lines.append(
            f"| {m.operation} | {m.mode} | {m.format_value(m.hexalchemy_value)} | "
            f"{raw} | {m.ratio:.2f}x | {low:.2f}-{high:.2f}x | "
            f"{m.target_text} | {'yes' if m.met else '**no**'} |"
        )
    return "\n".join(lines)


def cpu_table(measurements: Sequence[Measurement]) -> str:
    """Client-side CPU time (this process only, not the server) per call or row, as markdown.

    Wall-clock time also holds the round trips and the server's work, which are the same
    for both sides; the CPU difference is the overhead hexalchemy itself adds.
    """
    lines = [
        "| operation | sync/async | hexalchemy CPU | raw CPU | difference |",
        "|---|---|---:|---:|---:|",
    ]
    for m in measurements:
        unit = m.per
        hexalchemy, raw = m.cpu_per_unit
        lines.append(
            f"| {m.operation} | {m.mode} | {hexalchemy:,.1f} µs/{unit} | {raw:,.1f} µs/{unit} | "
            f"{hexalchemy - raw:+,.1f} µs/{unit} |"
        )
    return "\n".join(lines)
