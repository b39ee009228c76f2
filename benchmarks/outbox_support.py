"""What the outbox jobs share: their tables, the pre-filled outbox, no-op publishers, and their report.

The outbox jobs (``outbox_relay.py``, ``outbox_cost.py``) use the tables
``bench_outbox_messages``, ``_sequences`` and ``_dead_letters``. A sync job adds them to
the sides' schema, so that ``SyncSides.drop_table`` drops them with ``bench_orders``; an
async job drops them when it is done.

Besides the common table (``run.py``), the outbox jobs print a table of their own
(:func:`report`): the relay's messages per second against both of its targets, and the
p50 latency of a business transaction with and without its outbox message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, cast

import attrs
import psycopg
from sqlalchemy import Engine, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.databases import AsyncRawConnection, AsyncSides, RawConnection, SyncSides, conninfo_for
from benchmarks.harness import QUICK, TINY, Lap, Settings, timed
from benchmarks.recording import Recorded, RecordingJob, quantile, runs_text
from hexalchemy.ports import OutboxMessage, PublishResult
from hexalchemy.rules import time_ordered_uuid
from hexalchemy.sqlalchemy import OutboxTables, outbox_tables

PREFIX: Final = "bench_outbox"
MESSAGES: Final = f"{PREFIX}_messages"
SEQUENCES: Final = f"{PREFIX}_sequences"
DEAD_LETTERS: Final = f"{PREFIX}_dead_letters"
DELIVERIES: Final = f"{PREFIX}_deliveries"
CRASHES: Final = f"{PREFIX}_crashes"

MESSAGE_COLUMNS: Final = (
    "id",
    "topic",
    "payload",
    "headers",
    "ordering_key",
    "key_sequence",
    "idempotency_key",
    "created_at",
    "available_at",
    "attempts",
    "last_error",
)
"""The outbox columns the raw SQL below returns, in this order (checked against the tables)."""

RELAY_MESSAGES: Final = 20_000
"""Messages in the outbox at the start of every run of a relay job."""
QUICK_RELAY_MESSAGES: Final = 5_000
"""The same, with ``--quick``."""


def relay_messages(settings: Settings, *, tiny: int) -> int:
    """Messages in the outbox at the start of a relay job's run: ``tiny`` with ``--tiny``."""
    if settings == TINY:
        return tiny
    return QUICK_RELAY_MESSAGES if settings.repetitions <= QUICK.repetitions else RELAY_MESSAGES


def relay_repetitions(settings: Settings) -> int:
    """Timed runs per side of a relay job: at most 3 (each drains a whole outbox)."""
    return min(settings.repetitions, 3)


RAW_CLAIM_SQL: Final = (
    f"DELETE FROM {MESSAGES} WHERE id IN ("
    f"SELECT id FROM {MESSAGES} WHERE available_at <= now() "
    f"ORDER BY available_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
    f"RETURNING {', '.join(MESSAGE_COLUMNS)}"
)
"""The raw relay: claim and delete one batch in one autocommit statement (no lease)."""

RAW_KEYED_CLAIM_SQL: Final = (
    f"DELETE FROM {MESSAGES} WHERE id IN ("
    f"SELECT id FROM {MESSAGES} o WHERE available_at <= now() AND (ordering_key IS NULL OR NOT EXISTS ("
    f"SELECT 1 FROM {MESSAGES} e WHERE e.ordering_key = o.ordering_key AND e.key_sequence < o.key_sequence)) "
    f"ORDER BY available_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
    f"RETURNING {', '.join(MESSAGE_COLUMNS)}"
)
"""The raw relay for keyed messages: the same, taking only the first message of each ordering key.

A message whose key has an earlier one still in the table (or taken by another relay's
uncommitted statement) waits, as the relay's own claim does.
"""

_SEED_COLUMNS: Final = (
    "id, topic, payload, headers, created_at, available_at, attempts, ordering_key, key_sequence"
)
SEED_COPY_IN: Final = f"COPY {MESSAGES} ({_SEED_COLUMNS}) FROM STDIN"
SEED_COPY_OUT: Final = f"COPY (SELECT {_SEED_COLUMNS} FROM {MESSAGES} ORDER BY id) TO STDOUT"
TOPIC: Final = "orders.placed"
HEADERS: Final = {"content-type": "application/json"}


# ------------------------------------------------------------------------------ tables
_sync_tables: weakref.WeakKeyDictionary[SyncSides, OutboxTables] = weakref.WeakKeyDictionary()


def _check_columns(tables: OutboxTables) -> None:
    names = {column.name for column in tables.messages.columns}
    missing = set(MESSAGE_COLUMNS) - names
    if missing:
        raise AssertionError(f"the outbox table has no columns {sorted(missing)}; update the raw SQL")


def _own_tables(tables: OutboxTables) -> list[Any]:
    return [tables.messages, tables.sequences, tables.dead_letters, tables.deliveries, tables.crashes]


def prepare_tables(sides: SyncSides) -> OutboxTables:
    """(Re)create the outbox tables, registered on the sides' schema so that ``drop_table`` drops them."""
    tables = _sync_tables.get(sides)
    if tables is None:
        tables = outbox_tables(sides.schema, prefix=PREFIX)
        _check_columns(tables)
        _sync_tables[sides] = tables
    metadata = sides.schema.metadata
    metadata.drop_all(sides.engine, tables=_own_tables(tables))
    metadata.create_all(sides.engine, tables=_own_tables(tables))
    for name in (MESSAGES, SEQUENCES):
        sides.raw.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")
    return tables


async def prepare_tables_async(sides: AsyncSides) -> OutboxTables:
    """(Re)create the outbox tables for an async job; :class:`OutboxJob` drops them afterwards."""
    metadata = MetaData()
    tables = outbox_tables(metadata, prefix=PREFIX)
    _check_columns(tables)
    async with sides.engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    for name in (MESSAGES, SEQUENCES):
        await sides.raw.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")
    return tables


def drop_tables(url: str) -> None:
    """Drop the outbox tables, if they exist."""
    with psycopg.connect(conninfo_for(url), autocommit=True) as connection:
        connection.execute(
            f"DROP TABLE IF EXISTS {MESSAGES}, {SEQUENCES}, {DEAD_LETTERS}, {DELIVERIES}, {CRASHES}"
        )


def url_of(engine: Engine | AsyncEngine) -> str:
    """The URL an engine was built from, password included (for more engines on it)."""
    return engine.url.render_as_string(hide_password=False)


# -------------------------------------------------------------------- resources of a job
_closers: list[Callable[[], None]] = []
_async_closers: list[Callable[[], Awaitable[None]]] = []


def on_close(closer: Callable[[], None]) -> None:
    """Call ``closer`` when the current job has been measured (engines, connections)."""
    _closers.append(closer)


def on_close_async(closer: Callable[[], Awaitable[None]]) -> None:
    """Await ``closer`` when the current async job has been measured."""
    _async_closers.append(closer)


def close_all() -> None:
    """Close what the current job opened."""
    while _closers:
        _closers.pop()()


async def close_all_async() -> None:
    """Close what the current async job opened."""
    close_all()
    while _async_closers:
        await _async_closers.pop()()


# -------------------------------------------------------------------------- the pre-filled outbox
def payload_for(index: int) -> bytes:
    """A small JSON event, about 130 bytes."""
    return json.dumps(
        {
            "event": "order.placed",
            "order": f"00000000-0000-4000-8000-{index:012d}",
            "customer": f"customer-{index:06d}",
            "total_cents": 1000 + index % 5000,
        }
    ).encode()


@attrs.define
class Seed:
    """``count`` due messages without ordering key, made once and COPYed in before every run.

    The first load writes the rows through psycopg; it then reads the table back with
    ``COPY ... TO STDOUT``, and later loads send those bytes as they are (faster, and the
    same data).
    """

    rows: tuple[tuple[Any, ...], ...]
    data: bytes | None = None

    @classmethod
    def make(cls, count: int, *, keys: int = 0) -> Seed:
        """Messages created 1 ms apart, the newest a minute ago (all due), with time-ordered ids.

        ``keys``: message *i* has the ordering key ``k<i % keys>``, numbered in creation
        order within its key (``key_sequence``), as the outbox writer numbers them; 0: no key.
        """
        newest = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        headers = json.dumps(HEADERS)
        rows = []
        for index in range(count):
            created = newest - dt.timedelta(milliseconds=count - index)
            key, sequence = (f"k{index % keys}", index // keys + 1) if keys else (None, None)
            rows.append(
                (
                    time_ordered_uuid(created),
                    TOPIC,
                    payload_for(index),
                    headers,
                    created,
                    created,
                    0,
                    key,
                    sequence,
                )
            )
        return cls(tuple(rows))

    @property
    def count(self) -> int:
        """How many messages one run delivers."""
        return len(self.rows)

    def load(self, raw: RawConnection) -> None:
        """Empty the outbox, COPY the messages in, ANALYZE; untimed."""
        with raw.cursor() as cursor:
            cursor.execute(f"TRUNCATE {MESSAGES}, {SEQUENCES}, {DEAD_LETTERS}, {DELIVERIES}, {CRASHES}")
            with cursor.copy(SEED_COPY_IN) as copy:
                if self.data is None:
                    for row in self.rows:
                        copy.write_row(row)
                else:
                    copy.write(self.data)
            if self.data is None:
                with cursor.copy(SEED_COPY_OUT) as copy:
                    self.data = b"".join(bytes(chunk) for chunk in copy)
            cursor.execute(f"ANALYZE {MESSAGES}")

    async def load_async(self, raw: AsyncRawConnection) -> None:
        """The async twin of :meth:`load`."""
        async with raw.cursor() as cursor:
            await cursor.execute(f"TRUNCATE {MESSAGES}, {SEQUENCES}, {DEAD_LETTERS}, {DELIVERIES}, {CRASHES}")
            async with cursor.copy(SEED_COPY_IN) as copy:
                if self.data is None:
                    for row in self.rows:
                        await copy.write_row(row)
                else:
                    await copy.write(self.data)
            if self.data is None:
                async with cursor.copy(SEED_COPY_OUT) as copy:
                    self.data = b"".join([bytes(chunk) async for chunk in copy])
            await cursor.execute(f"ANALYZE {MESSAGES}")


def count_messages(raw: RawConnection) -> int:
    """How many messages are left in the outbox."""
    row = raw.execute(f"SELECT count(*) FROM {MESSAGES}").fetchone()
    return int(row[0]) if row is not None else -1


async def count_messages_async(raw: AsyncRawConnection) -> int:
    """How many messages are left in the outbox."""
    row = await (await raw.execute(f"SELECT count(*) FROM {MESSAGES}")).fetchone()
    return int(row[0]) if row is not None else -1


def check_delivered(side: str, delivered: int, expected: int, left: int) -> None:
    """Refuse a run that did not deliver every message exactly once."""
    if delivered != expected or left != 0:
        raise AssertionError(
            f"{side}: delivered {delivered} of {expected} messages, {left} left in the outbox"
        )


# ----------------------------------------------------------------------------- publishers
class NoOpPublisher:
    """A ``Publisher`` that accepts every message and does nothing else."""

    def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Accept the batch."""
        return [PublishResult(message.id) for message in messages]


class AsyncNoOpPublisher:
    """The async twin of :class:`NoOpPublisher`."""

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Accept the batch."""
        return [PublishResult(message.id) for message in messages]


def message_from_row(r: Sequence[Any]) -> OutboxMessage:
    """What a hand-written relay does with a row of :data:`RAW_CLAIM_SQL`."""
    return OutboxMessage(
        id=r[0],
        topic=r[1],
        payload=r[2],
        headers=r[3],
        ordering_key=r[4],
        idempotency_key=r[6],
        created_at=r[7],
        available_at=r[8],
        attempts=r[9],
        last_error=r[10],
    )


# -------------------------------------------------------------------------- running in parallel
def run_parallel(workers: Sequence[Callable[[], int]]) -> tuple[Lap, int]:
    """Time ``workers`` run together, one thread each (one alone runs in this thread); sum their counts.

    The threads are started before the timing and wait on a barrier, which the timed block
    releases; the timing ends when the last one is done. A single worker runs in the
    calling thread, where a profiler set with ``harness.set_profiler`` sees it.
    """
    if len(workers) == 1:
        with timed() as lap:
            count = workers[0]()
        return lap, count
    barrier = threading.Barrier(len(workers) + 1)
    counts = [0] * len(workers)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait()
        try:
            counts[index] = workers[index]()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,), daemon=True) for index in range(len(workers))]
    for thread in threads:
        thread.start()
    with timed() as lap:
        barrier.wait()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return lap, sum(counts)


async def run_parallel_async(workers: Sequence[Callable[[], Awaitable[int]]]) -> tuple[Lap, int]:
    """Time ``workers`` run together as tasks of this event loop; sum their counts."""
    with timed() as lap:
        counts = await asyncio.gather(*(worker() for worker in workers))
    return lap, sum(counts)


# ------------------------------------------------------------------------------ the job
Result = Recorded["OutboxJob"]
"""One measured outbox job."""

_results: list[Result] = []


@attrs.frozen
class OutboxJob(RecordingJob):
    """A :class:`~benchmarks.job.Job` that owns outbox tables and connections, and reports to :func:`report`.

    ``relays``, ``batch`` and ``delivery`` describe a relay job (0 for a transaction-cost job);
    ``warmup`` caps the warm-up runs per side (a relay run drains a whole outbox);
    ``minimum`` is an absolute throughput target in messages per second, if any.
    """

    relays: int = 0
    batch: int = 0
    delivery: str = ""
    """The relay's delivery mode (``leased`` or ``locked``) for a relay job."""
    minimum: float | None = None

    def keep(self, result: Recorded[RecordingJob]) -> None:
        """Keep ``result`` for :func:`report`."""
        _results.append(cast(Result, result))

    def clean_up_sync(self, sides: SyncSides) -> None:
        """Close the job's engines and connections."""
        close_all()

    async def clean_up_async(self, url: str | None) -> None:
        """Close the job's engines and connections and drop its tables."""
        await close_all_async()
        if url is not None:
            drop_tables(url)


# ------------------------------------------------------------------------------ the report
def _relay_table(results: Sequence[Result]) -> str:
    lines = [
        "| delivery | relays x batch | sync/async | relay, no-op publisher | raw claim-and-delete | ratio | ratio IQR "
        "| >= 0.7x raw? | >= 10,000 msg/s? | client CPU, relay / raw |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for result in results:
        job, m = result.job, result.measurement
        low, high = m.spread
        absolute = "-" if job.minimum is None else "yes" if m.hexalchemy_value >= job.minimum else "**no**"
        hexalchemy_cpu, raw_cpu = m.cpu_per_unit
        lines.append(
            f"| {job.delivery} | {job.relays} x {job.batch:,} | {m.mode} | {m.hexalchemy_value:,.0f} msg/s "
            f"| {m.raw_value:,.0f} msg/s | {m.ratio:.2f}x | {low:.2f}-{high:.2f}x "
            f"| {'yes' if m.met else '**no**'} | {absolute} | {hexalchemy_cpu:.1f} / {raw_cpu:.1f} µs/msg |"
        )
    return "\n".join(lines)


def _cost_table(results: Sequence[Result]) -> str:
    lines = [
        "| business transaction | sync/async | save alone, p50 | save + outbox, p50 | added, p50 | p50 ratio "
        "| paired ratio (IQR) | p90 alone / with | client CPU alone / with |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        m = result.measurement
        with_outbox, alone = result.latencies("hexalchemy"), result.latencies("raw")
        if not with_outbox or not alone:
            continue
        p50_with, p50_alone = statistics.median(with_outbox), statistics.median(alone)
        low, high = m.spread
        hexalchemy_cpu, raw_cpu = m.cpu_per_unit
        lines.append(
            f"| {result.job.name} | {m.mode} | {p50_alone * 1e6:,.0f} µs | {p50_with * 1e6:,.0f} µs "
            f"| {(p50_with - p50_alone) * 1e6:+,.0f} µs | {p50_with / p50_alone:.2f}x "
            f"| {m.ratio:.2f}x ({low:.2f}-{high:.2f}x) "
            f"| {quantile(alone, 0.9) * 1e6:,.0f} / {quantile(with_outbox, 0.9) * 1e6:,.0f} µs "
            f"| {raw_cpu:,.0f} / {hexalchemy_cpu:,.0f} µs |"
        )
    return "\n".join(lines)


def report() -> str:
    """The outbox jobs' own tables, as markdown ("" when none ran)."""
    relays = [result for result in _results if result.job.relays]
    costs = [result for result in _results if not result.job.relays]
    parts = []
    if relays:
        parts.append(
            f"Outbox relay throughput ({runs_text(relays, 'messages')}, alternating; messages/s are medians, "
            "ratio = median of the paired relay/raw ratios; CPU = this process, all threads):\n\n"
            + _relay_table(relays)
        )
    if costs:
        parts.append(
            f"Outbox cost in a business transaction ({runs_text(costs, 'transactions')}, alternating; latency "
            "of BEGIN..COMMIT over every timed transaction; paired ratio = median over the pairs of "
            "runs of with/without):\n\n" + _cost_table(costs)
        )
    return "\n\n".join(parts)
