"""Run every benchmark job, sync and async, and print the markdown table on stdout.

``python -m benchmarks.run [--quick | --tiny] [--traced] [--only get,range,insert,update] [--mode sync] [--url URL]``

``--traced`` (``make bench TRACED=1``) runs every job twice: untraced, then traced as a
service with OpenTelemetry would be (:mod:`benchmarks.tracing`: the SDK with a batch
processor, the SQLAlchemy instrumentation on every engine, hexalchemy's spans of its fast
paths), and prints both tables, the traced/untraced ratio of each job's figure and the
spans each traced job made; ``--traced-only`` skips the untraced run. ``--tiny`` runs each job at a token size: a smoke test, no
figures worth reading.

Progress goes to stderr. The database URL defaults to ``$HEXALCHEMY_TEST_POSTGRESQL_URL``
or the local test database; the ``bench_orders`` table is created and dropped, and so
are each job's own tables.

The ``--only`` keys: ``get``, ``range``, ``insert``, ``update`` (the 10-column ``Order``);
``get9``, ``range9``, ``insert9``, ``update9`` (issue 12's 9-column ``Invoice``, on a
hand-written and on a derived table); ``txn``, ``txn_outbox`` (the short business
transaction, without and with an outbox message); ``outbox``, ``outbox_cost``,
``agents_boundary``, ``agents_signals``; ``queries`` (issue 14: a filtered page of 50, a
filtered count and a stream, on a 100k-row table); ``brokers`` (issue 13: 4 relays draining the
outbox into Redis Streams, NATS JetStream and RabbitMQ, against each broker's own client;
async only); ``mariadb`` (get, range, insert and update of the 9-column ``Invoice`` on
MariaDB, against raw PyMySQL and aiomysql, at ``$HEXALCHEMY_TEST_MARIADB_URL`` or
``$TEST_MARIADB_URL``: :mod:`benchmarks.mariadb`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Final

import psycopg
import sqlalchemy

from benchmarks import (
    agents_boundary,
    agents_signals,
    agents_support,
    broker_relay,
    get_by_id,
    insert_many,
    invoice_get,
    invoice_insert,
    invoice_range,
    invoice_update,
    mariadb,
    outbox_cost,
    outbox_relay,
    outbox_support,
    queries,
    range_read,
    short_transaction,
    update_many,
)
from benchmarks import tracing as benchmarks_tracing
from benchmarks.databases import SyncSides, default_url
from benchmarks.harness import FULL, QUICK, TINY, Measurement, Settings, cpu_table, markdown_table
from benchmarks.job import Job

TRACED_TARGET: Final = 1.2
"""Issue 12: every figure traced within 1.2x of the untraced one."""

JOBS: Final[tuple[Job | mariadb.MariaDBJob, ...]] = (
    get_by_id.JOB,
    range_read.JOB,
    insert_many.JOB,
    update_many.JOB,
    *invoice_get.JOBS,  # --only get9: the 9-column aggregate, hand-written and derived table
    *invoice_range.JOBS,  # --only range9
    *invoice_insert.JOBS,  # --only insert9
    *invoice_update.JOBS,  # --only update9: one field changed
    *short_transaction.JOBS,  # --only txn, txn_outbox: BEGIN, save (+ message), COMMIT
    *outbox_relay.JOBS,  # --only outbox: relay throughput, 4 jobs
    *outbox_cost.JOBS,  # --only outbox_cost: what the outbox adds to a transaction, 2 jobs
    agents_boundary.JOB,  # --only agents_boundary: an agent's action boundary, p50 and p99
    *agents_signals.JOBS,  # --only agents_signals: signal send and consume throughput, 3 jobs
    *queries.JOBS,  # --only queries: a filtered page of 50, a filtered count, a stream of 100k rows
    *broker_relay.JOBS,  # --only brokers: outbox -> Redis, NATS, RabbitMQ against each raw client (async)
    *mariadb.JOBS,  # --only mariadb: get, range, insert, update on MariaDB against raw PyMySQL / aiomysql
)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and calls (a smoke run)")
    parser.add_argument("--tiny", action="store_true", help="one run of each job at a token size (a test)")
    parser.add_argument(
        "--traced",
        action="store_true",
        help="run every job untraced, then traced (OpenTelemetry SDK and SQLAlchemy instrumentation), and compare",
    )
    parser.add_argument("--traced-only", action="store_true", help="run every job traced only (a test)")
    parser.add_argument(
        "--only",
        default=",".join(dict.fromkeys(job.key for job in JOBS)),
        help="comma-separated jobs to run, of: " + ", ".join(dict.fromkeys(job.key for job in JOBS)),
    )
    parser.add_argument("--mode", choices=("sync", "async", "both"), default="both")
    parser.add_argument("--url", default=default_url(), help="SQLAlchemy URL of the PostgreSQL database")
    return parser.parse_args(argv)


def _setting(sides: SyncSides, name: str) -> str:
    row = sides.raw.execute("SELECT current_setting(%s)", (name,)).fetchone()
    return str(row[0]) if row is not None else "?"


def _measure(
    jobs: Sequence[Job | mariadb.MariaDBJob],
    modes: Sequence[str],
    settings: Settings,
    url: str,
    tracing: benchmarks_tracing.Tracing | None = None,
) -> tuple[list[Measurement], list[tuple[str, str, Counter[str]]]]:
    """Measure ``jobs`` in ``modes``; with ``tracing``, also the spans each job made."""
    measurements: list[Measurement] = []
    spans: list[tuple[str, str, Counter[str]]] = []
    sides = SyncSides(url)
    try:
        sides.create_table()
        for job in jobs:
            for mode in (mode for mode in modes if mode in job.modes):
                if mode == "sync":
                    measurements.append(job.measure_sync(sides, settings))
                else:
                    measurements.append(asyncio.run(job.measure_async(settings, url)))
                if tracing is not None:
                    spans.append((job.name, mode, tracing.flush()))
        sides.drop_table()
    finally:
        sides.close()
    return measurements, spans


def _slowdown(untraced: Measurement, traced: Measurement) -> float:
    """How much longer hexalchemy's work took traced, against raw's in the same run (1.0: no cost)."""
    if untraced.kind == "latency":
        return traced.ratio / untraced.ratio
    return untraced.ratio / traced.ratio


def traced_table(untraced: Sequence[Measurement], traced: Sequence[Measurement]) -> str:
    """Each job's figure untraced and traced, and their ratio (in time: above 1 is slower traced)."""
    lines = [
        "| operation | sync/async | untraced ratio | traced ratio | traced / untraced (time) | target | met? |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for before, after in zip(untraced, traced, strict=True):
        slowdown = _slowdown(before, after)
        lines.append(
            f"| {before.operation} | {before.mode} | {before.ratio:.2f}x | {after.ratio:.2f}x | "
            f"{slowdown:.2f}x | <= {TRACED_TARGET:g}x | {'yes' if slowdown <= TRACED_TARGET else '**no**'} |"
        )
    return "\n".join(lines)


def spans_table(spans: Sequence[tuple[str, str, Counter[str]]]) -> str:
    """The spans each traced job made, by source."""
    sources = sorted({source for _, _, counts in spans for source in counts})
    lines = [
        "| operation | sync/async | " + " | ".join(sources) + " |",
        "|---|---|" + "---:|" * len(sources),
    ]
    for name, mode, counts in spans:
        lines.append(f"| {name} | {mode} | " + " | ".join(f"{counts[source]:,}" for source in sources) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = TINY if arguments.tiny else QUICK if arguments.quick else FULL
    keys = {key.strip() for key in arguments.only.split(",") if key.strip()}
    unknown = keys - {job.key for job in JOBS}
    if unknown:
        raise SystemExit(f"unknown jobs: {', '.join(sorted(unknown))}")
    jobs = [job for job in JOBS if job.key in keys]
    modes = ("sync", "async") if arguments.mode == "both" else (arguments.mode,)

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(
            f"warning: load average {load_before:.2f} before the run; other work on this machine "
            "makes the timings noisy",
            file=sys.stderr,
        )
    began = time.perf_counter()
    sides = SyncSides(arguments.url)
    try:
        server = sides.raw.info.parameter_status("server_version") or "?"
        durability = ", ".join(f"{name} {_setting(sides, name)}" for name in ("fsync", "synchronous_commit"))
    finally:
        sides.close()
    measurements: list[Measurement] = []
    if not arguments.traced_only:
        measurements, _ = _measure(jobs, modes, settings, arguments.url)
    traced: list[Measurement] = []
    spans: list[tuple[str, str, Counter[str]]] = []
    if arguments.traced or arguments.traced_only:
        print("traced: OpenTelemetry SDK, SQLAlchemy instrumentation, hexalchemy's spans", file=sys.stderr)
        tracing = benchmarks_tracing.start()
        try:
            traced, spans = _measure(jobs, modes, settings, arguments.url, tracing)
        finally:
            benchmarks_tracing.stop(tracing)
    elapsed = time.perf_counter() - began
    load_after = os.getloadavg()[0]

    on_postgresql = any(not isinstance(job, mariadb.MariaDBJob) for job in jobs)
    print(
        f"hexalchemy vs the raw driver: Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}; "
        f"{settings.warmup} warm-up run(s), then {settings.repetitions} runs per side "
        f"({settings.get_repetitions} runs of {settings.get_calls} calls for get and get9, "
        f"{settings.transaction_repetitions} runs of {settings.transactions} transactions for txn), alternating; "
        f"values are medians, ratio is the median of the paired ratios; {elapsed:.0f} s in all; "
        f"1-minute load average {load_before:.2f} at the start, {load_after:.2f} at the end"
    )
    if on_postgresql:
        print(
            f"PostgreSQL jobs: PostgreSQL {server}, {durability}, against raw psycopg {psycopg.__version__} "
            f"({psycopg.pq.__impl__})"
        )
    if any(isinstance(job, mariadb.MariaDBJob) for job in jobs):
        print(
            f"MariaDB jobs: MariaDB {mariadb.server_version()} against raw PyMySQL "
            f"{mariadb.pymysql.VERSION_STRING} (sync) / aiomysql {mariadb.aiomysql.__version__} (async)"
        )
    if measurements:
        print()
        print(markdown_table(measurements))
        print()
        print("Client CPU time (this process only; the round trips and the server's work are not in it):")
        print()
        print(cpu_table(measurements))
    if traced:
        print()
        print("Traced (OpenTelemetry's SQLAlchemy instrumentation, hexalchemy's spans, SDK batch processor):")
        print()
        print(markdown_table(traced))
        print()
        print(cpu_table(traced))
        if measurements:
            print()
            print("Traced against untraced, each job's figure (hexalchemy / raw in the same run):")
            print()
            print(traced_table(measurements, traced))
        print()
        print(
            "Spans each traced job made (sqlalchemy: the instrumentation's; hexalchemy:<path>: the fast paths'):"
        )
        print()
        print(spans_table(spans))
        return 0  # the outbox and agent jobs' own tables would mix the two runs
    outbox_report = outbox_support.report()
    if outbox_report:
        print()
        print(outbox_report)
    queries_report = queries.report()
    if queries_report:
        print()
        print(queries_report)
    brokers_report = broker_relay.report()
    if brokers_report:
        print()
        print(brokers_report)
    agents_report = agents_support.report()
    if agents_report:
        print()
        print(agents_report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
