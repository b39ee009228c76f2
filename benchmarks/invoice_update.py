"""``update9``: version-checked update of ONE field of 10,000 loaded 9-column invoices, time per row, per table.

Every run starts from the same 10,000 rows at version 1 (truncated and re-seeded,
untimed). In one transaction each side loads the 10,000 invoices (untimed: hexalchemy
with ``range``, raw with one ``SELECT`` and the aggregates built by hand) and sets
``status`` to ``PAID`` on each (``attrs.evolve``, untimed), then, timed:

- hexalchemy: ``save_all`` of the changed aggregates: a version-checked ``UPDATE`` of the
  changed column and the version (the aggregates were read in this transaction),
  pre-compiled, ``executemany`` on the driver's cursor, and the copies it returns;
- raw: ``executemany`` of ``UPDATE ... SET status = %s, version = %s WHERE id = %s AND
  version = %s`` (only that field; psycopg 3 pipelines it, PyMySQL sends it row by row)
  and a check of the total row count, the parameters built from the aggregates by hand.

The commit is not timed. Target (issue 12): hexalchemy's time <= 1.15x raw's on
PostgreSQL. The shape (:func:`runners`) serves every database's job.
"""

from __future__ import annotations

import functools
from typing import Final

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.invoice_insert import check_written
from benchmarks.invoice_model import make_invoices, paid
from benchmarks.invoice_raw import AsyncInvoiceTableSides, InvoiceTableSides
from benchmarks.invoice_tables import VARIANTS, AsyncInvoiceSides, InvoiceSides, Variant, drop_tables
from benchmarks.job import AsyncRunners, Job, Runners

TARGET: Final = 1.15


def _check_count(side: str, updated: int, expected: int) -> None:
    if updated != expected:
        raise AssertionError(f"{side} updated {updated} rows, not {expected}")


def runners(table: InvoiceTableSides, settings: Settings) -> Runners:
    """Check that both sides write the same rows, and return them."""
    invoices = make_invoices(settings.rows, version=1)
    ids = [invoice.id for invoice in invoices]
    repository, transactions, raw = table.repository, table.transactions, table.raw

    def hexalchemy() -> Lap:
        table.reset(invoices)
        with transactions.begin():
            changed = paid(repository.range(ids))
            with timed() as lap:
                repository.save_all(changed)
        return lap

    def raw_driver() -> Lap:
        table.reset(invoices)
        with raw.transaction() as cursor:
            changed = paid(raw.load(cursor, ids))
            with timed() as lap:
                _check_count("raw", raw.update_status(cursor, changed), len(changed))
        return lap

    hexalchemy()
    written = table.digest()
    raw_driver()
    check_written(written, table.digest(), len(invoices))
    return Runners(hexalchemy, raw_driver)


async def async_runners(table: AsyncInvoiceTableSides, settings: Settings) -> AsyncRunners:
    """The async twin of :func:`runners`."""
    invoices = make_invoices(settings.rows, version=1)
    ids = [invoice.id for invoice in invoices]
    repository, transactions, raw = table.repository, table.transactions, table.raw

    async def hexalchemy() -> Lap:
        await table.reset(invoices)
        async with transactions.begin():
            changed = paid(await repository.range(ids))
            with timed() as lap:
                await repository.save_all(changed)
        return lap

    async def raw_driver() -> Lap:
        await table.reset(invoices)
        async with raw.transaction() as cursor:
            changed = paid(await raw.load(cursor, ids))
            with timed() as lap:
                _check_count("raw", await raw.update_status(cursor, changed), len(changed))
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
        name=f"update9: save_all 10k, one field changed, {variant} table",
        key="update9",
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
