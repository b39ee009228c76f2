# The async relay tests in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The relay over the real stores: delivery, retries, dead letters, leases, stops and failures.

Written once, for the asyncio relay; ``make generate`` writes the sync relay's twin in
``tests/relay/_sync/`` (threads where these use tasks: ``tests/relay/running.py``), so both
relays meet every check. What only a task meets (cancellation) is in ``test_async_relay.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable, Sequence

import attrs
import pytest
import sqlalchemy
from sqlalchemy import exc as sa_exc

from hexalchemy.outbox import AsyncOutboxRelay, DeliveryMode
from hexalchemy.ports import (
    AcknowledgeResult,
    AsyncOutboxRelayStore,
    ConfigError,
    DeadLetter,
    DeliveryResult,
    Lease,
    OutboxMessage,
    OutboxStats,
    PublishResult,
)
from hexalchemy.ports.outbox import AsyncPublish
from hexalchemy.testing import (
    AsyncInMemoryOutboxRelayStore,
    AsyncInMemoryOutboxWriter,
    AsyncInMemoryTransactionManager,
)
from hexalchemy.testing.publishers import AsyncCollectingPublisher
from tests.relay.conftest import FAST, MAX_ATTEMPTS, POLICY, AsyncOutbox, message
from tests.relay.running import (
    TIMEOUT,
    in_background_async,
    off_the_loop_async,
    pause_async,
    repeat_until_async,
    running_async,
    wait_for_event_async,
    wait_until_async,
)


def ids(messages: Iterable[OutboxMessage]) -> list[uuid.UUID]:
    return [item.id for item in messages]


# --- one batch -------------------------------------------------------------------------------------


async def test_run_once_delivers_committed_messages_and_never_rolled_back_ones(
    async_outbox: AsyncOutbox, delivery: DeliveryMode
) -> None:
    kept, lost, also_kept = message(), message(), message("k")
    await async_outbox.commit(kept)
    await async_outbox.roll_back(lost)
    await async_outbox.commit(also_kept)
    publisher = AsyncCollectingPublisher()
    relay = AsyncOutboxRelay(async_outbox.store, publisher, delivery=delivery)

    assert await relay.run_once() == 2
    assert sorted(publisher.delivered_ids) == sorted([kept.id, also_kept.id])
    assert await relay.run_once() == 0
    assert relay.counters.published == 2
    assert relay.counters.batches == 1
    assert (await async_outbox.store.stats()).pending == 0


async def test_a_refused_message_is_retried_with_its_error(
    async_outbox: AsyncOutbox, delivery: DeliveryMode
) -> None:
    good, refused = message(), message()
    await async_outbox.commit(good, refused)
    publisher = AsyncCollectingPublisher()
    publisher.fail_message(refused.id, "broker: no such topic")
    relay = AsyncOutboxRelay(async_outbox.store, publisher, delivery=delivery)

    assert await relay.run_once() == 2
    assert publisher.delivered_ids == [good.id]
    assert relay.counters.retried == 1
    publisher.heal()
    await repeat_until_async(relay.run_once, lambda published: published == 1)
    retried = publisher.delivered[-1]
    assert retried.id == refused.id
    assert retried.attempts == 2
    assert retried.last_error == "broker: no such topic"


class FirstOnlyPublisher:
    """A publisher that reports on the first message of each batch and forgets the others."""

    def __init__(self) -> None:
        self.seen: list[uuid.UUID] = []

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        self.seen.extend(ids(messages))
        return [PublishResult(messages[0].id)]


async def test_a_message_the_publisher_does_not_report_on_is_retried(
    async_outbox: AsyncOutbox, delivery: DeliveryMode
) -> None:
    first, second = message(), message()
    await async_outbox.commit(first, second)
    publisher = FirstOnlyPublisher()
    relay = AsyncOutboxRelay(async_outbox.store, publisher, delivery=delivery)

    assert await relay.run_once() == 2
    assert relay.counters.published == 1
    assert relay.counters.retried == 1
    await repeat_until_async(relay.run_once, lambda published: published == 1)
    assert publisher.seen == [first.id, second.id, second.id]


async def test_a_publisher_exception_fails_the_whole_batch(
    async_outbox: AsyncOutbox, delivery: DeliveryMode
) -> None:
    first, second = message(), message()
    await async_outbox.commit(first, second)
    publisher = AsyncCollectingPublisher()
    publisher.raise_on_publish(ConnectionError("broker unreachable"))
    relay = AsyncOutboxRelay(async_outbox.store, publisher, delivery=delivery)

    with pytest.raises(ConnectionError):
        await relay.run_once()
    assert relay.counters.errors == 1
    assert relay.counters.retried == 2
    publisher.heal()
    publisher.raise_on_publish(None)
    await repeat_until_async(relay.run_once, lambda _: len(publisher.delivered) == 2)
    assert sorted(publisher.delivered_ids) == sorted([first.id, second.id])
    assert {item.last_error for item in publisher.delivered} == {
        "the publisher raised ConnectionError: broker unreachable"
    }


# --- the loop ------------------------------------------------------------------------------------


async def test_a_poison_message_is_dead_lettered_and_does_not_block_other_keys(
    async_outbox: AsyncOutbox, delivery: DeliveryMode
) -> None:
    poison, after_poison = message("a"), message("a")
    others = [message("b"), message("c"), message(None)]
    await async_outbox.commit(poison, *others)
    await async_outbox.commit(after_poison)
    publisher = AsyncCollectingPublisher()
    publisher.fail_message(poison.id, "cannot serialise")
    relay = AsyncOutboxRelay(async_outbox.store, publisher, **FAST, delivery=delivery)

    async with running_async(relay):
        await wait_until_async(lambda: set(ids(others)) <= set(publisher.delivered_ids))
        await wait_until_async(lambda: after_poison.id in publisher.delivered_ids)

    tries = [item for item, _ in publisher.failed if item.id == poison.id]
    assert 1 <= len(tries) <= MAX_ATTEMPTS
    dead = await async_outbox.store.dead_letters()
    assert [letter.message.id for letter in dead] == [poison.id]
    assert dead[0].error == "cannot serialise"
    assert dead[0].message.attempts == MAX_ATTEMPTS
    assert relay.counters.dead_lettered == 1
    assert relay.counters.retried == MAX_ATTEMPTS - 1
    # the key "a" went on once its head was dead-lettered
    assert publisher.delivered_ids.index(after_poison.id) >= 0
    assert poison.id not in publisher.delivered_ids


async def test_the_loop_claims_again_at_once_after_a_batch(async_outbox: AsyncOutbox) -> None:
    messages = [message() for _ in range(5)]
    await async_outbox.commit(*messages)
    publisher = AsyncCollectingPublisher()
    # an idle sleep would last 2 s: the three batches must come without one
    relay = AsyncOutboxRelay(async_outbox.store, publisher, batch_size=2, min_idle_delay=2, max_idle_delay=2)
    async with running_async(relay):
        await wait_until_async(lambda: len(publisher.delivered) == 5, timeout=1.5)
    assert publisher.batches == 3
    assert relay.counters.batches == 3


async def test_stop_lets_the_batch_in_flight_finish(async_outbox: AsyncOutbox) -> None:
    messages = [message() for _ in range(3)]
    await async_outbox.commit(*messages)
    stop = asyncio.Event()
    publisher = AsyncCollectingPublisher(on_publish=lambda _batch: stop.set())
    relay = AsyncOutboxRelay(async_outbox.store, publisher, **FAST)

    await relay.run(stop)  # returns once the batch is acknowledged

    assert sorted(publisher.delivered_ids) == sorted(ids(messages))
    assert relay.counters.published == 3
    assert await async_outbox.store.stats() == OutboxStats(
        pending=0, leased=0, dead=0, oldest_pending_age=None
    )


class StopAfterClaim:
    """The real store, with one addition: the stop event is set as soon as a claim returns.

    This places the stop exactly between claim and publish, which no timing can.
    """

    def __init__(self, store: AsyncOutboxRelayStore, stop: asyncio.Event) -> None:
        self._store = store
        self._stop = stop

    async def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        lease = await self._store.claim(limit=limit, lease_for=lease_for)
        self._stop.set()
        return lease

    async def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        return await self._store.acknowledge(lease, ids)

    async def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        return await self._store.reject(lease, id, error, retry_after=retry_after)

    async def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        return await self._store.dead_letter(lease, id, error)

    async def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        return await self._store.release(lease, ids)

    async def deliver(self, publish: AsyncPublish, /, *, limit: int) -> DeliveryResult:
        return await self._store.deliver(publish, limit=limit)

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        return await self._store.dead_letters(limit=limit)

    async def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        return await self._store.requeue(ids)

    async def purge(self, *, dead_before: dt.datetime) -> int:
        return await self._store.purge(dead_before=dead_before)

    async def stats(self) -> OutboxStats:
        return await self._store.stats()


async def test_stop_releases_claimed_messages_not_yet_published(async_outbox: AsyncOutbox) -> None:
    messages = [message(), message("k")]
    await async_outbox.commit(*messages)
    stop = asyncio.Event()
    publisher = AsyncCollectingPublisher()
    relay = AsyncOutboxRelay(StopAfterClaim(async_outbox.store, stop), publisher, **FAST)

    await relay.run(stop)

    assert publisher.batches == 0
    assert relay.counters.released == 2
    lease = await async_outbox.store.claim(limit=10, lease_for=dt.timedelta(seconds=5))
    assert sorted(ids(lease.messages)) == sorted(ids(messages))
    assert {item.attempts for item in lease.messages} == {1}  # the released claim did not count


async def test_a_second_loop_on_the_same_relay_is_refused(async_outbox: AsyncOutbox) -> None:
    relay = AsyncOutboxRelay(async_outbox.store, AsyncCollectingPublisher(), **FAST)
    async with running_async(relay):
        await pause_async(0.05)
        with pytest.raises(RuntimeError, match="already running"):
            await relay.run(asyncio.Event())


async def test_a_wake_up_hint_ends_the_idle_sleep(async_outbox: AsyncOutbox) -> None:
    wake_up = asyncio.Event()
    publisher = AsyncCollectingPublisher()
    relay = AsyncOutboxRelay(
        async_outbox.store, publisher, min_idle_delay=30, max_idle_delay=30, wake_up=wake_up
    )
    async with running_async(relay):
        await pause_async(0.05)  # the relay found nothing and sleeps for 30 s
        late = message()
        await async_outbox.commit(late)
        wake_up.set()
        await wait_until_async(lambda: publisher.delivered_ids == [late.id], timeout=5)
    assert not wake_up.is_set()


# --- leases ----------------------------------------------------------------------------------------


async def test_an_abandoned_claim_is_delivered_by_another_relay_and_its_late_acknowledge_is_stale(
    async_outbox: AsyncOutbox,
) -> None:
    messages = [message("k"), message()]
    await async_outbox.commit(*messages)
    dead_relay = await async_outbox.store.claim(limit=10, lease_for=dt.timedelta(milliseconds=300))
    assert len(dead_relay.messages) == 2
    publisher = AsyncCollectingPublisher()
    relay = AsyncOutboxRelay(async_outbox.store, publisher)

    assert await relay.run_once() == 0  # still leased to the dead relay
    await repeat_until_async(relay.run_once, lambda published: published == 2)
    # both follow a claim that ended with no outcome: each goes alone (poison isolation)
    assert len(publisher.delivered_ids) == 1 and relay.counters.isolated == 1
    assert await relay.run_once() == 1
    assert sorted(publisher.delivered_ids) == sorted(ids(messages))

    late = await async_outbox.store.acknowledge(dead_relay, ids(messages))
    assert late == AcknowledgeResult(done=0, stale=2)
    assert await async_outbox.store.reject(dead_relay, messages[0].id, "late") == AcknowledgeResult(0, 1)
    assert await async_outbox.store.stats() == OutboxStats(
        pending=0, leased=0, dead=0, oldest_pending_age=None
    )
    assert await async_outbox.store.dead_letters() == []
    assert await relay.run_once() == 0


class StallingPublisher:
    """Publishes every message, after waiting for ``let_go`` (``entered`` is set while it waits)."""

    def __init__(self, delivered: list[uuid.UUID]) -> None:
        self.delivered = delivered
        self.entered, self.let_go = asyncio.Event(), asyncio.Event()

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        self.entered.set()
        await wait_for_event_async(self.let_go)
        self.delivered.extend(ids(messages))
        return [PublishResult(item.id) for item in messages]


async def test_a_relay_that_outlives_its_lease_counts_the_duplicate_as_lease_lost(
    async_outbox: AsyncOutbox,
) -> None:
    only = message("k")
    await async_outbox.commit(only)
    delivered: list[uuid.UUID] = []
    stalling = StallingPublisher(delivered)
    publisher = AsyncCollectingPublisher(on_publish=lambda batch: delivered.extend(ids(batch)))
    slow = AsyncOutboxRelay(async_outbox.store, stalling, lease_for=0.3, name="slow")
    fast = AsyncOutboxRelay(async_outbox.store, publisher, name="fast")
    async with in_background_async(slow.run_once, "slow"):
        try:
            await wait_for_event_async(stalling.entered)
            # after the slow relay's lease expired
            await repeat_until_async(fast.run_once, lambda published: published == 1)
        finally:
            stalling.let_go.set()

    assert delivered == [only.id, only.id]
    assert slow.counters.lease_lost == 1
    assert fast.counters.lease_lost == 0
    assert (slow.counters + fast.counters).published == 2


# --- failures --------------------------------------------------------------------------------------


def _drop_all_beside_the_relay(metadata: sqlalchemy.MetaData, engine: sqlalchemy.Engine) -> None:
    """Drop the outbox tables while the relay claims from them.

    The DROPs lock the tables one by one while a claim holds some of them: PostgreSQL may
    end the cycle by aborting the DROP (a deadlock, SQLSTATE 40P01), which is then tried again.
    """
    for attempt in range(10):
        try:
            metadata.drop_all(engine)
            return
        except sa_exc.OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != "40P01" or attempt == 9:
                raise


async def test_the_loop_survives_a_dropped_table(async_sql_outbox: AsyncOutbox) -> None:
    outbox = async_sql_outbox
    assert outbox.tables is not None and outbox.engine is not None
    metadata = outbox.tables.messages.metadata
    engine = outbox.engine
    publisher = AsyncCollectingPublisher()
    relay = AsyncOutboxRelay(outbox.store, publisher, **FAST)
    async with running_async(relay):
        # the DDL runs on a sync engine: off the event loop, so that the relay goes on meanwhile
        await off_the_loop_async(lambda: _drop_all_beside_the_relay(metadata, engine))
        await wait_until_async(lambda: relay.counters.errors >= 2)
        await off_the_loop_async(lambda: metadata.create_all(engine))
        later = message()
        await outbox.commit(later)
        await wait_until_async(lambda: publisher.delivered_ids == [later.id])


async def test_the_loop_survives_publisher_exceptions(
    async_outbox: AsyncOutbox, caplog: pytest.LogCaptureFixture, delivery: DeliveryMode
) -> None:
    patient = async_outbox.new_store(attrs.evolve(POLICY, max_attempts=100))
    messages = [message(), message("k")]
    await async_outbox.commit(*messages)
    publisher = AsyncCollectingPublisher()
    publisher.raise_on_publish(TimeoutError("broker timed out"))
    relay = AsyncOutboxRelay(patient, publisher, **FAST, delivery=delivery)
    with caplog.at_level(logging.INFO, logger="hexalchemy.outbox.relay"):
        async with running_async(relay):
            await wait_until_async(lambda: relay.counters.errors >= 3)
            publisher.raise_on_publish(None)
            await wait_until_async(lambda: sorted(publisher.delivered_ids) == sorted(ids(messages)))
    assert relay.counters.published == 2
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "TimeoutError: broker timed out" in failures[0].getMessage()
    # the traceback is logged for the first failure of each streak only
    recoveries = [record for record in caplog.records if "recovered after" in record.getMessage()]
    assert failures[0].exc_info and recoveries
    assert len([record for record in failures if record.exc_info]) <= len(recoveries)


@pytest.mark.postgresql
async def test_the_loop_survives_lost_connections(
    async_postgresql_outbox: AsyncOutbox, postgresql_engine: sqlalchemy.Engine
) -> None:
    outbox = async_postgresql_outbox
    name = f"relay_{uuid.uuid4().hex[:8]}"
    assert outbox.url is not None
    outbox.url = f"{outbox.url}?application_name={name}"
    store = outbox.new_store()
    publisher = AsyncCollectingPublisher()
    relay = AsyncOutboxRelay(store, publisher, **FAST)
    terminate = sqlalchemy.text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
    )

    def kill_its_connections() -> None:
        with postgresql_engine.connect() as connection:
            connection.execute(terminate, {"name": name})

    async with running_async(relay):
        started = time.monotonic()
        while time.monotonic() < started + 0.5 or relay.counters.errors == 0:
            assert time.monotonic() < started + TIMEOUT, "the relay never lost its connection"
            await off_the_loop_async(kill_its_connections)
            await pause_async(0.005)
        later = message()
        await outbox.commit(later)
        await wait_until_async(lambda: publisher.delivered_ids == [later.id])
    assert relay.counters.errors >= 1


async def test_an_in_memory_store_whose_clock_is_behind_the_messages_refuses_to_claim() -> None:
    transactions = AsyncInMemoryTransactionManager()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    store = AsyncInMemoryOutboxRelayStore(transactions, clock=lambda: past)
    async with transactions.begin():
        await AsyncInMemoryOutboxWriter(transactions).add(message())
    with pytest.raises(ConfigError, match=r"clock.*behind the messages"):
        await store.claim(limit=10, lease_for=dt.timedelta(seconds=30))


# --- pipelined ------------------------------------------------------------------------------------


async def test_a_pipelined_relay_delivers_everything_once_in_key_order(async_outbox: AsyncOutbox) -> None:
    keys = ["a", "b", "c", "d"]
    messages = [message(keys[number % 5]) if number % 5 < 4 else message() for number in range(60)]
    for start in range(0, len(messages), 6):
        await async_outbox.commit(*messages[start : start + 6])
    refused: set[uuid.UUID] = set()

    def once(candidate: OutboxMessage) -> str | None:
        if candidate.id.int % 7 == 0 and candidate.id not in refused:
            refused.add(candidate.id)
            return "try again"
        return None

    publisher = AsyncCollectingPublisher()
    publisher.fail_when(once)
    relay = AsyncOutboxRelay(async_outbox.store, publisher, batch_size=4, pipelined=True, **FAST)

    async with running_async(relay):
        await wait_until_async(lambda: set(publisher.delivered_ids) == set(ids(messages)))

    assert sorted(publisher.delivered_ids) == sorted(ids(messages))  # each once
    position = {id: index for index, id in enumerate(publisher.delivered_ids)}
    for key in keys:
        mine = [position[item.id] for item in messages if item.ordering_key == key]
        assert mine == sorted(mine), f"key {key} was delivered out of order"
    counters = relay.counters
    assert (counters.published, counters.retried, counters.errors) == (60, len(refused), 0)
    assert (counters.lease_lost, counters.dead_lettered, counters.released) == (0, 0, 0)
    assert await async_outbox.store.stats() == OutboxStats(
        pending=0, leased=0, dead=0, oldest_pending_age=None
    )


async def test_drain_runs_batches_until_a_claim_finds_nothing(async_outbox: AsyncOutbox) -> None:
    for pipelined in (False, True):
        # the key's second message is due only once its first is acknowledged
        await async_outbox.commit(*[message() for _ in range(7)], message("k"), message("k"))
        publisher = AsyncCollectingPublisher()
        relay = AsyncOutboxRelay(async_outbox.store, publisher, batch_size=3, pipelined=pipelined)
        assert await relay.drain() == 9
        assert relay.counters.published == 9 and publisher.batches == relay.counters.batches
        assert await async_outbox.store.stats() == OutboxStats(
            pending=0, leased=0, dead=0, oldest_pending_age=None
        )
        assert await relay.drain() == 0


async def test_a_pipelined_relay_gives_back_the_batch_claimed_ahead_when_the_publisher_raises(
    async_outbox: AsyncOutbox,
) -> None:
    messages = [message() for _ in range(6)]
    await async_outbox.commit(*messages)
    publisher = AsyncCollectingPublisher()
    publisher.raise_on_publish(ConnectionError("broker unreachable"))
    relay = AsyncOutboxRelay(async_outbox.store, publisher, batch_size=2, pipelined=True)

    with pytest.raises(ConnectionError):
        await relay.drain()
    counters = relay.counters
    assert (counters.errors, counters.retried, counters.released, counters.published) == (1, 2, 2, 0)
    stats = await async_outbox.store.stats()
    assert (stats.pending, stats.leased) == (6, 0)
    # the batch claimed ahead was given back without counting its attempt
    publisher.raise_on_publish(None)
    await repeat_until_async(relay.drain, lambda _: len(publisher.delivered) == 6)
    attempts = {item.id: item.attempts for item in publisher.delivered}
    assert sorted(attempts.values()) == [1, 1, 1, 1, 2, 2]


async def test_stopping_a_pipelined_relay_settles_what_was_published_and_releases_the_rest(
    async_outbox: AsyncOutbox,
) -> None:
    messages = [message() for _ in range(6)]
    await async_outbox.commit(*messages)
    stop = asyncio.Event()
    publisher = AsyncCollectingPublisher(on_publish=lambda _batch: stop.set())
    relay = AsyncOutboxRelay(async_outbox.store, publisher, batch_size=2, pipelined=True, **FAST)

    await relay.run(stop)

    assert publisher.batches == 1
    counters = relay.counters
    assert (counters.published, counters.released) == (2, 2)  # the batch claimed ahead went back
    stats = await async_outbox.store.stats()
    assert (stats.pending, stats.leased) == (4, 0)


async def test_a_pipelined_relay_publishes_a_suspect_alone_with_nothing_else_in_flight(
    async_outbox: AsyncOutbox,
) -> None:
    suspect = message("k")
    await async_outbox.commit(suspect)
    dead_relay = await async_outbox.store.claim(limit=10, lease_for=dt.timedelta(milliseconds=300))
    assert ids(dead_relay.messages) == [suspect.id]
    others = [message() for _ in range(4)]
    await async_outbox.commit(*others)
    batches: list[list[uuid.UUID]] = []
    publisher = AsyncCollectingPublisher(on_publish=lambda batch: batches.append(ids(batch)))
    relay = AsyncOutboxRelay(async_outbox.store, publisher, batch_size=10, pipelined=True)

    await repeat_until_async(relay.drain, lambda _: suspect.id in publisher.delivered_ids)
    assert [suspect.id] in batches and relay.counters.isolated == 1
    assert sorted(publisher.delivered_ids) == sorted(ids([suspect, *others]))
    assert await async_outbox.store.stats() == OutboxStats(
        pending=0, leased=0, dead=0, oldest_pending_age=None
    )
