"""``range9``: ``range`` of 1,000 ids into 9-column ``Invoice`` aggregates, latency per call, per table.

Raw: ``SELECT ... WHERE id = ANY(%s)`` with the list of ids (PyMySQL: ``id IN %s`` with
the tuple), ``fetchall()``, then the aggregates built by hand in the order asked (a dict of
the rows by id, then one lookup per id asked, as hexalchemy returns them). The table holds
10,000 invoices; a run is ``range_calls`` calls, each for a different random set of
``range_ids`` ids in random order, timed inside an open transaction. Target (issue 12):
hexalchemy <= 1.10x raw. The shape (:func:`runners`) serves every database's job.
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

TARGET: Final = 1.10


def _requests(settings: Settings, invoices: list[Invoice]) -> list[list[Invoice]]:
    rng = random.Random(20260602)
    return [rng.sample(invoices, settings.range_ids) for _ in range(settings.range_calls)]


def _check(side: str, got: list[list[Invoice]], wanted: list[list[Invoice]]) -> None:
    if got != wanted:
        raise AssertionError(f"{side} read back different invoices")


def runners(table: InvoiceTableSides, settings: Settings) -> Runners:
    """Seed the table, check both sides, and return them."""
    invoices = make_invoices(settings.rows, version=1)
    table.reset(invoices)
    requests = _requests(settings, invoices)
    id_lists = [[invoice.id for invoice in request] for request in requests]
    repository, transactions, raw = table.repository, table.transactions, table.raw

    def hexalchemy() -> Lap:
        with transactions.begin(), timed() as lap:
            for ids in id_lists:
                repository.range(ids)
        return lap

    def raw_driver() -> Lap:
        with raw.transaction() as cursor, timed() as lap:
            raw.range_each(cursor, id_lists)
        return lap

    with transactions.begin():
        _check("hexalchemy", [repository.range(ids) for ids in id_lists], requests)
    with raw.transaction() as cursor:
        _check("raw", raw.range_each(cursor, id_lists), requests)
    return Runners(hexalchemy, raw_driver)


async def async_runners(table: AsyncInvoiceTableSides, settings: Settings) -> AsyncRunners:
    """The async twin of :func:`runners`."""
    invoices = make_invoices(settings.rows, version=1)
    await table.reset(invoices)
    requests = _requests(settings, invoices)
    id_lists = [[invoice.id for invoice in request] for request in requests]
    repository, transactions, raw = table.repository, table.transactions, table.raw

    async def hexalchemy() -> Lap:
        async with transactions.begin():
            with timed() as lap:
                for ids in id_lists:
                    await repository.range(ids)
        return lap

    async def raw_driver() -> Lap:
        async with raw.transaction() as cursor:
            with timed() as lap:
                await raw.range_each(cursor, id_lists)
        return lap

    async with transactions.begin():
        _check("hexalchemy", [await repository.range(ids) for ids in id_lists], requests)
    async with raw.transaction() as cursor:
        _check("raw", await raw.range_each(cursor, id_lists), requests)
    return AsyncRunners(hexalchemy, raw_driver)


def _sync(variant: Variant, sides: SyncSides, settings: Settings) -> Runners:
    return runners(InvoiceSides(sides, variant), settings)


async def _async(variant: Variant, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    return await async_runners(await AsyncInvoiceSides.open(sides, variant), settings)


JOBS: Final = tuple(
    Job(
        name=f"range9: range of 1,000 ids, {variant} table",
        key="range9",
        kind="latency",
        target=TARGET,
        work=lambda settings: settings.range_calls,
        repetitions=lambda settings: settings.repetitions,
        sync=functools.partial(_sync, variant),
        async_=functools.partial(_async, variant),
        clean_up=drop_tables,
    )
    for variant in VARIANTS
)
