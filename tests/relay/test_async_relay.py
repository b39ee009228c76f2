"""What only the asyncio relay meets: its task cancelled.

Every other check of the relay is written once, in ``tests/relay/_async/test_relay.py``, for
both relays (the sync one's twin is generated into ``tests/relay/_sync/``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hexalchemy.outbox import AsyncOutboxRelay, DeliveryMode
from hexalchemy.ports import OutboxMessage, PublishResult
from hexalchemy.testing.publishers import AsyncCollectingPublisher
from tests.relay.conftest import FAST, AsyncOutbox, message


async def test_cancelling_a_locked_delivery_gives_its_messages_back_at_once_with_the_attempt_counted(
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
    assert await again.run_once() == 1  # at once: no lease to wait for
    # the cancelled delivery counts, as a relay that died would
    assert [(item.id, item.attempts) for item in publisher.delivered] == [(first.id, 2)]
    assert again.counters.isolated == 1


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
