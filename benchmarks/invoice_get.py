"""``get9``: ``get`` of a 9-column ``Invoice`` by id inside an open transaction, latency per call, per table.

Raw: one cursor, ``execute(SELECT ... WHERE id = %s)``, ``fetchone()``, and the aggregate
built by hand (:class:`~benchmarks.invoice_raw.RawInvoices.get_each`; psycopg already gives
the UUID, the ``Decimal`` and the aware datetime). The table holds 10,000 invoices; a run is
``get_calls`` calls (ids drawn at random), timed without begin/commit. Target (issue 12):
hexalchemy <= 1.25x raw. The shape (:func:`runners`) serves every database's job.
"""

from __future__ import annotations

import functools
import random
from typing import Final

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.invoice_model import Invoice, make_invoices
from benchmarks.invoice_raw import AsyncInvoiceTableSides, InvoiceTableSides
from benchmarks.invoice_tables import VARIANTS, AsyncInvoiceSides, InvoiceSides, Variant, drop_tables
from benchmarks.job import AsyncRunners, Job, Runners

TARGET: Final = 1.25


def _wanted(settings: Settings, invoices: list[Invoice]) -> list[Invoice]:
    rng = random.Random(20260601)
    return [rng.choice(invoices) for _ in range(settings.get_calls)]


def _check(side: str, got: list[Invoice], wanted: list[Invoice]) -> None:
    if got != wanted:
        raise AssertionError(f"{side} read back different invoices")


def runners(table: InvoiceTableSides, settings: Settings) -> Runners:
    """Seed the table, check both sides, and return them."""
    invoices = make_invoices(settings.rows, version=1)
    table.reset(invoices)
    wanted = _wanted(settings, invoices)
    ids = [invoice.id for invoice in wanted]
    repository, transactions, raw = table.repository, table.transactions, table.raw

    def hexalchemy() -> Lap:
        get = repository.get
        with transactions.begin(), timed() as lap:
            for id in ids:
                get(id)
        return lap

    def raw_driver() -> Lap:
        with raw.transaction() as cursor, timed() as lap:
            raw.get_each(cursor, ids)
        return lap

    with transactions.begin():
        _check("hexalchemy", [repository.get(id) for id in ids], wanted)
    with raw.transaction() as cursor:
        _check("raw", raw.get_each(cursor, ids), wanted)
    return Runners(hexalchemy, raw_driver)


async def async_runners(table: AsyncInvoiceTableSides, settings: Settings) -> AsyncRunners:
    """The async twin of :func:`runners`."""
    invoices = make_invoices(settings.rows, version=1)
    await table.reset(invoices)
    wanted = _wanted(settings, invoices)
    ids = [invoice.id for invoice in wanted]
    repository, transactions, raw = table.repository, table.transactions, table.raw

    async def hexalchemy() -> Lap:
        get = repository.get
        async with transactions.begin():
            with timed() as lap:
                for id in ids:
                    await get(id)
        return lap

    async def raw_driver() -> Lap:
        async with raw.transaction() as cursor:
            with timed() as lap:
                await raw.get_each(cursor, ids)
        return lap

    async with transactions.begin():
        _check("hexalchemy", [await repository.get(id) for id in ids], wanted)
    async with raw.transaction() as cursor:
        _check("raw", await raw.get_each(cursor, ids), wanted)
    return AsyncRunners(hexalchemy, raw_driver)


def _sync(variant: Variant, sides: SyncSides, settings: Settings) -> Runners:
    return runners(InvoiceSides(sides, variant), settings)


async def _async(variant: Variant, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    return await async_runners(await AsyncInvoiceSides.open(sides, variant), settings)


JOBS: Final = tuple(
    Job(
        name=f"get9: get by id, {variant} table",
        key="get9",
        kind="latency",
        target=TARGET,
        work=lambda settings: settings.get_calls,
        repetitions=lambda settings: settings.get_repetitions,
        sync=functools.partial(_sync, variant),
        async_=functools.partial(_async, variant),
        clean_up=drop_tables,
    )
    for variant in VARIANTS
)
