"""``get9``: ``get`` of a 9-column ``Invoice`` by id inside an open transaction, latency per call, per table.

Raw: one cursor, ``execute(SELECT ... WHERE id = %s)``, ``fetchone()``, and the aggregate
built by hand (psycopg already gives the UUID, the ``Decimal`` and the aware datetime).
The table holds 10,000 invoices; a run is ``get_calls`` calls (ids drawn at random),
timed without begin/commit. Target (issue 12): hexalchemy <= 1.25x raw.
"""

from __future__ import annotations

import functools
import random
from typing import Final

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.invoice_model import Invoice, invoice_from_row, make_invoices
from benchmarks.invoice_tables import VARIANTS, AsyncInvoiceSides, InvoiceSides, Variant, drop_tables
from benchmarks.job import AsyncRunners, Job, Runners

TARGET: Final = 1.25


def _wanted(settings: Settings, invoices: list[Invoice]) -> list[Invoice]:
    rng = random.Random(20260601)
    return [rng.choice(invoices) for _ in range(settings.get_calls)]


def _check(side: str, got: list[Invoice | None], wanted: list[Invoice]) -> None:
    if got != wanted:
        raise AssertionError(f"{side} read back different invoices")


def sync_runners(variant: Variant, sides: SyncSides, settings: Settings) -> Runners:
    table = InvoiceSides(sides, variant)
    invoices = make_invoices(settings.rows, version=1)
    table.reset(invoices)
    wanted = _wanted(settings, invoices)
    ids = [invoice.id for invoice in wanted]
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql.get

    def hexalchemy() -> Lap:
        get = repository.get
        with transactions.begin(), timed() as lap:
            for id in ids:
                get(id)
        return lap

    def raw_psycopg() -> Lap:
        with raw.transaction(), raw.cursor() as cursor, timed() as lap:
            for id in ids:
                cursor.execute(sql, (id,))
                row = cursor.fetchone()
                if row is None:
                    raise LookupError(id)
                invoice_from_row(row)
        return lap

    with transactions.begin():
        _check("hexalchemy", [repository.get(id) for id in ids], wanted)
    with raw.cursor() as cursor:
        got = []
        for id in ids:
            row = cursor.execute(sql, (id,)).fetchone()
            got.append(None if row is None else invoice_from_row(row))
        _check("raw", got, wanted)
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(variant: Variant, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    table = await AsyncInvoiceSides.open(sides, variant)
    invoices = make_invoices(settings.rows, version=1)
    await table.reset(invoices)
    wanted = _wanted(settings, invoices)
    ids = [invoice.id for invoice in wanted]
    repository, transactions, raw, sql = table.repository, table.transactions, table.raw, table.sql.get

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
                    await cursor.execute(sql, (id,))
                    row = await cursor.fetchone()
                    if row is None:
                        raise LookupError(id)
                    invoice_from_row(row)
        return lap

    async with transactions.begin():
        _check("hexalchemy", [await repository.get(id) for id in ids], wanted)
    async with raw.cursor() as cursor:
        got = []
        for id in ids:
            row = await (await cursor.execute(sql, (id,))).fetchone()
            got.append(None if row is None else invoice_from_row(row))
        _check("raw", got, wanted)
    return AsyncRunners(hexalchemy, raw_psycopg)


JOBS: Final = tuple(
    Job(
        name=f"get9: get by id, {variant} table",
        key="get9",
        kind="latency",
        target=TARGET,
        work=lambda settings: settings.get_calls,
        repetitions=lambda settings: settings.get_repetitions,
        sync=functools.partial(sync_runners, variant),
        async_=functools.partial(async_runners, variant),
        clean_up=drop_tables,
    )
    for variant in VARIANTS
)
