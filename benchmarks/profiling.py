"""Profile the timed part of one job with cProfile and print where the time goes.

``python -m benchmarks.profiling <job key> [--variant N] [--async] [--cpu] [--side hexalchemy|raw|both]``

``--variant`` picks among the jobs of one key: for ``get9``, ``range9``, ``insert9`` and
``update9``, 0 is the hand-written table and 1 the derived one.

Only the timed block of each run is profiled (the untimed truncate and seed are not).
With ``--side both`` (the default) both sides are profiled and the last listings show the
functions whose own time differs most between the sides, per call (get) or per row: the
overhead hexalchemy adds over the raw baseline. cProfile slows pure-Python code down more
than C code, so read the numbers as shares, not as absolute times. ``--cpu`` times this
process's CPU instead of wall-clock time: waits on the server and other processes' load
drop out, which keeps the listings comparable on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Sequence
from types import CodeType
from typing import Literal

from benchmarks.databases import AsyncSides, SyncSides, default_url
from benchmarks.harness import FULL, Settings, set_profiler
from benchmarks.job import AsyncRun, Job, Run
from benchmarks.run import JOBS

Side = Literal["hexalchemy", "raw"]


def _profiler(cpu: bool) -> cProfile.Profile:
    """A profiler timing wall-clock time, or with ``cpu`` this process's CPU time (blind to waits and to load)."""
    return cProfile.Profile(time.process_time) if cpu else cProfile.Profile()


def _profile_sync(
    job: Job, url: str, runs: int, settings: Settings, cpu: bool = False
) -> dict[Side, cProfile.Profile]:
    profiles: dict[Side, cProfile.Profile] = {"hexalchemy": _profiler(cpu), "raw": _profiler(cpu)}
    sides = SyncSides(url)
    try:
        sides.create_table()
        runners = job.sync(sides, settings)
        runs_of: dict[Side, Run] = {"hexalchemy": runners.hexalchemy, "raw": runners.raw}
        for run in runs_of.values():
            run()
        for _ in range(runs):
            for side, run in runs_of.items():
                set_profiler(profiles[side])
                try:
                    run()
                finally:
                    set_profiler(None)
        sides.drop_table()
    finally:
        if job.clean_up is not None:
            job.clean_up(url)
        sides.close()
    return profiles


async def _profile_async(
    job: Job, url: str, runs: int, settings: Settings, cpu: bool = False
) -> dict[Side, cProfile.Profile]:
    profiles: dict[Side, cProfile.Profile] = {"hexalchemy": _profiler(cpu), "raw": _profiler(cpu)}
    creator = SyncSides(url)
    try:
        creator.create_table()
        sides = await AsyncSides.open(url)
        try:
            runners = await job.async_(sides, settings)
            runs_of: dict[Side, AsyncRun] = {"hexalchemy": runners.hexalchemy, "raw": runners.raw}
            for run in runs_of.values():
                await run()
            for _ in range(runs):
                for side, run in runs_of.items():
                    set_profiler(profiles[side])
                    try:
                        await run()
                    finally:
                        set_profiler(None)
        finally:
            await sides.close()
        creator.drop_table()
    finally:
        if job.clean_up is not None:
            job.clean_up(url)
        creator.close()
    return profiles


def _own_times(profile: cProfile.Profile) -> dict[str, tuple[int, float]]:
    """``file:function`` -> (calls, own seconds), line numbers dropped so both sides match."""
    result: dict[str, tuple[int, float]] = {}
    for entry in profile.getstats():  # what pstats reads: calls and own (inline) seconds per code object
        code = entry.code
        name = (
            f"{os.path.basename(code.co_filename)}:{code.co_name}"
            if isinstance(code, CodeType)
            else f"~:{code}"
        )
        old_calls, old_own = result.get(name, (0, 0.0))
        result[name] = (old_calls + entry.callcount, old_own + entry.inlinetime)
    return result


def print_overhead(profiles: dict[Side, cProfile.Profile], units: int, unit: str, limit: int) -> None:
    """The functions whose own time differs most between the sides, in µs per ``unit``.

    The hexalchemy side's counterparts of raw functions (its ``from_row`` for the raw
    ``order_from_row``, ``fetchall`` for ``fetchone``) show up in both lists.
    """
    hexalchemy, raw = _own_times(profiles["hexalchemy"]), _own_times(profiles["raw"])
    rows = []
    for name in hexalchemy.keys() | raw.keys():
        calls, own = hexalchemy.get(name, (0, 0.0))
        raw_calls, raw_own = raw.get(name, (0, 0.0))
        rows.append((own - raw_own, name, calls, raw_calls))
    rows.sort(reverse=True)
    total_hex = sum(own for _, own in hexalchemy.values())
    total_raw = sum(own for _, own in raw.values())
    print(
        f"\nprofiled total: hexalchemy {total_hex / units * 1e6:.1f} µs/{unit}, "
        f"raw {total_raw / units * 1e6:.1f} µs/{unit} (under cProfile)"
    )
    header = f"{'µs/' + unit:>9}  {'calls/' + unit:>11}  {'raw calls':>9}  function"
    print(f"\nlargest extra own time on the hexalchemy side:\n{header}")
    for extra, name, calls, raw_calls in rows[:limit]:
        print(f"{extra / units * 1e6:9.2f}  {calls / units:11.2f}  {raw_calls / units:9.2f}  {name}")
    print(f"\nlargest extra own time on the raw side:\n{header}")
    for extra, name, calls, raw_calls in sorted(rows)[: max(1, limit // 3)]:
        print(f"{-extra / units * 1e6:9.2f}  {calls / units:11.2f}  {raw_calls / units:9.2f}  {name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profiling", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("job", choices=list(dict.fromkeys(job.key for job in JOBS)))
    parser.add_argument("--variant", type=int, default=0, help="which job of the key (default 0: the first)")
    parser.add_argument("--async", dest="use_async", action="store_true", help="profile the async side")
    parser.add_argument("--side", choices=("hexalchemy", "raw", "both"), default="both")
    parser.add_argument("--runs", type=int, default=5, help="profiled runs per side (default 5)")
    parser.add_argument("--limit", type=int, default=25, help="rows of each listing (default 25)")
    parser.add_argument("--output", help="also write the hexalchemy side's pstats data to this file")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time CPU, not wall-clock (waits and other processes' load left out)",
    )
    parser.add_argument("--url", default=default_url())
    arguments = parser.parse_args(argv)
    job = [job for job in JOBS if job.key == arguments.job][arguments.variant]
    settings = FULL
    if arguments.use_async:
        profiles = asyncio.run(_profile_async(job, arguments.url, arguments.runs, settings, arguments.cpu))
    else:
        profiles = _profile_sync(job, arguments.url, arguments.runs, settings, arguments.cpu)
    if arguments.output:
        profiles["hexalchemy"].dump_stats(arguments.output)
    shown: list[Side] = ["hexalchemy", "raw"] if arguments.side == "both" else [arguments.side]
    for side in shown:
        print(
            f"==== {job.name} ({'async' if arguments.use_async else 'sync'}), {side} side, by cumulative time"
        )
        stats = pstats.Stats(profiles[side], stream=sys.stdout).strip_dirs()
        stats.sort_stats("cumulative").print_stats(arguments.limit)
    if arguments.side == "both":
        unit = job.unit if job.kind == "latency" else "row"
        print_overhead(profiles, arguments.runs * job.work(settings), unit, arguments.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
