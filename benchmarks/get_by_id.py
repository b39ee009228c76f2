"""Job 1: ``get`` by id inside an open transaction, latency per call.

Raw: one cursor, ``execute(SELECT ... WHERE id = %s)``, ``fetchone()``, and the aggregate
built by hand. Only the loop of calls is timed, not begin/commit.
"""

from __future__ import annotations

import random

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Job, Runners
from benchmarks.model import RAW_GET_SQL, Order, make_orders, order_from_row


def _ids(settings: Settings, orders: list[Order]) -> list[Order]:
    rng = random.Random(20240601)
    return [rng.choice(orders) for _ in range(settings.get_calls)]


def sync_runners(sides: SyncSides, settings: Settings) -> Runners:
    orders = make_orders(settings.rows, version=1)
    sides.reset(orders)
    wanted = _ids(settings, orders)
    ids = [order.id for order in wanted]
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    def hexalchemy() -> Lap:
        get = repository.get
        with transactions.begin(), timed() as lap:
            for id in ids:
                get(id)
        return lap

    def raw_psycopg() -> Lap:
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            for id in ids:
                cursor.execute(RAW_GET_SQL, (id,))
                row = cursor.fetchone()
                if row is None:
                    raise LookupError(id)
                order_from_row(row)
        return lap

    with transactions.begin():
        if repository.get(ids[0]) != wanted[0]:
            raise AssertionError("hexalchemy read back a different aggregate")
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(sides: AsyncSides, settings: Settings) -> AsyncRunners:
    orders = make_orders(settings.rows, version=1)
    await sides.reset(orders)
    wanted = _ids(settings, orders)
    ids = [order.id for order in wanted]
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    async def hexalchemy() -> Lap:
        get = repository.get
        async with transactions.begin():
            with timed() as lap:
                for id in ids:
                    await get(id)
        return lap

    async def raw_psycopg() -> Lap:
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                for id in ids:
                    await cursor.execute(RAW_GET_SQL, (id,))
                    row = await cursor.fetchone()
                    if row is None:
                        raise LookupError(id)
                    order_from_row(row)
        return lap

    async with transactions.begin():
        if await repository.get(ids[0]) != wanted[0]:
            raise AssertionError("hexalchemy read back a different aggregate")
    return AsyncRunners(hexalchemy, raw_psycopg)


JOB = Job(
    name="get by id",
    key="get",
    kind="latency",
    target=1.25,
    work=lambda settings: settings.get_calls,
    repetitions=lambda settings: settings.get_repetitions,
    sync=sync_runners,
    async_=async_runners,
)
