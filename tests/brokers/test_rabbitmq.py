"""The RabbitMQ publisher against the real broker (127.0.0.1:5672 guest/guest unless ``TEST_AMQP_URL``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection

from hexalchemy.brokers.rabbitmq import AsyncRabbitMQPublisher
from hexalchemy.ports import AsyncPublisher, ConfigError
from hexalchemy.rules.routes import MESSAGE_ID_HEADER
from tests.brokers.messages import batch, unique
from tests.brokers.services import AMQP_URL, require, restart


def _static_check(publisher: AsyncRabbitMQPublisher) -> AsyncPublisher:
    """Never called: mypy checks that the publisher implements its port."""
    return publisher


@pytest.fixture
async def connection() -> AsyncIterator[AbstractRobustConnection]:
    require("RabbitMQ", AMQP_URL)
    opened = await aio_pika.connect_robust(AMQP_URL)
    yield opened
    await opened.close()


@pytest.fixture
async def queue(connection: AbstractRobustConnection) -> AsyncIterator[str]:
    name = unique("queue")
    channel = await connection.channel()
    await channel.declare_queue(name, durable=True)
    yield name
    await channel.queue_delete(name)
    await channel.close()


@pytest.fixture
async def publisher() -> AsyncIterator[AsyncRabbitMQPublisher]:
    require("RabbitMQ", AMQP_URL)
    publisher = AsyncRabbitMQPublisher(AMQP_URL, timeout=5)
    yield publisher
    await publisher.aclose()


async def _drain(
    connection: AbstractRobustConnection, queue: str
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, durable=True, passive=True)
    found = []
    while (message := await declared.get(fail=False, no_ack=True)) is not None:
        found.append(message)
    await channel.close()
    return found


async def test_a_batch_lands_in_its_queue_in_order_persistent_and_with_its_id(
    connection: AbstractRobustConnection, queue: str, publisher: AsyncRabbitMQPublisher
) -> None:
    messages = batch(queue, 5, key="k")
    results = await publisher.publish(messages)
    assert [r.message_id for r in results] == [m.id for m in messages] and all(r.ok for r in results)
    received = await _drain(connection, queue)
    assert [m.body for m in received] == [b"0", b"1", b"2", b"3", b"4"]
    first = received[0]
    assert first.message_id == str(messages[0].id) == first.headers[MESSAGE_ID_HEADER]
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT and first.headers["n"] == "0"


async def test_an_unroutable_message_fails_for_good_and_its_batch_mates_land(
    connection: AbstractRobustConnection, queue: str, publisher: AsyncRabbitMQPublisher
) -> None:
    good, lost = batch(queue, 1)[0], batch(unique("no-queue"), 1)[0]
    results = {r.message_id: r for r in await publisher.publish([good, lost])}
    assert results[good.id].ok
    assert not results[lost.id].ok and results[lost.id].permanent
    assert [m.body for m in await _drain(connection, queue)] == [b"0"]


async def test_a_missing_exchange_is_a_config_error_naming_it_not_a_dead_batch(
    connection: AbstractRobustConnection,
) -> None:
    require("RabbitMQ", AMQP_URL)
    name, queue = unique("no-exchange"), unique("late")
    publisher = AsyncRabbitMQPublisher(AMQP_URL, exchange=name, timeout=5)
    try:
        with pytest.raises(ConfigError, match="does not exist on the broker") as raised:
            await publisher.publish(batch("anything", 2))
        assert (raised.value.option, raised.value.value) == ("exchange", name)
        # declared later, the same publisher publishes to it (a new channel)
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, auto_delete=True)
        declared = await channel.declare_queue(queue, auto_delete=True)
        await declared.bind(exchange, routing_key=queue)
        results = await publisher.publish(batch(queue, 2))
        assert all(r.ok for r in results), results
        await channel.close()
    finally:
        await publisher.aclose()


async def test_a_full_queue_that_rejects_publishes_fails_as_retryable(
    connection: AbstractRobustConnection, publisher: AsyncRabbitMQPublisher
) -> None:
    name = unique("full")
    channel = await connection.channel()
    await channel.declare_queue(name, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    try:
        results = await publisher.publish(batch(name, 3))
        assert [r.ok for r in results].count(True) == 1
        assert all(not r.permanent for r in results if not r.ok)
    finally:
        await channel.queue_delete(name)
        await channel.close()


async def test_an_unreachable_broker_fails_the_batch_as_retryable() -> None:
    publisher = AsyncRabbitMQPublisher("amqp://guest:guest@127.0.0.1:1/", timeout=1)
    results = await publisher.publish(batch("nowhere", 2))
    assert all(not r.ok and not r.permanent for r in results)
    await publisher.aclose()


async def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        AsyncRabbitMQPublisher(AMQP_URL, timeout=-1)
    with pytest.raises(ConfigError, match="connection"):
        AsyncRabbitMQPublisher(cast(Any, 42))
    with pytest.raises(ConfigError, match="exchange"):
        AsyncRabbitMQPublisher(AMQP_URL, exchange=cast(Any, None))


async def test_the_publisher_reconnects_after_a_broker_restart(
    connection: AbstractRobustConnection, queue: str, publisher: AsyncRabbitMQPublisher
) -> None:
    first = batch(queue, 2)
    assert all(r.ok for r in await publisher.publish(first))
    await asyncio.to_thread(restart, "rabbitmq", AMQP_URL)
    second = batch(queue, 3)
    pending = list(second)
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        results = await publisher.publish(pending)
        assert not any(r.permanent for r in results), results
        failed = {r.message_id for r in results if not r.ok}
        pending = [m for m in pending if m.id in failed]
        if pending:
            await asyncio.sleep(0.5)
    assert not pending
    await asyncio.sleep(0.5)
    received = {m.message_id for m in await _drain(connection, queue)}
    # persistent messages in a durable queue survive the restart; a republished one may come twice
    assert received == {str(m.id) for m in first + second}
