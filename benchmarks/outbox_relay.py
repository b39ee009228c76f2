"""Outbox relay throughput: drain a pre-filled outbox with 1 or 4 relays, no-op publisher, keyed or not.

hexalchemy: ``OutboxRelay(SqlAlchemyOutboxRelayStore(tables, engine), publisher,
batch_size=n, delivery=mode)``, each relay with its own engine (so its own connection),
calling ``run_once()`` until it returns 0; with 4 relays, 4 threads. In leased delivery
each batch is a claim (one statement leasing the rows, its own transaction), the
publisher, and an acknowledgement (a fenced ``DELETE``, its own transaction). In locked
delivery each batch is one transaction: one statement deleting (and so locking) the due
rows, the publisher, the commit. The async jobs run ``AsyncOutboxRelay`` the same way, as
tasks of one event loop.

Raw: the same number of threads (or tasks), each with its own autocommit psycopg
connection, looping over :data:`~benchmarks.outbox_support.RAW_CLAIM_SQL` (``DELETE ...
WHERE id IN (SELECT ... ORDER BY available_at, id LIMIT n FOR UPDATE SKIP LOCKED)
RETURNING ...``), building the messages by hand and handing them to the same publisher,
until a batch comes back empty. No lease: a message is gone before it is published.

Keyed: every message has one of :data:`KEYS` ordering keys (20 messages a key at full
size), numbered in order within its key; a claim takes only the first message of each key
(at most :data:`KEYS` a batch), and so does the raw loop
(:data:`~benchmarks.outbox_support.RAW_KEYED_CLAIM_SQL`: the same ``DELETE``, with ``NOT
EXISTS`` an earlier message of the key).

Every run starts from the same outbox: :data:`~benchmarks.outbox_support.RELAY_MESSAGES` due messages COPYed in and
ANALYZEd (untimed). The timing covers draining it; each run is checked to have delivered
every message once and left the outbox empty. A run takes seconds, so there are only 3
timed runs per side and no warm-up run: instead, when the job is set up, every relay and
raw connection drains a small outbox of two batches (connecting, compiling and preparing
the statements). Target: >= 0.7x the raw loop, and
>= 10,000 messages/s with 4 relays.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Final, LiteralString

import psycopg

from benchmarks.databases import AsyncRawConnection, AsyncSides, RawConnection, SyncSides, conninfo_for
from benchmarks.harness import Lap, Settings
from benchmarks.job import AsyncRunners, Runners
from benchmarks.outbox_support import (
    RAW_CLAIM_SQL,
    RAW_KEYED_CLAIM_SQL,
    AsyncNoOpPublisher,
    NoOpPublisher,
    OutboxJob,
    Seed,
    check_delivered,
    count_messages,
    count_messages_async,
    message_from_row,
    on_close,
    on_close_async,
    prepare_tables,
    prepare_tables_async,
    relay_messages,
    relay_repetitions,
    run_parallel,
    run_parallel_async,
    url_of,
)
from hexalchemy.outbox import AsyncOutboxRelay, DeliveryMode, OutboxRelay
from hexalchemy.ports import Publisher
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxRelayStore,
    DatabaseConfig,
    SqlAlchemyOutboxRelayStore,
    create_async_engine,
    create_engine,
)

TINY_MESSAGES: Final = 1_000
RATIO_TARGET: Final = 0.7
KEYS: Final = 1_000
"""Ordering keys of the keyed jobs."""
THROUGHPUT_TARGET: Final = 10_000.0
"""Messages per second, with 4 relays."""


def _messages(settings: Settings) -> int:
    return relay_messages(settings, tiny=TINY_MESSAGES)


def _warm_up_seed(relays: int, batch: int) -> Seed:
    """Two batches per relay: enough to connect every engine and compile every statement."""
    return Seed.make(2 * relays * batch)


# ------------------------------------------------------------------------------ the loops
def drain(relay: OutboxRelay) -> int:
    """Run one relay until a claim finds nothing; return how many messages it claimed."""
    total = 0
    while claimed := relay.run_once():
        total += claimed
    return total


async def drain_async(relay: AsyncOutboxRelay) -> int:
    """The async twin of :func:`drain`."""
    total = 0
    while claimed := await relay.run_once():
        total += claimed
    return total


def raw_drain(
    connection: RawConnection, batch: int, publisher: Publisher, sql: LiteralString = RAW_CLAIM_SQL
) -> int:
    """Claim-and-delete batches until one comes back empty; return how many messages were published."""
    total = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, (batch,))
            rows = cursor.fetchall()
            if not rows:
                return total
            results = publisher.publish([message_from_row(row) for row in rows])
            total += sum(1 for result in results if result.ok)


async def raw_drain_async(
    connection: AsyncRawConnection,
    batch: int,
    publisher: AsyncNoOpPublisher,
    sql: LiteralString = RAW_CLAIM_SQL,
) -> int:
    """The async twin of :func:`raw_drain`."""
    total = 0
    async with connection.cursor() as cursor:
        while True:
            await cursor.execute(sql, (batch,))
            rows = await cursor.fetchall()
            if not rows:
                return total
            results = await publisher.publish([message_from_row(row) for row in rows])
            total += sum(1 for result in results if result.ok)


# ----------------------------------------------------------------------------- the runners
def sync_runners(
    delivery: DeliveryMode, relays: int, batch: int, keyed: bool, sides: SyncSides, settings: Settings
) -> Runners:
    tables = prepare_tables(sides)
    seed = Seed.make(_messages(settings), keys=KEYS if keyed else 0)
    sql = RAW_KEYED_CLAIM_SQL if keyed else RAW_CLAIM_SQL
    url = url_of(sides.engine)
    engines = [create_engine(DatabaseConfig(url=url)) for _ in range(relays)]
    connections = [psycopg.connect(conninfo_for(url), autocommit=True) for _ in range(relays)]
    for engine in engines:
        on_close(engine.dispose)
    for connection in connections:
        on_close(connection.close)
    stores = [SqlAlchemyOutboxRelayStore(tables, engine) for engine in engines]
    publisher = NoOpPublisher()
    warm_up = _warm_up_seed(relays, batch)
    warm_up.load(sides.raw)
    for index, store in enumerate(stores):
        drain(OutboxRelay(store, publisher, batch_size=batch, delivery=delivery, name=f"warm-up-{index}"))
    warm_up.load(sides.raw)
    for connection in connections:
        raw_drain(connection, batch, publisher, sql)

    def hexalchemy() -> Lap:
        seed.load(sides.raw)
        workers = [
            functools.partial(
                drain,
                OutboxRelay(store, publisher, batch_size=batch, delivery=delivery, name=f"bench-{index}"),
            )
            for index, store in enumerate(stores)
        ]
        lap, claimed = run_parallel(workers)
        check_delivered("relay", claimed, seed.count, count_messages(sides.raw))
        return lap

    def raw_psycopg() -> Lap:
        seed.load(sides.raw)
        workers = [
            functools.partial(raw_drain, connection, batch, publisher, sql) for connection in connections
        ]
        lap, published = run_parallel(workers)
        check_delivered("raw", published, seed.count, count_messages(sides.raw))
        return lap

    return Runners(hexalchemy, raw_psycopg)


async def async_runners(
    delivery: DeliveryMode, relays: int, batch: int, keyed: bool, sides: AsyncSides, settings: Settings
) -> AsyncRunners:
    tables = await prepare_tables_async(sides)
    seed = Seed.make(_messages(settings), keys=KEYS if keyed else 0)
    sql = RAW_KEYED_CLAIM_SQL if keyed else RAW_CLAIM_SQL
    url = url_of(sides.engine)
    engines = [create_async_engine(DatabaseConfig(url=url)) for _ in range(relays)]
    connections = [
        await psycopg.AsyncConnection.connect(conninfo_for(url), autocommit=True) for _ in range(relays)
    ]
    for engine in engines:
        on_close_async(engine.dispose)
    for connection in connections:
        on_close_async(connection.close)
    stores = [AsyncSqlAlchemyOutboxRelayStore(tables, engine) for engine in engines]
    publisher = AsyncNoOpPublisher()
    warm_up = _warm_up_seed(relays, batch)
    await warm_up.load_async(sides.raw)
    for index, store in enumerate(stores):
        await drain_async(
            AsyncOutboxRelay(store, publisher, batch_size=batch, delivery=delivery, name=f"warm-up-{index}")
        )
    await warm_up.load_async(sides.raw)
    for connection in connections:
        await raw_drain_async(connection, batch, publisher, sql)

    async def hexalchemy() -> Lap:
        await seed.load_async(sides.raw)
        workers: list[Callable[[], Awaitable[int]]] = [
            functools.partial(
                drain_async,
                AsyncOutboxRelay(
                    store, publisher, batch_size=batch, delivery=delivery, name=f"bench-{index}"
                ),
            )
            for index, store in enumerate(stores)
        ]
        lap, claimed = await run_parallel_async(workers)
        check_delivered("relay", claimed, seed.count, await count_messages_async(sides.raw))
        return lap

    async def raw_psycopg() -> Lap:
        await seed.load_async(sides.raw)
        workers: list[Callable[[], Awaitable[int]]] = [
            functools.partial(raw_drain_async, connection, batch, publisher, sql)
            for connection in connections
        ]
        lap, published = await run_parallel_async(workers)
        check_delivered("raw", published, seed.count, await count_messages_async(sides.raw))
        return lap

    return AsyncRunners(hexalchemy, raw_psycopg)


def _job(delivery: DeliveryMode, relays: int, batch: int, keyed: bool) -> OutboxJob:
    return OutboxJob(
        name=f"outbox relay, {delivery.value}, {relays} x batch {batch:,}{', keyed' if keyed else ''}",
        key="outbox",
        kind="throughput",
        target=RATIO_TARGET,
        work=_messages,
        repetitions=relay_repetitions,
        sync=functools.partial(sync_runners, delivery, relays, batch, keyed),
        async_=functools.partial(async_runners, delivery, relays, batch, keyed),
        relays=relays,
        batch=batch,
        delivery=delivery.value + (", keyed" if keyed else ""),
        warmup=0,
        minimum=THROUGHPUT_TARGET if relays == 4 else None,
    )


JOBS: Final = tuple(
    _job(delivery, relays, batch, keyed)
    for keyed in (False, True)
    for delivery in (DeliveryMode.LEASED, DeliveryMode.LOCKED)
    for batch in (100, 1_000)
    for relays in (1, 4)
)
"""Leased batch 100 with 1 relay comes first: ``benchmarks.profiling outbox`` profiles it (in the main thread)."""
