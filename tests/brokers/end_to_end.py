"""The processes of the end-to-end oracle (``tests/brokers/test_end_to_end.py``): producers, relays, consumers.

    python -m tests.brokers.end_to_end ROLE CONFIG_JSON INDEX

* ``producer`` -- commits ``transactions`` transactions on PostgreSQL, each writing one or
  two outbox messages (an ordering key of :data:`KEYS`, or none one time in five) and a
  ledger row per message in the same transaction; one transaction in five rolls back,
  and its message ids are written to ``rolled-back-INDEX.txt`` after the rollback.
* ``relay`` -- an :class:`~hexalchemy.outbox.AsyncOutboxRelay` (leased delivery, archive on)
  over the PostgreSQL outbox and the broker's publisher, routing each message to its
  *lane*: its ordering key, or ``none``.
* ``consumer`` -- reads every lane with the broker's consumer helper and an
  :class:`~hexalchemy.brokers.consuming.AsyncInboxHandler` on PostgreSQL; the effect is a
  row in the effects table (its ``applied`` serial gives the order of the effects). A
  keyed lane is read by one consumer at a time, so that its effects keep the broker's
  order: a Redis lane lock (a key with a TTL), JetStream's ``max_ack_pending=1``,
  RabbitMQ's single active consumer.

Relays and consumers write their counters to ``ROLE-INDEX.json`` every quarter second
and run until the file ``stop`` appears in the work directory or the deadline passes;
every process exits by itself at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import sqlalchemy

from hexalchemy.brokers.consuming import AsyncInboxHandler
from hexalchemy.outbox import AsyncOutboxRelay
from hexalchemy.ports import AsyncPublisher, OutboxMessage, PublishResult, Route
from hexalchemy.rules import OutboxPolicy, default_route, message_id_of, new_message
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyInbox,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    Schema,
    SqlAlchemyTransactionManager,
    TableMapping,
    create_async_engine,
    create_engine,
    inbox_mapping,
)
from hexalchemy.sqlalchemy.outbox import (
    AsyncSqlAlchemyOutboxRelayStore,
    OutboxTables,
    SqlAlchemyOutboxWriter,
    outbox_tables,
)

KEYS: Final = ("k0", "k1", "k2", "k3")
LANES: Final = (*KEYS, "none")
CONSUMER: Final = "e2e"
"""The inbox's consumer name: both consumer processes are instances of one consumer."""
POLICY: Final = OutboxPolicy(
    max_attempts=1_000,
    base_delay=dt.timedelta(milliseconds=50),
    max_delay=dt.timedelta(seconds=1),
    archive=True,
)
LEASE: Final = 3.0
"""Seconds a relay's lease lasts: how long the messages of a killed relay wait."""
LANE_LOCK_MS: Final = 10_000
"""How long a Redis lane lock lasts unless renewed: how long a killed consumer's lanes wait."""


@attrs.frozen
class Config:
    """What every process of one run needs to know (written as JSON by the test)."""

    broker: str
    database_url: str
    broker_url: str
    prefix: str
    work: str
    transactions: int
    deadline: float
    subject: str
    servers: tuple[str, ...] = ()

    def destination(self, lane: str) -> str:
        """The stream / subject / queue of a lane."""
        return f"{self.subject}.{lane}"

    @classmethod
    def load(cls, path: str) -> Config:
        raw = json.loads(Path(path).read_text())
        raw["servers"] = tuple(raw.get("servers", ()))
        return cls(**raw)

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(attrs.asdict(self)))

    def stopping(self) -> bool:
        return time.time() > self.deadline or (Path(self.work) / "stop").exists()


@attrs.frozen
class Tables:
    """The run's tables: the outbox (with its archive), the ledger, the effects and the inbox."""

    metadata: sqlalchemy.MetaData
    outbox: OutboxTables
    ledger: sqlalchemy.Table
    effects: sqlalchemy.Table
    inbox: TableMapping[Any, Any]


def tables(prefix: str) -> Tables:
    schema = Schema()
    outbox = outbox_tables(schema, prefix=prefix, archive=True)
    ledger = sqlalchemy.Table(
        f"{prefix}_ledger",
        schema.metadata,
        sqlalchemy.Column("message_id", sqlalchemy.Uuid, primary_key=True),
        sqlalchemy.Column("producer", sqlalchemy.Integer, nullable=False),
        sqlalchemy.Column("ordering_key", sqlalchemy.String(20)),
    )
    effects = sqlalchemy.Table(
        f"{prefix}_effects",
        schema.metadata,
        sqlalchemy.Column("applied", sqlalchemy.BigInteger, sqlalchemy.Identity(), primary_key=True),
        sqlalchemy.Column("message_id", sqlalchemy.Uuid, nullable=False),
        sqlalchemy.Column("lane", sqlalchemy.String(20), nullable=False),
        sqlalchemy.Column("consumer", sqlalchemy.Integer, nullable=False),
    )
    inbox = inbox_mapping(schema, table=f"{prefix}_inbox")
    return Tables(schema.metadata, outbox, ledger, effects, inbox)


def lane_of(message: OutboxMessage) -> str:
    return message.ordering_key or "none"


def router(config: Config) -> Callable[[OutboxMessage], Route]:
    def route(message: OutboxMessage) -> Route:
        return attrs.evolve(default_route(message), destination=config.destination(lane_of(message)))

    return route


class RollBackError(Exception):
    """Raised inside a producer's transaction to roll it back."""


def produce(config: Config, index: int) -> None:
    engine = create_engine(DatabaseConfig(url=config.database_url))
    run = tables(config.prefix)
    transactions = SqlAlchemyTransactionManager(engine)
    writer = SqlAlchemyOutboxWriter(run.outbox, transactions)
    chance = random.Random(index)
    rolled_back = Path(config.work) / f"rolled-back-{index}.txt"
    for number in range(config.transactions):
        if config.stopping():
            break
        messages = [
            new_message(
                config.subject,
                f"{index}:{number}".encode(),
                ordering_key=chance.choice(KEYS) if chance.random() < 0.8 else None,
            )
            for _ in range(chance.randint(1, 2))
        ]
        roll_back = chance.random() < 0.2
        try:
            with transactions.begin():
                writer.add_all(messages)
                transactions.connection().execute(
                    run.ledger.insert(),
                    [
                        {"message_id": m.id, "producer": index, "ordering_key": m.ordering_key}
                        for m in messages
                    ],
                )
                if roll_back:
                    raise RollBackError
        except RollBackError:
            with rolled_back.open("a") as file:
                file.writelines(f"{message.id}\n" for message in messages)
        time.sleep(chance.uniform(0, 0.01))
    engine.dispose()


def write_counters(config: Config, role: str, index: int, counters: dict[str, int]) -> None:
    path = Path(config.work) / f"{role}-{index}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(counters))
    temporary.replace(path)


async def publisher_of(config: Config) -> AsyncPublisher:
    route = router(config)
    if config.broker == "redis":
        from hexalchemy.brokers.redis import AsyncRedisStreamPublisher

        return AsyncRedisStreamPublisher(config.broker_url, route=route)
    if config.broker == "nats":
        from hexalchemy.brokers.nats import AsyncJetStreamPublisher

        return AsyncJetStreamPublisher(list(config.servers) or config.broker_url, timeout=5, route=route)
    from hexalchemy.brokers.rabbitmq import AsyncRabbitMQPublisher

    return AsyncRabbitMQPublisher(config.broker_url, timeout=5, route=route)


class RecordingPublisher:
    """The broker's publisher, appending the ids the broker accepted to ``published-INDEX.txt`` after each batch."""

    def __init__(self, publisher: AsyncPublisher, path: Path) -> None:
        self.publisher = publisher
        self.log = path.open("a")

    async def publish(self, messages: Sequence[OutboxMessage], /) -> Sequence[PublishResult]:
        results = await self.publisher.publish(messages)
        self.log.writelines(f"{result.message_id}\n" for result in results if result.ok)
        self.log.flush()
        return results


async def relay(config: Config, index: int) -> None:
    engine = create_async_engine(DatabaseConfig(url=config.database_url))
    store = AsyncSqlAlchemyOutboxRelayStore(tables(config.prefix).outbox, engine, policy=POLICY)
    publisher = await publisher_of(config)
    recording = RecordingPublisher(publisher, Path(config.work) / f"published-{index}.txt")
    the_relay = AsyncOutboxRelay(
        store,
        recording,
        batch_size=50,
        lease_for=LEASE,
        min_idle_delay=0.02,
        max_idle_delay=0.2,
        error_backoff=0.1,
        max_error_backoff=1.0,
        name=f"relay-{index}",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(the_relay.run(stop))
    while not config.stopping():
        write_counters(config, "relay", index, attrs.asdict(the_relay.counters))
        await asyncio.sleep(0.25)
    stop.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task, 10)
    write_counters(config, "relay", index, attrs.asdict(the_relay.counters))
    close = getattr(publisher, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
    await engine.dispose()


class CountingHandler(AsyncInboxHandler[Any]):
    """The inbox handler, counting the deliveries it handled and the duplicates it dropped.

    Each delivery's message id is also appended to ``delivered-INDEX.txt`` (before it is
    handled), so the deliveries of a consumer that was killed are counted too.
    """

    deliveries = 0
    duplicates = 0
    log: Any = None

    async def handle(self, message_id: uuid.UUID, message: Any) -> bool:
        if self.log is not None:
            self.log.write(f"{message_id}\n")
            self.log.flush()
        applied = await super().handle(message_id, message)
        self.deliveries += 1
        self.duplicates += not applied
        return applied


async def consume(config: Config, index: int) -> None:
    engine = create_async_engine(DatabaseConfig(url=config.database_url))
    run = tables(config.prefix)
    transactions = AsyncSqlAlchemyTransactionManager(engine)
    lane_of_destination = {config.destination(lane): lane for lane in LANES}

    def effect_of(message_id: Callable[[Any], uuid.UUID | None], destination: Callable[[Any], str]) -> Any:
        async def effect(message: Any) -> None:
            await transactions.connection().execute(
                run.effects.insert().values(
                    message_id=message_id(message),
                    lane=lane_of_destination[destination(message)],
                    consumer=index,
                )
            )

        return effect

    inbox = AsyncSqlAlchemyInbox(run.inbox, transactions, consumer=CONSUMER)
    consumers = {"redis": consume_redis, "nats": consume_nats, "rabbitmq": consume_rabbitmq}
    handler, loop = await consumers[config.broker](config, index, transactions, inbox, effect_of)
    handler.log = (Path(config.work) / f"delivered-{index}.txt").open("a")
    task = asyncio.create_task(loop)
    while not config.stopping() and not task.done():
        write_counters(
            config, "consumer", index, {"deliveries": handler.deliveries, "duplicates": handler.duplicates}
        )
        await asyncio.sleep(0.25)
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    write_counters(
        config, "consumer", index, {"deliveries": handler.deliveries, "duplicates": handler.duplicates}
    )
    await engine.dispose()


Setup = tuple[CountingHandler, Coroutine[Any, Any, None]]


async def forever(config: Config, step: Callable[[], Awaitable[int]]) -> None:
    """Run ``step`` until stopped; an error (the broker restarting, the database) is waited out."""
    while not config.stopping():
        try:
            handled = await step()
        except Exception:
            await asyncio.sleep(0.2)
            continue
        if not handled:
            await asyncio.sleep(0.02)


async def consume_redis(config: Config, index: int, transactions: Any, inbox: Any, effect_of: Any) -> Setup:
    import redis.asyncio

    from hexalchemy.brokers.redis import AsyncRedisStreamConsumer

    client = redis.asyncio.Redis.from_url(config.broker_url)
    effect = effect_of(lambda entry: message_id_of(entry.headers), lambda entry: entry.stream)
    handler = CountingHandler(transactions, inbox, effect)
    me = f"consumer-{index}"
    # take the lane (or keep it): set the lock when free, renew it when ours
    take = client.register_script(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
        "else return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) end"
    )

    def lane_step(lane: str) -> Callable[[], Awaitable[int]]:
        reader = AsyncRedisStreamConsumer(
            client,
            handler,
            stream=config.destination(lane),
            group=CONSUMER,
            consumer=me,
            count=5,  # a short step: the lock is renewed before each
            claim_idle=dt.timedelta(seconds=1),
        )

        async def step() -> int:
            if not await take(keys=[f"{config.destination(lane)}:owner"], args=[me, LANE_LOCK_MS]):
                return 0
            return await reader.run_once()

        return step

    async def loop() -> None:
        await asyncio.gather(*(forever(config, lane_step(lane)) for lane in LANES))

    return handler, loop()


async def consume_nats(config: Config, index: int, transactions: Any, inbox: Any, effect_of: Any) -> Setup:
    import nats
    import nats.errors

    from hexalchemy.brokers.nats import handle_jetstream

    client = await nats.connect(
        servers=list(config.servers) or [config.broker_url],
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
    )
    jetstream = client.jetstream(timeout=5)
    effect = effect_of(lambda msg: message_id_of(msg.headers or {}), lambda msg: msg.subject)
    handler = CountingHandler(transactions, inbox, effect)

    def lane_step(lane: str) -> Callable[[], Awaitable[int]]:
        subscription: Any = None

        async def step() -> int:
            nonlocal subscription
            if subscription is None:
                subscription = await jetstream.pull_subscribe_bind(f"lane-{lane}", stream=config.subject)
            try:
                fetched = await subscription.fetch(10, timeout=0.5)
            except nats.errors.TimeoutError:
                return 0
            for msg in fetched:
                await handle_jetstream(handler, msg)
            return len(fetched)

        return step

    async def loop() -> None:
        try:
            await asyncio.gather(*(forever(config, lane_step(lane)) for lane in LANES))
        finally:
            await client.close()

    return handler, loop()


async def consume_rabbitmq(
    config: Config, index: int, transactions: Any, inbox: Any, effect_of: Any
) -> Setup:
    import aio_pika
    from aio_pika.abc import AbstractConnection

    from hexalchemy.brokers.rabbitmq import handle_rabbitmq

    effect = effect_of(
        lambda message: message_id_of(dict(message.headers or {})), lambda message: message.routing_key
    )
    handler = CountingHandler(transactions, inbox, effect)

    async def lane(connection: AbstractConnection, name: str) -> None:
        # one message at a time, in delivery order; the queue's single active consumer is
        # one of the two processes, the other takes over when it dies. A failure ends the
        # task and the connection is closed: its unacknowledged messages go back to the queue
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=20)
        queue = await channel.get_queue(config.destination(name), ensure=False)
        async with queue.iterator() as messages:
            async for message in messages:
                await handle_rabbitmq(handler, message)

    async def closed(connection: AbstractConnection) -> None:
        while not connection.is_closed:
            await asyncio.sleep(0.1)

    async def loop() -> None:
        # a plain connection, made again after any failure (the broker restarting)
        while not config.stopping():
            try:
                connection = await aio_pika.connect(config.broker_url)
            except Exception:
                await asyncio.sleep(0.5)
                continue
            tasks = [asyncio.create_task(closed(connection))]
            tasks += [asyncio.create_task(lane(connection, name)) for name in LANES]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.gather(*tasks, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await connection.close()

    return handler, loop()


def main(role: str, config_path: str, index: str) -> int:
    config = Config.load(config_path)
    number = int(index)
    if role == "producer":
        produce(config, number)
    elif role == "relay":
        asyncio.run(relay(config, number))
    elif role == "consumer":
        asyncio.run(consume(config, number))
    else:
        print(f"unknown role {role!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(*sys.argv[1:4]))
