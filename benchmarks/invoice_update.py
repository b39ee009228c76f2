"""``update9``: version-checked update of ONE field of 10,000 loaded 9-column invoices, time per row, per table.

Every run starts from the same 10,000 rows at version 1 (truncated and re-seeded,
untimed). In one transaction each side loads the 10,000 invoices (untimed: hexalchemy
with ``range``, raw with ``= ANY(%s)`` and the aggregates built by hand) and sets
``status`` to ``PAID`` on each (``attrs.evolve``, untimed), then, timed:

- hexalchemy: ``save_all`` of the changed aggregates: a version-checked ``UPDATE`` of the
  changed column and the version (the aggregates were read in this transaction),
  pre-compiled, ``executemany`` on the psycopg cursor, and the copies it returns;
- raw: ``executemany`` of ``UPDATE ... SET status = %s, version = %s WHERE id = %s AND
  version = %s`` (only that field, psycopg 3 pipelines it) and a check of the total row
  count, the parameters built from the aggregates by hand.

The commit is not timed. Target (issue 12): hexalchemy's time <= 1.15x raw's.
"""

from __future__ import annotations

import functools
from typing import Final

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.invoice_model import invoice_from_row, make_invoices, paid, update_status_params
from benchmarks.invoice_tables import VARIANTS, AsyncInvoiceSides, InvoiceSides, Variant, drop_tables
from benchmarks.job import AsyncRunners, Job, Runners

TARGET: Final = 1.15


def _check_count(side: str, updated: int, expected: int) -> None:
    if updated != expected:
        raise AssertionError(f"{side} updated {updated} rows, not {expected}")


def _check(hexalchemy: tuple[int, str], raw: tuple[int, str], rows: int) -> None:
    if hexalchemy[0] != rows or hexalchemy != raw:
        raise AssertionError(f"rows written: hexalchemy {hexalchemy}, raw {raw}, expected {rows}")


def sync_runners(variant: Variant, sides: SyncSides, settings: Settings) -> Runners:
    table = InvoiceSides(sides, variant)
    invoices = make_invoices(settings.rows, version=1)
    ids = [invoice.id for invoice in invoices]
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql

    def hexalchemy() -> Lap:
        table.reset(invoices)
        with transactions.begin():
            changed = paid(repository.range(ids))
            with timed() as lap:
                repository.save_all(changed)
        return lap

    def raw_psycopg() -> Lap:
        table.reset(invoices)
        with raw.transaction(), raw.cursor() as cursor:
            changed = paid([invoice_from_row(row) for row in cursor.execute(sql.range, (ids,)).fetchall()])
            with timed() as lap:
                cursor.executemany(sql.update_status, [update_status_params(o) for o in changed])
                _check_count("raw", cursor.rowcount, len(changed))
        return lap

    hexalchemy()
    written = table.digest()
    raw_psycopg()
    _check(written, table.digest(), len(invoices))
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(variant: Variant, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    table = await AsyncInvoiceSides.open(sides, variant)
    invoices = make_invoices(settings.rows, version=1)
    ids = [invoice.id for invoice in invoices]
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql

    async def hexalchemy() -> Lap:
        await table.reset(invoices)
        async with transactions.begin():
            changed = paid(await repository.range(ids))
            with timed() as lap:
                await repository.save_all(changed)
        return lap

    async def raw_psycopg() -> Lap:
        await table.reset(invoices)
        async with raw.transaction(), raw.cursor() as cursor:
            await cursor.execute(sql.range, (ids,))
            changed = paid([invoice_from_row(row) for row in await cursor.fetchall()])
            with timed() as lap:
                await cursor.executemany(sql.update_status, [update_status_params(o) for o in changed])
                _check_count("raw", cursor.rowcount, len(changed))
        return lap

    await hexalchemy()
    written = await table.digest()
    await raw_psycopg()
    _check(written, await table.digest(), len(invoices))
    return AsyncRunners(hexalchemy, raw_psycopg)


JOBS: Final = tuple(
    Job(
        name=f"update9: save_all 10k, one field changed, {variant} table",
        key="update9",
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
