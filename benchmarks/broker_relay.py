"""Outbox to broker, end to end: 4 relays draining a pre-filled outbox into Redis Streams, NATS JetStream, RabbitMQ.

hexalchemy: 4 ``AsyncOutboxRelay``s (tasks of one event loop), each with its own engine
and its own broker publisher (``AsyncRedisStreamPublisher``, ``AsyncJetStreamPublisher``,
``AsyncRabbitMQPublisher``: its own connection, as 4 relay processes would have), calling
``drain()``: claim a batch in PostgreSQL, publish it with one wait for the broker's
confirmations, acknowledge it, until a claim finds nothing. The leased relays are
pipelined (``pipelined=True``: the next batch claimed and the previous one acknowledged
while a batch is published; still one batch at the broker at a time per relay, as on the
raw side); locked delivery cannot be pipelined (one transaction per batch).

Raw: the broker's own client publishing the same messages (same payloads, headers and
message ids) in batches of the same size with confirmations, 4 tasks with a connection
each, from memory: no database at all. What a user would write by hand to push messages
into the broker as fast as its client allows:

- Redis: a pipeline of ``XADD stream MAXLEN ~ n * payload .. headers ..`` per batch (the
  replies are the confirmations); hexalchemy's publisher runs one script call per stream
  of the batch instead, which also keeps a dedup key per message (``SET`` with a TTL);
- NATS: ``publish_async`` of every message of the batch with ``Nats-Msg-Id``, then one
  wait for all the PubAcks;
- RabbitMQ: a channel with publisher confirms, every message of the batch published
  persistent and mandatory with its ``message_id``, then one wait for all confirmations.

Before every run (untimed) the outbox is filled with :data:`~benchmarks.outbox_support.RELAY_MESSAGES` messages and the
broker's destination is emptied (stream deleted with its dedup keys, JetStream stream
recreated so that its duplicate window is empty, queue purged); after it, the broker must
hold every message once and the outbox none. Targets: >= 0.8x the raw client, and >=
10,000 msg/s where the raw client reaches 12,500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import statistics
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import aio_pika
import attrs
import nats
import redis.asyncio
from nats.js.errors import NotFoundError

from benchmarks.databases import AsyncSides, SyncSides
from benchmarks.harness import Lap, Settings, timed
from benchmarks.job import AsyncRunners, Runners
from benchmarks.outbox_support import (
    Seed,
    check_delivered,
    count_messages_async,
    drop_tables,
    on_close_async,
    prepare_tables_async,
    relay_messages,
    relay_repetitions,
    url_of,
)
from benchmarks.recording import Recorded, RecordingJob, runs_text
from hexalchemy.brokers.nats import MSG_ID_HEADER, AsyncJetStreamPublisher
from hexalchemy.brokers.rabbitmq import AsyncRabbitMQPublisher
from hexalchemy.brokers.redis import DEFAULT_MAX_LENGTH, AsyncRedisStreamPublisher
from hexalchemy.outbox import AsyncOutboxRelay, DeliveryMode
from hexalchemy.ports import AsyncPublisher, OutboxMessage, Route
from hexalchemy.rules import destination_route
from hexalchemy.sqlalchemy import AsyncSqlAlchemyOutboxRelayStore, DatabaseConfig, create_async_engine

REDIS_URL: Final = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL: Final = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP_URL: Final = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

TINY_MESSAGES: Final = 400
RELAYS: Final = 4
RATIO_TARGET: Final = 0.8
THROUGHPUT_TARGET: Final = 10_000.0
RAW_THRESHOLD: Final = 12_500.0
"""The absolute target applies where the raw client reaches this many messages per second."""
TIMEOUT: Final = 30.0
"""Seconds a batch may wait for its confirmations (far above what it takes)."""


def _messages(settings: Settings) -> int:
    return relay_messages(settings, tiny=TINY_MESSAGES)


def _outbox_messages(seed: Seed) -> list[OutboxMessage]:
    """The seed's messages as a relay claims them (built untimed, for the raw side)."""
    return [
        OutboxMessage(
            id=message_id,
            topic=topic,
            payload=payload,
            headers=json.loads(headers),
            created_at=created_at,
            available_at=available_at,
            attempts=attempts,
        )
        for message_id, topic, payload, headers, created_at, available_at, attempts, *_ in seed.rows
    ]


# ------------------------------------------------------------------------------ the brokers
class Broker:
    """One broker's destination for a job: publishers, the raw client's loop, emptying and counting."""

    name: str = ""

    def __init__(self) -> None:
        self.tag = f"bench-{uuid.uuid4().hex[:10]}"

    def route(self) -> Callable[[OutboxMessage], Route]:
        """Where every message goes (the raw side sends to the same place)."""
        return destination_route(self.destination)

    @property
    def destination(self) -> str:
        return self.tag

    async def open(self) -> None:
        """Create the destination and the raw side's connections."""

    async def reset(self) -> None:
        """Empty the destination (untimed, before every run)."""

    async def count(self) -> int:
        """How many messages the destination holds."""
        raise NotImplementedError

    def publisher(self) -> AsyncPublisher:
        """A new hexalchemy publisher with a connection of its own."""
        raise NotImplementedError

    async def raw(self, worker: int, messages: Sequence[Route], batch: int) -> int:
        """Publish ``messages`` in batches of ``batch`` with the raw client of ``worker``; how many were confirmed."""
        raise NotImplementedError

    async def close(self) -> None:
        """Delete the destination, close the raw connections."""


class RedisBroker(Broker):
    name = "Redis Streams"

    async def open(self) -> None:
        self.admin = redis.asyncio.Redis.from_url(REDIS_URL)
        self.clients = [redis.asyncio.Redis.from_url(REDIS_URL) for _ in range(RELAYS)]
        self.dedup_prefix = f"hexalchemy:dedup:{self.tag}:"

    async def reset(self) -> None:
        await self.admin.delete(self.destination)
        keys = [key async for key in self.admin.scan_iter(f"{self.dedup_prefix}*", count=5_000)]
        for start in range(0, len(keys), 5_000):
            await self.admin.unlink(*keys[start : start + 5_000])

    async def count(self) -> int:
        return int(await self.admin.xlen(self.destination))

    def publisher(self) -> AsyncPublisher:
        return AsyncRedisStreamPublisher(REDIS_URL, route=self.route(), dedup_prefix=self.dedup_prefix)

    async def raw(self, worker: int, messages: Sequence[Route], batch: int) -> int:
        client = self.clients[worker]
        confirmed = 0
        for start in range(0, len(messages), batch):
            async with client.pipeline(transaction=False) as pipe:
                for route in messages[start : start + batch]:
                    pipe.xadd(
                        route.destination,
                        {"payload": route.payload, "headers": json.dumps(dict(route.headers))},
                        maxlen=DEFAULT_MAX_LENGTH,
                        approximate=True,
                    )
                replies: list[object] = await pipe.execute()
            confirmed += len(replies)
        return confirmed

    async def close(self) -> None:
        await self.reset()
        for client in [*self.clients, self.admin]:
            await client.aclose()


class NatsBroker(Broker):
    name = "NATS JetStream"

    @property
    def destination(self) -> str:
        return f"{self.tag}.orders"

    async def open(self) -> None:
        self.admin = await nats.connect(NATS_URL)
        self.clients = [await nats.connect(NATS_URL) for _ in range(RELAYS)]
        await self.reset()

    async def reset(self) -> None:
        jetstream = self.admin.jetstream()
        with contextlib.suppress(NotFoundError):
            await jetstream.delete_stream(self.tag)
        await jetstream.add_stream(name=self.tag, subjects=[f"{self.tag}.>"])

    async def count(self) -> int:
        return (await self.admin.jetstream().stream_info(self.tag)).state.messages

    def publisher(self) -> AsyncPublisher:
        return AsyncJetStreamPublisher(NATS_URL, route=self.route(), timeout=TIMEOUT)

    async def raw(self, worker: int, messages: Sequence[Route], batch: int) -> int:
        jetstream = self.clients[worker].jetstream(timeout=TIMEOUT)
        confirmed = 0
        for start in range(0, len(messages), batch):
            futures = [
                await jetstream.publish_async(
                    route.destination, route.payload, headers={**route.headers, MSG_ID_HEADER: route.dedup_id}
                )
                for route in messages[start : start + batch]
            ]
            acks = await asyncio.gather(*futures)
            confirmed += len(acks)
        return confirmed

    async def close(self) -> None:
        try:
            await self.admin.jetstream().delete_stream(self.tag)
        finally:
            for client in [*self.clients, self.admin]:
                await client.close()


class RabbitBroker(Broker):
    name = "RabbitMQ"

    async def open(self) -> None:
        self.admin = await aio_pika.connect(AMQP_URL)
        self.admin_channel = await self.admin.channel()
        self.queue = await self.admin_channel.declare_queue(self.destination, durable=True)
        self.connections = [await aio_pika.connect_robust(AMQP_URL) for _ in range(RELAYS)]
        self.channels = [
            await connection.channel(publisher_confirms=True, on_return_raises=True)
            for connection in self.connections
        ]

    async def reset(self) -> None:
        await self.queue.purge()

    async def count(self) -> int:
        declared = await self.admin_channel.declare_queue(self.destination, durable=True, passive=True)
        return declared.declaration_result.message_count or 0

    def publisher(self) -> AsyncPublisher:
        return AsyncRabbitMQPublisher(AMQP_URL, route=self.route(), timeout=TIMEOUT)

    async def raw(self, worker: int, messages: Sequence[Route], batch: int) -> int:
        exchange = self.channels[worker].default_exchange
        confirmed = 0
        for start in range(0, len(messages), batch):
            confirmations = await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            route.payload,
                            headers=dict(route.headers),
                            message_id=route.dedup_id,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=route.destination,
                        mandatory=True,
                        timeout=TIMEOUT,
                    )
                    for route in messages[start : start + batch]
                )
            )
            confirmed += len(confirmations)
        return confirmed

    async def close(self) -> None:
        try:
            await self.admin_channel.queue_delete(self.destination)
        finally:
            for connection in self.connections:
                await connection.close()
            await self.admin.close()


BROKERS: Final[dict[str, type[Broker]]] = {
    "redis": RedisBroker,
    "nats": NatsBroker,
    "rabbitmq": RabbitBroker,
}


# ----------------------------------------------------------------------------- the runners
async def drain(relay: AsyncOutboxRelay) -> int:
    """Run one relay until a claim finds nothing; return how many messages it published."""
    await relay.drain()
    return relay.counters.published


def _no_sync(sides: SyncSides, settings: Settings) -> Runners:
    raise AssertionError("the broker jobs run async only (the NATS and RabbitMQ publishers are async only)")


async def async_runners(
    broker_key: str, delivery: DeliveryMode, batch: int, sides: AsyncSides, settings: Settings
) -> AsyncRunners:
    broker = BROKERS[broker_key]()
    await broker.open()
    on_close_async(broker.close)
    tables = await prepare_tables_async(sides)
    seed = Seed.make(_messages(settings))
    url = url_of(sides.engine)
    engines = [create_async_engine(DatabaseConfig(url=url)) for _ in range(RELAYS)]
    for engine in engines:
        on_close_async(engine.dispose)
    stores = [AsyncSqlAlchemyOutboxRelayStore(tables, engine) for engine in engines]
    publishers = [broker.publisher() for _ in range(RELAYS)]
    for publisher in publishers:
        on_close_async(cast(Any, publisher).aclose)
    route = broker.route()
    routes = [route(message) for message in _outbox_messages(seed)]
    shares = [routes[index::RELAYS] for index in range(RELAYS)]

    async def hexalchemy() -> Lap:
        await seed.load_async(sides.raw)
        await broker.reset()
        relays = [
            AsyncOutboxRelay(
                store,
                publisher,
                batch_size=batch,
                delivery=delivery,
                pipelined=delivery is DeliveryMode.LEASED,
                name=f"bench-{index}",
            )
            for index, (store, publisher) in enumerate(zip(stores, publishers, strict=True))
        ]
        with timed() as lap:
            published = sum(await asyncio.gather(*(drain(relay) for relay in relays)))
        check_delivered("relay", published, seed.count, await count_messages_async(sides.raw))
        check_delivered("relay, at the broker", await broker.count(), seed.count, 0)
        return lap

    async def raw_client() -> Lap:
        await broker.reset()
        with timed() as lap:
            confirmed = sum(
                await asyncio.gather(*(broker.raw(index, share, batch) for index, share in enumerate(shares)))
            )
        check_delivered("raw client", confirmed, seed.count, 0)
        check_delivered("raw client, at the broker", await broker.count(), seed.count, 0)
        return lap

    return AsyncRunners(hexalchemy, raw_client)


# ------------------------------------------------------------------------------ the job
Result = Recorded["BrokerJob"]
_results: list[Result] = []


@attrs.frozen
class BrokerJob(RecordingJob):
    """An outbox-to-broker job: it owns its tables, connections and destination, and reports to :func:`report`."""

    broker: str = ""
    batch: int = 0
    delivery: str = ""

    def keep(self, result: Recorded[RecordingJob]) -> None:
        """Keep ``result`` for :func:`report`."""
        _results.append(cast(Result, result))

    async def clean_up_async(self, url: str | None) -> None:
        """Close the job's connections, delete its destination and drop its tables."""
        from benchmarks.outbox_support import close_all_async

        await close_all_async()
        if url is not None:
            drop_tables(url)


def _job(broker: str, delivery: DeliveryMode, batch: int) -> BrokerJob:
    return BrokerJob(
        name=f"outbox to {BROKERS[broker].name}, {delivery.value}, {RELAYS} x batch {batch:,}",
        key="brokers",
        kind="throughput",
        target=RATIO_TARGET,
        work=_messages,
        repetitions=relay_repetitions,
        sync=_no_sync,
        async_=functools.partial(async_runners, broker, delivery, batch),
        modes=("async",),
        broker=broker,
        batch=batch,
        delivery=delivery.value,
        warmup=1,
    )


JOBS: Final = tuple(
    _job(broker, delivery, batch)
    for broker in BROKERS
    for delivery in (DeliveryMode.LEASED, DeliveryMode.LOCKED)
    for batch in (100, 1_000)
)


def _table(results: Sequence[Result]) -> str:
    lines = [
        "| broker | delivery | relays x batch | hexalchemy relays | raw client, confirmed batches | ratio "
        "| ratio IQR | >= 0.8x? | >= 10,000 msg/s where raw >= 12,500? | client CPU, relay / raw |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for result in results:
        job, m = result.job, result.measurement
        low, high = m.spread
        if m.raw_value < RAW_THRESHOLD:
            absolute = f"- (raw {m.raw_value:,.0f})"
        else:
            absolute = "yes" if m.hexalchemy_value >= THROUGHPUT_TARGET else "**no**"
        hexalchemy_cpu, raw_cpu = m.cpu_per_unit
        lines.append(
            f"| {BROKERS[job.broker].name} | {job.delivery} | {RELAYS} x {job.batch:,} "
            f"| {m.hexalchemy_value:,.0f} msg/s | {m.raw_value:,.0f} msg/s | {m.ratio:.2f}x | {low:.2f}-{high:.2f}x "
            f"| {'yes' if m.met else '**no**'} | {absolute} | {hexalchemy_cpu:.1f} / {raw_cpu:.1f} µs/msg |"
        )
    return "\n".join(lines)


def report() -> str:
    """The broker jobs' table, as markdown ("" when none ran)."""
    if not _results:
        return ""
    ratios = [result.measurement.ratio for result in _results]
    return (
        f"Outbox to broker, end to end ({runs_text(_results, 'messages')}, alternating; messages/s are "
        f"medians, ratio = median of the paired relay/raw ratios, lowest {min(ratios):.2f}x, median "
        f"{statistics.median(ratios):.2f}x; CPU = this process):\n\n" + _table(_results)
    )
