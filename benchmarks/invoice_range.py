"""``range9``: ``range`` of 1,000 ids into 9-column ``Invoice`` aggregates, latency per call, per table.

Raw: ``SELECT ... WHERE id = ANY(%s)`` with the list of ids, ``fetchall()``, then the
aggregates built by hand in the order asked (a dict of the rows by id, then one lookup
per id asked, as hexalchemy returns them). The table holds 10,000 invoices; a run is
``range_calls`` calls, each for a different random set of ``range_ids`` ids in random
order, timed inside an open transaction. Target (issue 12): hexalchemy <= 1.10x raw.
"""

from __future__ import annotations

import functools
import random
import uuid
from typing import Any, Final

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.invoice_model import Invoice, invoice_from_row, make_invoices
from benchmarks.invoice_tables import VARIANTS, AsyncInvoiceSides, InvoiceSides, Variant, drop_tables
from benchmarks.job import AsyncRunners, Job, Runners

TARGET: Final = 1.10


def _requests(settings: Settings, invoices: list[Invoice]) -> list[list[Invoice]]:
    rng = random.Random(20260602)
    return [rng.sample(invoices, settings.range_ids) for _ in range(settings.range_calls)]


def in_order(rows: list[Any], ids: list[uuid.UUID]) -> list[Invoice]:
    """What raw code writes to return the rows as aggregates in the order asked, missing ones left out."""
    by_id = {row[0]: row for row in rows}
    return [invoice_from_row(row) for id in ids if (row := by_id.get(id)) is not None]


def sync_runners(variant: Variant, sides: SyncSides, settings: Settings) -> Runners:
    table = InvoiceSides(sides, variant)
    invoices = make_invoices(settings.rows, version=1)
    table.reset(invoices)
    requests = _requests(settings, invoices)
    id_lists = [[invoice.id for invoice in request] for request in requests]
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql.range

    def hexalchemy() -> Lap:
        with transactions.begin(), timed() as lap:
            for ids in id_lists:
                repository.range(ids)
        return lap

    def raw_psycopg() -> Lap:
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            for ids in id_lists:
                cursor.execute(sql, (ids,))
                in_order(cursor.fetchall(), ids)
        return lap

    with transactions.begin():
        if [repository.range(ids) for ids in id_lists] != requests:
            raise AssertionError("hexalchemy read back different invoices")
    with raw.cursor() as cursor:
        if [in_order(cursor.execute(sql, (ids,)).fetchall(), ids) for ids in id_lists] != requests:
            raise AssertionError("raw read back different invoices")
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(variant: Variant, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    table = await AsyncInvoiceSides.open(sides, variant)
    invoices = make_invoices(settings.rows, version=1)
    await table.reset(invoices)
    requests = _requests(settings, invoices)
    id_lists = [[invoice.id for invoice in request] for request in requests]
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql.range

    async def hexalchemy() -> Lap:
        async with transactions.begin():
            with timed() as lap:
                for ids in id_lists:
                    await repository.range(ids)
        return lap

    async def raw_psycopg() -> Lap:
        async with raw.transaction(), raw.cursor() as cursor:
            with timed() as lap:
                for ids in id_lists:
                    await cursor.execute(sql, (ids,))
                    in_order(await cursor.fetchall(), ids)
        return lap

    async with transactions.begin():
        if [await repository.range(ids) for ids in id_lists] != requests:
            raise AssertionError("hexalchemy read back different invoices")
    async with raw.cursor() as cursor:
        got = [in_order(await (await cursor.execute(sql, (ids,))).fetchall(), ids) for ids in id_lists]
        if got != requests:
            raise AssertionError("raw read back different invoices")
    return AsyncRunners(hexalchemy, raw_psycopg)


JOBS: Final = tuple(
    Job(
        name=f"range9: range of 1,000 ids, {variant} table",
        key="range9",
        kind="latency",
        target=TARGET,
        work=lambda settings: settings.range_calls,
        repetitions=lambda settings: settings.repetitions,
        sync=functools.partial(sync_runners, variant),
        async_=functools.partial(async_runners, variant),
        clean_up=drop_tables,
    )
    for variant in VARIANTS
)
