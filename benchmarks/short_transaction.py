"""``txn`` and ``txn_outbox``: the short business transaction, from ``BEGIN`` to ``COMMIT``, per transaction.

hexalchemy, per transaction: ``with transactions.begin(): repository.save(reservation)``,
a new 4-column ``Reservation`` (version 0: one ``INSERT``); with ``txn_outbox`` also
``writer.add(new_message(topic, payload, headers=...))`` in the same transaction.

Raw psycopg 3, on the connection it keeps (autocommit, one cursor kept for the job): ``with
connection.transaction(): cursor.execute(INSERT ...)``, the parameters taken from the
aggregate by hand; with ``txn_outbox`` also the ``INSERT`` of the message row into the same
outbox table (a ``uuid4`` id, the client's clock, the headers as ``Json``). Both sides send
``BEGIN``, one ``INSERT`` per row and ``COMMIT``; hexalchemy's inserts are ``ON CONFLICT DO
NOTHING RETURNING id`` (how it tells a duplicate), raw's are plain.

The commit is timed (``fsync`` on: what the business pays). A run is ``transactions``
transactions (300; payloads made beforehand); every run starts from empty tables
(truncated, untimed); ``transaction_repetitions`` timed runs per side (7), alternating,
after the warm-up. Before timing, the job checks that both sides write the same rows.
Targets (issue 12): hexalchemy <= 1.2x raw, <= 1.25x with the outbox message.
"""

from __future__ import annotations

import functools
from typing import Final

from psycopg.types.json import Json

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Job, Runners
from benchmarks.short_transaction_model import (
    HEADERS,
    MESSAGES_DIGEST,
    RAW_INSERT_SQL,
    RAW_MESSAGE_SQL,
    RESERVATIONS_DIGEST,
    TOPIC,
    Reservation,
    drop_tables,
    make_reservations,
    payload_for,
    raw_message_params,
    txn_tables,
)
from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyRepository,
    SqlAlchemyOutboxWriter,
    SqlAlchemyRepository,
)

TARGET: Final = 1.2
TARGET_WITH_OUTBOX: Final = 1.25

Digest = tuple[tuple[int, str] | None, tuple[int, str] | None]


def _events(settings: Settings) -> list[tuple[Reservation, bytes]]:
    reservations = make_reservations(settings.transactions)
    return [(reservation, payload_for(index)) for index, reservation in enumerate(reservations)]


def _check(hexalchemy: Digest, raw: Digest, transactions: int, outbox: bool) -> None:
    expected = (transactions, transactions if outbox else 0)
    counts = (hexalchemy[0][0] if hexalchemy[0] else -1, hexalchemy[1][0] if hexalchemy[1] else -1)
    if counts != expected or hexalchemy != raw:
        raise AssertionError(f"rows written: hexalchemy {hexalchemy}, raw {raw}, expected counts {expected}")


def sync_runners(outbox: bool, sides: SyncSides, settings: Settings) -> Runners:
    tables = txn_tables()
    tables.metadata.drop_all(sides.engine, tables=tables.tables)
    tables.metadata.create_all(sides.engine, tables=tables.tables)
    repository = SqlAlchemyRepository(tables.reservations, sides.transactions)
    writer = SqlAlchemyOutboxWriter(tables.outbox, sides.transactions)
    transactions, raw = sides.transactions, sides.raw
    events = _events(settings)
    headers = Json(HEADERS)

    def hexalchemy() -> Lap:
        raw.execute(tables.truncate_sql)
        save, add, create = repository.save, writer.add, new_message
        with timed() as lap:
            if outbox:
                for reservation, payload in events:
                    with transactions.begin():
                        save(reservation)
                        add(create(TOPIC, payload, headers=HEADERS))
            else:
                for reservation, _ in events:
                    with transactions.begin():
                        save(reservation)
        return lap

    def raw_psycopg() -> Lap:
        raw.execute(tables.truncate_sql)
        with raw.cursor() as cursor, timed() as lap:
            execute = cursor.execute
            if outbox:
                for r, payload in events:
                    with raw.transaction():
                        execute(RAW_INSERT_SQL, (r.id, r.sku, r.quantity, r.version + 1))
                        execute(RAW_MESSAGE_SQL, raw_message_params(payload, headers))
            else:
                for r, _ in events:
                    with raw.transaction():
                        execute(RAW_INSERT_SQL, (r.id, r.sku, r.quantity, r.version + 1))
        return lap

    def digest() -> Digest:
        return raw.execute(RESERVATIONS_DIGEST).fetchone(), raw.execute(MESSAGES_DIGEST).fetchone()

    hexalchemy()
    written = digest()
    raw_psycopg()
    _check(written, digest(), len(events), outbox)
    return Runners(hexalchemy, raw_psycopg)


async def async_runners(outbox: bool, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    tables = txn_tables()
    async with sides.engine.begin() as connection:
        await connection.run_sync(tables.metadata.drop_all, tables=tables.tables)
        await connection.run_sync(tables.metadata.create_all, tables=tables.tables)
    repository = AsyncSqlAlchemyRepository(tables.reservations, sides.transactions)
    writer = AsyncSqlAlchemyOutboxWriter(tables.outbox, sides.transactions)
    transactions, raw = sides.transactions, sides.raw
    events = _events(settings)
    headers = Json(HEADERS)

    async def hexalchemy() -> Lap:
        await raw.execute(tables.truncate_sql)
        save, add, create = repository.save, writer.add, new_message
        with timed() as lap:
            if outbox:
                for reservation, payload in events:
                    async with transactions.begin():
                        await save(reservation)
                        await add(create(TOPIC, payload, headers=HEADERS))
            else:
                for reservation, _ in events:
                    async with transactions.begin():
                        await save(reservation)
        return lap

    async def raw_psycopg() -> Lap:
        await raw.execute(tables.truncate_sql)
        async with raw.cursor() as cursor:
            execute = cursor.execute
            with timed() as lap:
                if outbox:
                    for r, payload in events:
                        async with raw.transaction():
                            await execute(RAW_INSERT_SQL, (r.id, r.sku, r.quantity, r.version + 1))
                            await execute(RAW_MESSAGE_SQL, raw_message_params(payload, headers))
                else:
                    for r, _ in events:
                        async with raw.transaction():
                            await execute(RAW_INSERT_SQL, (r.id, r.sku, r.quantity, r.version + 1))
        return lap

    async def digest() -> Digest:
        reservations = await (await raw.execute(RESERVATIONS_DIGEST)).fetchone()
        messages = await (await raw.execute(MESSAGES_DIGEST)).fetchone()
        return reservations, messages

    await hexalchemy()
    written = await digest()
    await raw_psycopg()
    _check(written, await digest(), len(events), outbox)
    return AsyncRunners(hexalchemy, raw_psycopg)


def _job(outbox: bool) -> Job:
    return Job(
        name="txn_outbox: begin, save 1 new, 1 outbox message, commit"
        if outbox
        else "txn: begin, save 1 new, commit",
        key="txn_outbox" if outbox else "txn",
        kind="latency",
        unit="txn",
        target=TARGET_WITH_OUTBOX if outbox else TARGET,
        work=lambda settings: settings.transactions,
        repetitions=lambda settings: settings.transaction_repetitions,
        sync=functools.partial(sync_runners, outbox),
        async_=functools.partial(async_runners, outbox),
        clean_up=drop_tables,
    )


JOBS: Final = (_job(outbox=False), _job(outbox=True))
