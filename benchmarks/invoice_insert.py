"""``insert9``: ``save_all`` of 10,000 new 9-column ``Invoice`` aggregates, time per row, per table.

hexalchemy sends them with COPY (PostgreSQL, inside a savepoint). Raw: its best batched
insert, ``executemany`` of a parameterised ``INSERT`` (psycopg 3 pipelines it), the
parameters built from the aggregates by hand. Every run starts from an empty table
(truncated, untimed); the call is timed inside an open transaction, the commit is not.
Target (issue 12): hexalchemy's time <= 0.5x raw's.
"""

from __future__ import annotations

import functools
from typing import Final

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.invoice_model import insert_params, make_invoices
from benchmarks.invoice_tables import VARIANTS, AsyncInvoiceSides, InvoiceSides, Variant, drop_tables
from benchmarks.job import AsyncRunners, Job, Runners

TARGET: Final = 0.5


def _check(hexalchemy: tuple[int, str], raw: tuple[int, str], rows: int) -> None:
    if hexalchemy[0] != rows or hexalchemy != raw:
        raise AssertionError(f"rows written: hexalchemy {hexalchemy}, raw {raw}, expected {rows}")


def sync_runners(variant: Variant, sides: SyncSides, settings: Settings) -> Runners:
    table = InvoiceSides(sides, variant)
    invoices = make_invoices(settings.rows)
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql.insert

    def hexalchemy() -> Lap:
        table.reset()
        with transactions.begin(), timed() as lap:
            repository.save_all(invoices)
        return lap

    def raw_psycopg() -> Lap:
        table.reset()
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            cursor.executemany(sql, [insert_params(o, o.version + 1) for o in invoices])
        return lap

    hexalchemy()
    written = table.digest()
    raw_psycopg()
    _check(written, table.digest(), len(invoices))
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(variant: Variant, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    table = await AsyncInvoiceSides.open(sides, variant)
    invoices = make_invoices(settings.rows)
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql.insert

    async def hexalchemy() -> Lap:
        await table.reset()
        async with transactions.begin():
            with timed() as lap:
                await repository.save_all(invoices)
        return lap

    async def raw_psycopg() -> Lap:
        await table.reset()
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                await cursor.executemany(sql, [insert_params(o, o.version + 1) for o in invoices])
        return lap

    await hexalchemy()
    written = await table.digest()
    await raw_psycopg()
    _check(written, await table.digest(), len(invoices))
    return AsyncRunners(hexalchemy, raw_psycopg)


JOBS: Final = tuple(
    Job(
        name=f"insert9: save_all 10k new, {variant} table",
        key="insert9",
        kind="latency",
        unit="row",
        target=TARGET,
        work=lambda settings: settings.rows,
        repetitions=lambda settings: settings.repetitions,
        sync=functools.partial(sync_runners, variant),
        async_=functools.partial(async_runners, variant),
        clean_up=drop_tables,
    )
    for variant in VARIANTS
)
