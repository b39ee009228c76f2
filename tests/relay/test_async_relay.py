"""The async relay over the real async stores: the same behaviour as the sync relay, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import pytest

from hexalchemy.outbox import AsyncOutboxRelay, DeliveryMode
from hexalchemy.ports import OutboxMessage, OutboxStats, PublishResult
from hexalchemy.testing.publishers import AsyncCollectingPublisher
from tests.relay.conftest import FAST, MAX_ATTEMPTS, AsyncOutbox, message


@pytest.fixture(params=list(DeliveryMode), ids=[mode.value for mode in DeliveryMode])
def delivery(request: pytest.FixtureRequest) -> DeliveryMode:
    """The tests that hold for both delivery modes run with each."""
    mode: DeliveryMode = request.param
    return mode


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.005)


async def test_run_once_delivers_and_retries(async_outbox: AsyncOutbox, delivery: DeliveryMode) -> None:
    good, refused = message(), message("k")
    await async_outbox.commit(good, refused)
    publisher = AsyncCollectingPublisher()
    publisher.fail_message(refused.id, "nope")
    relay = AsyncOutboxRelay(async_outbox.store, publisher, delivery=delivery)

    assert await relay.run_once() == 2
    assert publisher.delivered_ids == [good.id]
    assert relay.counters.retried == 1
    publisher.heal()
    while await relay.run_once() == 0:
        await asyncio.sleep(0.005)
    assert publisher.delivered_ids == [good.id, refused.id]
    assert publisher.delivered[-1].last_error == "nope"


async def test_a_publisher_exception_fails_the_batch_and_propagates(
    async_outbox: AsyncOutbox, delivery: DeliveryMode
) -> None:
    await async_outbox.commit(message())
    publisher = AsyncCollectingPublisher()
    publisher.raise_on_publish(ConnectionError("down"))
    relay = AsyncOutboxRelay(async_outbox.store, publisher, delivery=delivery)
    with pytest.raises(ConnectionError):
        await relay.run_once()
    assert relay.counters.errors == 1
    assert relay.counters.retried == 1


async def test_the_loop_dead_letters_a_poison_message_and_stops_gracefully(
    async_outbox: AsyncOutbox, delivery: DeliveryMode
) -> None:
    poison, others = message("a"), [message("b"), message()]
    await async_outbox.commit(poison, *others)
    publisher = AsyncCollectingPublisher()
    publisher.fail_message(poison.id, "poison")
    relay = AsyncOutboxRelay(async_outbox.store, publisher, **FAST, delivery=delivery)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_until(lambda: sorted(publisher.delivered_ids) == sorted(item.id for item in others))
        while not await async_outbox.store.dead_letters():
            await asyncio.sleep(0.005)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    dead = await async_outbox.store.dead_letters()
    assert [letter.message.id for letter in dead] == [poison.id]
    assert dead[0].message.attempts == MAX_ATTEMPTS
    assert relay.counters.published == 2


async def test_stop_lets_the_batch_in_flight_finish(async_outbox: AsyncOutbox) -> None:
    messages = [message(), message()]
    await async_outbox.commit(*messages)
    stop = asyncio.Event()
    publisher = AsyncCollectingPublisher(on_publish=lambda _batch: stop.set())
    relay = AsyncOutboxRelay(async_outbox.store, publisher, **FAST)
    await asyncio.wait_for(relay.run(stop), 10)
    assert relay.counters.published == 2
    assert await async_outbox.store.stats() == OutboxStats(0, 0, 0, None)


async def test_a_wake_up_hint_ends_the_idle_sleep(async_outbox: AsyncOutbox) -> None:
    wake_up = asyncio.Event()
    publisher = AsyncCollectingPublisher()
    relay = AsyncOutboxRelay(
        async_outbox.store, publisher, min_idle_delay=30, max_idle_delay=30, wake_up=wake_up
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.05)  # the relay found nothing and sleeps for 30 s
        late = message()
        await async_outbox.commit(late)
        wake_up.set()
        await wait_until(lambda: publisher.delivered_ids == [late.id], timeout=5)
        assert not wake_up.is_set()
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)  # the stop event also ends the sleep at once


async def test_the_loop_survives_publisher_exceptions(async_outbox: AsyncOutbox) -> None:
    publisher = AsyncCollectingPublisher()
    publisher.raise_on_publish(TimeoutError("slow broker"))
    relay = AsyncOutboxRelay(async_outbox.store, publisher, **FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        first = message()
        await async_outbox.commit(first)
        await wait_until(lambda: relay.counters.errors >= 1)
        publisher.raise_on_publish(None)
        second = message()
        await async_outbox.commit(second)
        await wait_until(lambda: second.id in publisher.delivered_ids)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert not task.cancelled()


async def test_cancelling_a_locked_delivery_gives_its_messages_back_at_once(
    async_outbox: AsyncOutbox,
) -> None:
    first = message()
    await async_outbox.commit(first)
    entered = asyncio.Event()

    class Hanging:
        async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
            entered.set()
            await asyncio.sleep(60)
            raise AssertionError("not cancelled")

    relay = AsyncOutboxRelay(async_outbox.store, Hanging(), delivery=DeliveryMode.LOCKED)
    task = asyncio.create_task(relay.run_once())
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    publisher = AsyncCollectingPublisher()
    again = AsyncOutboxRelay(async_outbox.store, publisher, delivery=DeliveryMode.LOCKED)
    assert await again.run_once() == 1  # at once: no lease to wait for, and no attempt counted
    assert [(item.id, item.attempts) for item in publisher.delivered] == [(first.id, 1)]


async def test_cancelling_the_task_stops_the_relay(async_outbox: AsyncOutbox) -> None:
    relay = AsyncOutboxRelay(async_outbox.store, AsyncCollectingPublisher(), **FAST)
    task = asyncio.create_task(relay.run(asyncio.Event()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the relay can run again: its running flag was reset
    stop = asyncio.Event()
    stop.set()
    await relay.run(stop)
