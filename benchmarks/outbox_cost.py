"""What one outbox message adds to a business transaction: latency with and without it.

Both sides are hexalchemy; the "raw" side of these jobs is the same transaction without
the outbox. One run is ``get_calls`` transactions (250; 7 timed runs per side after 1 warm-up),
each timed from ``BEGIN`` to ``COMMIT`` included (fsync on), because the commit is part of what the business pays:

- without: ``with transactions.begin(): repository.save(order)`` -- a new ``Order``
  (``benchmarks/model.py``, version 0, so one ``INSERT``);
- with: the same, plus ``writer.add(new_message(topic, payload, headers=...))``
  in the same transaction (the payload bytes are made beforehand: serialising the event
  is the service's work, building and validating the message is the outbox's).

The keyed variant gives every message an ``ordering_key`` (the order's id), which makes
the writer number it in the sequences table as well. Every run starts from empty tables
(truncated, untimed). Besides the common table's per-run medians, :func:`report` gives
the p50 and p90 of every timed transaction. The brief set no target; the common table
checks the paired ratio against 1.5x, a reference line, not a requirement.
"""

from __future__ import annotations

import functools
import time
from typing import Final

from benchmarks.databases import AsyncRawConnection, AsyncSides, RawConnection, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Runners
from benchmarks.model import TABLE, make_orders
from benchmarks.outbox_support import (
    HEADERS,
    MESSAGES,
    SEQUENCES,
    TOPIC,
    OutboxJob,
    payload_for,
    prepare_tables,
    prepare_tables_async,
)
from benchmarks.recording import current_recorder
from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import AsyncSqlAlchemyOutboxWriter, SqlAlchemyOutboxWriter

REFERENCE_RATIO: Final = 1.5

_TRUNCATE: Final = f"TRUNCATE {TABLE}, {MESSAGES}, {SEQUENCES}"
_COUNTS: Final = (
    f"SELECT (SELECT count(*) FROM {TABLE}), (SELECT count(*) FROM {MESSAGES}), "
    f"(SELECT count(*) FROM {MESSAGES} WHERE key_sequence IS NOT NULL)"
)


def _check(counts: tuple[int, ...] | None, calls: int, messages: int, keyed: bool) -> None:
    expected = (calls, messages, messages if keyed else 0)
    if counts != expected:
        raise AssertionError(f"orders, messages, numbered messages: {counts}, expected {expected}")


def _counts(raw: RawConnection) -> tuple[int, ...] | None:
    return raw.execute(_COUNTS).fetchone()


async def _counts_async(raw: AsyncRawConnection) -> tuple[int, ...] | None:
    return await (await raw.execute(_COUNTS)).fetchone()


def sync_runners(keyed: bool, sides: SyncSides, settings: Settings) -> Runners:
    tables = prepare_tables(sides)
    writer = SqlAlchemyOutboxWriter(tables, sides.transactions)
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw
    orders = make_orders(settings.get_calls)
    events = [(order, payload_for(index)) for index, order in enumerate(orders)]
    recorder = current_recorder()

    def with_outbox() -> Lap:
        raw.execute(_TRUNCATE)
        seconds = []
        with timed() as lap:
            for order, payload in events:
                start = time.perf_counter()
                with transactions.begin():
                    repository.save(order)
                    writer.add(
                        new_message(
                            TOPIC, payload, headers=HEADERS, ordering_key=str(order.id) if keyed else None
                        )
                    )
                seconds.append(time.perf_counter() - start)
        recorder.hexalchemy.append(seconds)
        return lap

    def without_outbox() -> Lap:
        raw.execute(_TRUNCATE)
        seconds = []
        with timed() as lap:
            for order, _ in events:
                start = time.perf_counter()
                with transactions.begin():
                    repository.save(order)
                seconds.append(time.perf_counter() - start)
        recorder.raw.append(seconds)
        return lap

    with_outbox()
    _check(_counts(raw), len(orders), len(orders), keyed)
    without_outbox()
    _check(_counts(raw), len(orders), 0, keyed)
    recorder.hexalchemy.clear()
    recorder.raw.clear()
    return Runners(with_outbox, without_outbox)


async def async_runners(keyed: bool, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    tables = await prepare_tables_async(sides)
    writer = AsyncSqlAlchemyOutboxWriter(tables, sides.transactions)
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw
    orders = make_orders(settings.get_calls)
    events = [(order, payload_for(index)) for index, order in enumerate(orders)]
    recorder = current_recorder()

    async def with_outbox() -> Lap:
        await raw.execute(_TRUNCATE)
        seconds = []
        with timed() as lap:
            for order, payload in events:
                start = time.perf_counter()
                async with transactions.begin():
                    await repository.save(order)
                    await writer.add(
                        new_message(
                            TOPIC, payload, headers=HEADERS, ordering_key=str(order.id) if keyed else None
                        )
                    )
                seconds.append(time.perf_counter() - start)
        recorder.hexalchemy.append(seconds)
        return lap

    async def without_outbox() -> Lap:
        await raw.execute(_TRUNCATE)
        seconds = []
        with timed() as lap:
            for order, _ in events:
                start = time.perf_counter()
                async with transactions.begin():
                    await repository.save(order)
                seconds.append(time.perf_counter() - start)
        recorder.raw.append(seconds)
        return lap

    await with_outbox()
    _check(await _counts_async(raw), len(orders), len(orders), keyed)
    await without_outbox()
    _check(await _counts_async(raw), len(orders), 0, keyed)
    recorder.hexalchemy.clear()
    recorder.raw.clear()
    return AsyncRunners(with_outbox, without_outbox)


def _job(keyed: bool) -> OutboxJob:
    return OutboxJob(
        name=f"outbox: save + {'keyed ' if keyed else ''}message vs save alone",
        key="outbox_cost",
        kind="latency",
        target=REFERENCE_RATIO,
        work=lambda settings: settings.get_calls,
        repetitions=lambda settings: min(settings.repetitions, 7),
        sync=functools.partial(sync_runners, keyed),
        async_=functools.partial(async_runners, keyed),
        warmup=1,
    )


JOBS: Final = (_job(keyed=False), _job(keyed=True))
