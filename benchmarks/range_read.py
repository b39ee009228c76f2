"""Job 2: ``range`` of 10,000 ids into aggregates, throughput.

Raw: ``SELECT ... WHERE id = ANY(%s)`` with the list of ids, ``fetchall()``, the aggregates
built by hand (in the order the server returns them). The ids are shuffled. Only the call
is timed, inside an open transaction.
"""

from __future__ import annotations

import random

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Job, Runners
from benchmarks.model import RAW_RANGE_SQL, Order, make_orders, order_from_row


def _shuffled(orders: list[Order]) -> list[Order]:
    shuffled = list(orders)
    random.Random(20240602).shuffle(shuffled)
    return shuffled


def sync_runners(sides: SyncSides, settings: Settings) -> Runners:
    orders = make_orders(settings.rows, version=1)
    sides.reset(orders)
    wanted = _shuffled(orders)
    ids = [order.id for order in wanted]
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    def hexalchemy() -> Lap:
        with transactions.begin(), timed() as lap:
            repository.range(ids)
        return lap

    def raw_psycopg() -> Lap:
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            cursor.execute(RAW_RANGE_SQL, (ids,))
            [order_from_row(row) for row in cursor.fetchall()]
        return lap

    with transactions.begin():
        if repository.range(ids) != wanted:
            raise AssertionError("hexalchemy read back different aggregates")
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(sides: AsyncSides, settings: Settings) -> AsyncRunners:
    orders = make_orders(settings.rows, version=1)
    await sides.reset(orders)
    wanted = _shuffled(orders)
    ids = [order.id for order in wanted]
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    async def hexalchemy() -> Lap:
        async with transactions.begin():
            with timed() as lap:
                await repository.range(ids)
        return lap

    async def raw_psycopg() -> Lap:
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                await cursor.execute(RAW_RANGE_SQL, (ids,))
                [order_from_row(row) for row in await cursor.fetchall()]
        return lap

    async with transactions.begin():
        if await repository.range(ids) != wanted:
            raise AssertionError("hexalchemy read back different aggregates")
    return AsyncRunners(hexalchemy, raw_psycopg)


JOB = Job(
    name="range of 10k ids",
    key="range",
    kind="throughput",
    target=0.8,
    work=lambda settings: settings.rows,
    repetitions=lambda settings: settings.repetitions,
    sync=sync_runners,
    async_=async_runners,
)
