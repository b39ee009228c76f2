"""``insert9``: ``save_all`` of 10,000 new 9-column ``Invoice`` aggregates, time per row, per table.

hexalchemy sends them in bulk inside a savepoint (PostgreSQL: COPY; MariaDB: the driver's
multi-row ``INSERT``). Raw: the driver's best batched insert, ``executemany`` of a
parameterised ``INSERT`` (psycopg 3 pipelines it; PyMySQL and aiomysql rewrite it into
multi-row statements of up to 1 MB), the parameters built from the aggregates by hand. Every
run starts from an empty table (truncated, untimed); the call is timed inside an open
transaction, the commit is not. Target (issue 12): hexalchemy's time <= 0.5x raw's on
PostgreSQL. The shape (:func:`runners`) serves every database's job.
"""

from __future__ import annotations

import functools
from typing import Final

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.invoice_model import make_invoices
from benchmarks.invoice_raw import AsyncInvoiceTableSides, InvoiceTableSides
from benchmarks.invoice_tables import VARIANTS, AsyncInvoiceSides, InvoiceSides, Variant, drop_tables
from benchmarks.job import AsyncRunners, Job, Runners

TARGET: Final = 0.5


def check_written(hexalchemy: tuple[int, object], raw: tuple[int, object], rows: int) -> None:
    """Both sides wrote the same ``rows`` rows (their digests, see ``InvoiceTableSides.digest``)."""
    if hexalchemy[0] != rows or hexalchemy != raw:
        raise AssertionError(f"rows written: hexalchemy {hexalchemy}, raw {raw}, expected {rows}")


def runners(table: InvoiceTableSides, settings: Settings) -> Runners:
    """Check that both sides write the same rows, and return them."""
    invoices = make_invoices(settings.rows)
    repository, transactions, raw = table.repository, table.transactions, table.raw

    def hexalchemy() -> Lap:
        table.reset()
        with transactions.begin(), timed() as lap:
            repository.save_all(invoices)
        return lap

    def raw_driver() -> Lap:
        table.reset()
        with raw.transaction() as cursor, timed() as lap:
            raw.insert_all(cursor, invoices)
        return lap

    hexalchemy()
    written = table.digest()
    raw_driver()
    check_written(written, table.digest(), len(invoices))
    return Runners(hexalchemy, raw_driver)


async def async_runners(table: AsyncInvoiceTableSides, settings: Settings) -> AsyncRunners:
    """The async twin of :func:`runners`."""
    invoices = make_invoices(settings.rows)
    repository, transactions, raw = table.repository, table.transactions, table.raw

    async def hexalchemy() -> Lap:
        await table.reset()
        async with transactions.begin():
            with timed() as lap:
                await repository.save_all(invoices)
        return lap

    async def raw_driver() -> Lap:
        await table.reset()
        async with raw.transaction() as cursor:
            with timed() as lap:
                await raw.insert_all(cursor, invoices)
        return lap

    await hexalchemy()
    written = await table.digest()
    await raw_driver()
    check_written(written, await table.digest(), len(invoices))
    return AsyncRunners(hexalchemy, raw_driver)


def _sync(variant: Variant, sides: SyncSides, settings: Settings) -> Runners:
    return runners(InvoiceSides(sides, variant), settings)


async def _async(variant: Variant, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    return await async_runners(await AsyncInvoiceSides.open(sides, variant), settings)


JOBS: Final = tuple(
    Job(
        name=f"insert9: save_all 10k new, {variant} table",
        key="insert9",
        kind="latency",
        unit="row",
        target=TARGET,
        work=lambda settings: settings.rows,
        repetitions=lambda settings: settings.repetitions,
        sync=functools.partial(_sync, variant),
        async_=functools.partial(_async, variant),
        clean_up=drop_tables,
    )
    for variant in VARIANTS
)
