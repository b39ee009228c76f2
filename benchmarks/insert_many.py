"""Job 3: ``save_all`` of 10,000 new aggregates (COPY on PostgreSQL), throughput.

Raw: ``executemany`` of a parameterised INSERT (psycopg 3 pipelines it), the parameters
built from the aggregates by hand. Every run starts from an empty table (truncated,
untimed); the call is timed inside an open transaction, the commit is not.
"""

from __future__ import annotations

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Job, Runners
from benchmarks.model import RAW_INSERT_SQL, TABLE, insert_params, make_orders


def sync_runners(sides: SyncSides, settings: Settings) -> Runners:
    orders = make_orders(settings.rows)
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    def hexalchemy() -> Lap:
        sides.reset()
        with transactions.begin(), timed() as lap:
            repository.save_all(orders)
        return lap

    def raw_psycopg() -> Lap:
        sides.reset()
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            cursor.executemany(RAW_INSERT_SQL, [insert_params(o, o.version + 1) for o in orders])
        return lap

    hexalchemy()
    count = raw.execute(f"SELECT count(*) FROM {TABLE} WHERE version = 1").fetchone()
    if count != (len(orders),):
        raise AssertionError(f"hexalchemy inserted {count} rows, not {len(orders)}")
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(sides: AsyncSides, settings: Settings) -> AsyncRunners:
    orders = make_orders(settings.rows)
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    async def hexalchemy() -> Lap:
        await sides.reset()
        async with transactions.begin():
            with timed() as lap:
                await repository.save_all(orders)
        return lap

    async def raw_psycopg() -> Lap:
        await sides.reset()
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                await cursor.executemany(RAW_INSERT_SQL, [insert_params(o, o.version + 1) for o in orders])
        return lap

    await hexalchemy()
    count = await (await raw.execute(f"SELECT count(*) FROM {TABLE} WHERE version = 1")).fetchone()
    if count != (len(orders),):
        raise AssertionError(f"hexalchemy inserted {count} rows, not {len(orders)}")
    return AsyncRunners(hexalchemy, raw_psycopg)


JOB = Job(
    name="save_all 10k new",
    key="insert",
    kind="throughput",
    target=2.0,
    work=lambda settings: settings.rows,
    repetitions=lambda settings: settings.repetitions,
    sync=sync_runners,
    async_=async_runners,
)
