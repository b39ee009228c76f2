"""The consumer helpers on the real brokers: effects applied once, acknowledged only after the commit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import attrs
import nats
import pytest
import redis
from nats.aio.msg import Msg

from hexalchemy.brokers.consuming import AsyncInboxHandler, InboxHandler
from hexalchemy.brokers.nats import AsyncJetStreamPublisher, handle_jetstream
from hexalchemy.brokers.rabbitmq import AsyncRabbitMQPublisher, handle_rabbitmq
from hexalchemy.brokers.redis import RedisStreamConsumer, RedisStreamPublisher, StreamEntry
from hexalchemy.ports import InboxEntry, OutboxMessage, Route
from hexalchemy.rules import default_route
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyInbox,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    Schema,
    SqlAlchemyInbox,
    SqlAlchemyTransactionManager,
    TableMapping,
    create_async_engine,
    create_engine,
    inbox_mapping,
)
from tests.brokers.messages import batch, unique
from tests.brokers.services import AMQP_URL, NATS_URL, REDIS_URL, require


class BoomError(Exception):
    pass


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/consumer.db"


def _schema(url: str) -> tuple[Schema, TableMapping[InboxEntry, Any]]:
    schema = Schema()
    entries = inbox_mapping(schema)
    engine = create_engine(DatabaseConfig(url=url))
    schema.create_all(engine)
    engine.dispose()
    return schema, entries


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    require("Redis", REDIS_URL)
    connection = redis.Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


def _redo(message: OutboxMessage) -> Route:
    """A route whose dedup id changes at every call: the broker keeps every copy, only the inbox can drop them."""
    return attrs.evolve(default_route(message), dedup_id=str(uuid.uuid4()))


def test_the_redis_consumer_applies_each_message_once_and_acks_after_the_commit(
    client: redis.Redis, sqlite_url: str
) -> None:
    stream = unique("consumed")
    schema = Schema()
    entries = inbox_mapping(schema)
    engine = create_engine(DatabaseConfig(url=sqlite_url))
    schema.create_all(engine)
    transactions = SqlAlchemyTransactionManager(engine)
    applied: list[bytes] = []
    failing = {b"1"}

    def effect(entry: StreamEntry) -> None:
        if entry.payload in failing:
            failing.discard(entry.payload)
            raise BoomError("the first try of 1 fails")
        applied.append(entry.payload)

    handler = InboxHandler(transactions, SqlAlchemyInbox(entries, transactions, consumer="c"), effect)
    try:
        messages = batch(stream, 3)
        publisher = RedisStreamPublisher(client, route=_redo)
        publisher.publish(messages)
        publisher.publish(messages)  # six entries: each message twice
        first = RedisStreamConsumer(
            client, handler, stream=stream, group="g", consumer="a", claim_idle=dt.timedelta(milliseconds=1)
        )
        with pytest.raises(BoomError):
            first.run_once()
        # entry "1" was read but not acknowledged: another consumer of the group takes it over
        second = RedisStreamConsumer(
            client, handler, stream=stream, group="g", consumer="b", claim_idle=dt.timedelta(milliseconds=1)
        )
        while second.run_once() or first.run_once():
            pass
        assert sorted(applied) == [b"0", b"1", b"2"]
        assert client.xpending(stream, "g")["pending"] == 0
    finally:
        client.delete(stream)
        engine.dispose()


def test_a_redis_consumer_retries_what_it_failed_on_before_any_later_entry(
    client: redis.Redis, sqlite_url: str
) -> None:
    # found by the end-to-end oracle: the consumer read new entries before its own
    # unacknowledged one was idle for claim_idle, so a key's effects came out of order
    stream = unique("ordered")
    _, entries = _schema(sqlite_url)
    engine = create_engine(DatabaseConfig(url=sqlite_url))
    transactions = SqlAlchemyTransactionManager(engine)
    applied: list[bytes] = []
    failing = {b"1"}

    def effect(entry: StreamEntry) -> None:
        if entry.payload in failing:
            failing.discard(entry.payload)
            raise BoomError("the first try of 1 fails")
        applied.append(entry.payload)

    handler = InboxHandler(transactions, SqlAlchemyInbox(entries, transactions, consumer="c"), effect)
    try:
        publisher = RedisStreamPublisher(client)
        messages = batch(stream, 5)
        publisher.publish(messages[:3])
        consumer = RedisStreamConsumer(
            client, handler, stream=stream, group="g", consumer="a", claim_idle=dt.timedelta(minutes=5)
        )
        with pytest.raises(BoomError):
            consumer.run_once()
        publisher.publish(messages[3:])
        while consumer.run_once():
            pass
        assert applied == [b"0", b"1", b"2", b"3", b"4"]
        assert client.xpending(stream, "g")["pending"] == 0
    finally:
        client.delete(stream)
        engine.dispose()


async def test_handle_jetstream_applies_a_twice_stored_message_once(sqlite_url: str) -> None:
    require("NATS", NATS_URL)
    _, entries = _schema(sqlite_url)
    engine = create_async_engine(DatabaseConfig(url=sqlite_url))
    transactions = AsyncSqlAlchemyTransactionManager(engine)
    applied: list[bytes] = []

    async def effect(message: Msg) -> None:
        applied.append(message.data)

    handler = AsyncInboxHandler(
        transactions, AsyncSqlAlchemyInbox(entries, transactions, consumer="c"), effect
    )
    subject = unique("consumed")
    client = await nats.connect(NATS_URL)
    jetstream = client.jetstream()
    await jetstream.add_stream(name=subject, subjects=[subject])
    try:
        publisher = AsyncJetStreamPublisher(client, route=_redo)
        messages = batch(subject, 2)
        await publisher.publish(messages)
        await publisher.publish(messages)
        subscription = await jetstream.pull_subscribe(subject, durable="c")
        fetched = await subscription.fetch(4, timeout=5)
        outcomes = [await handle_jetstream(handler, message) for message in fetched]
        assert outcomes == [True, True, False, False] and applied == [b"0", b"1"]
        info = await jetstream.consumer_info(subject, "c")
        assert info.num_ack_pending == 0
    finally:
        await jetstream.delete_stream(subject)
        await client.close()
        await engine.dispose()


async def test_handle_rabbitmq_applies_a_republished_message_once(sqlite_url: str) -> None:
    require("RabbitMQ", AMQP_URL)
    _, entries = _schema(sqlite_url)
    engine = create_async_engine(DatabaseConfig(url=sqlite_url))
    transactions = AsyncSqlAlchemyTransactionManager(engine)
    applied: list[bytes] = []

    async def effect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        applied.append(message.body)

    handler = AsyncInboxHandler(
        transactions, AsyncSqlAlchemyInbox(entries, transactions, consumer="c"), effect
    )
    queue_name = unique("consumed")
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel()
    queue = await channel.declare_queue(queue_name)
    try:
        publisher = AsyncRabbitMQPublisher(connection)
        messages = batch(queue_name, 2)
        await publisher.publish(messages)
        await publisher.publish(messages)  # RabbitMQ keeps both copies
        outcomes = []
        while (message := await queue.get(fail=False)) is not None:
            outcomes.append(await handle_rabbitmq(handler, message))
        assert outcomes == [True, True, False, False] and applied == [b"0", b"1"]
        await publisher.aclose()
    finally:
        await channel.queue_delete(queue_name)
        await connection.close()
        await engine.dispose()
