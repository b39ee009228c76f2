"""Job 4: ``save_all`` of 10,000 version-checked updates, throughput.

Raw: ``executemany`` of ``UPDATE ... SET <every column>, version = %s WHERE id = %s AND
version = %s`` (psycopg 3 pipelines it) and a check of the total row count, the
parameters built from the aggregates by hand. Every run starts from the same 10,000 rows
at version 1 (truncated and re-seeded, untimed); the call is timed inside an open
transaction, the commit is not.
"""

from __future__ import annotations

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Job, Runners
from benchmarks.model import RAW_UPDATE_SQL, TABLE, changed, make_orders, update_params


def _check_count(updated: int, expected: int) -> None:
    if updated != expected:
        raise AssertionError(f"updated {updated} rows, not {expected}")


def sync_runners(sides: SyncSides, settings: Settings) -> Runners:
    orders = make_orders(settings.rows, version=1)
    updates = changed(orders)
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    def hexalchemy() -> Lap:
        sides.reset(orders)
        with transactions.begin(), timed() as lap:
            repository.save_all(updates)
        return lap

    def raw_psycopg() -> Lap:
        sides.reset(orders)
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            cursor.executemany(RAW_UPDATE_SQL, [update_params(o) for o in updates])
            _check_count(cursor.rowcount, len(updates))
        return lap

    hexalchemy()
    count = raw.execute(f"SELECT count(*) FROM {TABLE} WHERE version = 2 AND status = 'paid'").fetchone()
    _check_count(count[0] if count else -1, len(updates))
    raw_psycopg()
    count = raw.execute(f"SELECT count(*) FROM {TABLE} WHERE version = 2 AND status = 'paid'").fetchone()
    _check_count(count[0] if count else -1, len(updates))
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(sides: AsyncSides, settings: Settings) -> AsyncRunners:
    orders = make_orders(settings.rows, version=1)
    updates = changed(orders)
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    async def hexalchemy() -> Lap:
        await sides.reset(orders)
        async with transactions.begin():
            with timed() as lap:
                await repository.save_all(updates)
        return lap

    async def raw_psycopg() -> Lap:
        await sides.reset(orders)
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                await cursor.executemany(RAW_UPDATE_SQL, [update_params(o) for o in updates])
                _check_count(cursor.rowcount, len(updates))
        return lap

    query = f"SELECT count(*) FROM {TABLE} WHERE version = 2 AND status = 'paid'"
    await hexalchemy()
    count = await (await raw.execute(query)).fetchone()
    _check_count(count[0] if count else -1, len(updates))
    await raw_psycopg()
    count = await (await raw.execute(query)).fetchone()
    _check_count(count[0] if count else -1, len(updates))
    return AsyncRunners(hexalchemy, raw_psycopg)


JOB = Job(
    name="save_all 10k updates",
    key="update",
    kind="throughput",
    target=0.7,
    work=lambda settings: settings.rows,
    repetitions=lambda settings: settings.repetitions,
    sync=sync_runners,
    async_=async_runners,
)
