"""The sync relay over the real stores: delivery, retries, dead letters, leases, stops and failures."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import attrs
import pytest
import sqlalchemy
from sqlalchemy import exc as sa_exc

from hexalchemy.outbox import DeliveryMode, OutboxRelay
from hexalchemy.ports import (
    AcknowledgeResult,
    ConfigError,
    DeadLetter,
    DeliveryResult,
    Lease,
    OutboxMessage,
    OutboxRelayStore,
    OutboxStats,
    PublishResult,
)
from hexalchemy.ports.outbox import Publish
from hexalchemy.testing import InMemoryOutboxRelayStore, InMemoryOutboxWriter, InMemoryTransactionManager
from hexalchemy.testing.publishers import CollectingPublisher
from tests.relay.conftest import FAST, MAX_ATTEMPTS, POLICY, Outbox, message


@pytest.fixture(params=list(DeliveryMode), ids=[mode.value for mode in DeliveryMode])
def delivery(request: pytest.FixtureRequest) -> DeliveryMode:
    """The tests that hold for both delivery modes run with each."""
    mode: DeliveryMode = request.param
    return mode


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        time.sleep(0.005)


@contextmanager
def running(relay: OutboxRelay, stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """Run ``relay`` in a thread for the duration of the block; stop it and check it stopped."""
    stop = stop if stop is not None else threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), name=f"relay-{relay.name}")
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive(), "the relay did not stop"


def ids(messages: Iterable[OutboxMessage]) -> list[uuid.UUID]:
    return [item.id for item in messages]


# --- one batch -------------------------------------------------------------------------------------


def test_run_once_delivers_committed_messages_and_never_rolled_back_ones(
    outbox: Outbox, delivery: DeliveryMode
) -> None:
    kept, lost, also_kept = message(), message(), message("k")
    outbox.commit(kept)
    outbox.roll_back(lost)
    outbox.commit(also_kept)
    publisher = CollectingPublisher()
    relay = OutboxRelay(outbox.store, publisher, delivery=delivery)

    assert relay.run_once() == 2
    assert sorted(publisher.delivered_ids) == sorted([kept.id, also_kept.id])
    assert relay.run_once() == 0
    assert relay.counters.published == 2
    assert relay.counters.batches == 1
    assert outbox.store.stats().pending == 0


def test_a_refused_message_is_retried_with_its_error(outbox: Outbox, delivery: DeliveryMode) -> None:
    good, refused = message(), message()
    outbox.commit(good, refused)
    publisher = CollectingPublisher()
    publisher.fail_message(refused.id, "broker: no such topic")
    relay = OutboxRelay(outbox.store, publisher, delivery=delivery)

    assert relay.run_once() == 2
    assert publisher.delivered_ids == [good.id]
    assert relay.counters.retried == 1
    publisher.heal()
    wait_until(lambda: relay.run_once() == 1)
    retried = publisher.delivered[-1]
    assert retried.id == refused.id
    assert retried.attempts == 2
    assert retried.last_error == "broker: no such topic"


class FirstOnlyPublisher:
    """A publisher that reports on the first message of each batch and forgets the others."""

    def __init__(self) -> None:
        self.seen: list[uuid.UUID] = []

    def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        self.seen.extend(ids(messages))
        return [PublishResult(messages[0].id)]


def test_a_message_the_publisher_does_not_report_on_is_retried(
    outbox: Outbox, delivery: DeliveryMode
) -> None:
    first, second = message(), message()
    outbox.commit(first, second)
    publisher = FirstOnlyPublisher()
    relay = OutboxRelay(outbox.store, publisher, delivery=delivery)

    assert relay.run_once() == 2
    assert relay.counters.published == 1
    assert relay.counters.retried == 1
    wait_until(lambda: relay.run_once() == 1)
    assert publisher.seen == [first.id, second.id, second.id]


def test_a_publisher_exception_fails_the_whole_batch(outbox: Outbox, delivery: DeliveryMode) -> None:
    first, second = message(), message()
    outbox.commit(first, second)
    publisher = CollectingPublisher()
    publisher.raise_on_publish(ConnectionError("broker unreachable"))
    relay = OutboxRelay(outbox.store, publisher, delivery=delivery)

    with pytest.raises(ConnectionError):
        relay.run_once()
    assert relay.counters.errors == 1
    assert relay.counters.retried == 2
    publisher.heal()
    publisher.raise_on_publish(None)
    wait_until(lambda: relay.run_once() >= 0 and len(publisher.delivered) == 2)
    assert sorted(publisher.delivered_ids) == sorted([first.id, second.id])
    assert {item.last_error for item in publisher.delivered} == {
        "the publisher raised ConnectionError: broker unreachable"
    }


# --- the loop ------------------------------------------------------------------------------------


def test_a_poison_message_is_dead_lettered_and_does_not_block_other_keys(
    outbox: Outbox, delivery: DeliveryMode
) -> None:
    poison, after_poison = message("a"), message("a")
    others = [message("b"), message("c"), message(None)]
    outbox.commit(poison, *others)
    outbox.commit(after_poison)
    publisher = CollectingPublisher()
    publisher.fail_message(poison.id, "cannot serialise")
    relay = OutboxRelay(outbox.store, publisher, **FAST, delivery=delivery)

    with running(relay):
        wait_until(lambda: set(ids(others)) <= set(publisher.delivered_ids))
        wait_until(lambda: after_poison.id in publisher.delivered_ids)

    tries = [item for item, _ in publisher.failed if item.id == poison.id]
    assert 1 <= len(tries) <= MAX_ATTEMPTS
    dead = outbox.store.dead_letters()
    assert [letter.message.id for letter in dead] == [poison.id]
    assert dead[0].error == "cannot serialise"
    assert dead[0].message.attempts == MAX_ATTEMPTS
    assert relay.counters.dead_lettered == 1
    assert relay.counters.retried == MAX_ATTEMPTS - 1
    # the key "a" went on once its head was dead-lettered
    assert publisher.delivered_ids.index(after_poison.id) >= 0
    assert poison.id not in publisher.delivered_ids


def test_the_loop_claims_again_at_once_after_a_batch(outbox: Outbox) -> None:
    messages = [message() for _ in range(5)]
    outbox.commit(*messages)
    publisher = CollectingPublisher()
    # an idle sleep would last 2 s: the three batches must come without one
    relay = OutboxRelay(outbox.store, publisher, batch_size=2, min_idle_delay=2, max_idle_delay=2)
    started = time.monotonic()
    with running(relay):
        wait_until(lambda: len(publisher.delivered) == 5, timeout=1.5)
    assert time.monotonic() - started < 1.9
    assert publisher.batches == 3
    assert relay.counters.batches == 3


def test_stop_lets_the_batch_in_flight_finish(outbox: Outbox) -> None:
    messages = [message() for _ in range(3)]
    outbox.commit(*messages)
    stop = threading.Event()
    publisher = CollectingPublisher(on_publish=lambda _batch: stop.set())
    relay = OutboxRelay(outbox.store, publisher, **FAST)

    relay.run(stop)  # returns once the batch is acknowledged

    assert sorted(publisher.delivered_ids) == sorted(ids(messages))
    assert relay.counters.published == 3
    assert outbox.store.stats() == OutboxStats(pending=0, leased=0, dead=0, oldest_pending_age=None)


class StopAfterClaim:
    """The real store, with one addition: the stop event is set as soon as a claim returns.

    This places the stop exactly between claim and publish, which no timing can.
    """

    def __init__(self, store: OutboxRelayStore, stop: threading.Event) -> None:
        self._store = store
        self._stop = stop

    def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        lease = self._store.claim(limit=limit, lease_for=lease_for)
        self._stop.set()
        return lease

    def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        return self._store.acknowledge(lease, ids)

    def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        return self._store.reject(lease, id, error, retry_after=retry_after)

    def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        return self._store.dead_letter(lease, id, error)

    def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        return self._store.release(lease, ids)

    def deliver(self, publish: Publish, /, *, limit: int) -> DeliveryResult:
        return self._store.deliver(publish, limit=limit)

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        return self._store.dead_letters(limit=limit)

    def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        return self._store.requeue(ids)

    def purge(self, *, dead_before: dt.datetime) -> int:
        return self._store.purge(dead_before=dead_before)

    def stats(self) -> OutboxStats:
        return self._store.stats()


def test_stop_releases_claimed_messages_not_yet_published(outbox: Outbox) -> None:
    messages = [message(), message("k")]
    outbox.commit(*messages)
    stop = threading.Event()
    publisher = CollectingPublisher()
    relay = OutboxRelay(StopAfterClaim(outbox.store, stop), publisher, **FAST)

    relay.run(stop)

    assert publisher.batches == 0
    assert relay.counters.released == 2
    lease = outbox.store.claim(limit=10, lease_for=dt.timedelta(seconds=5))
    assert sorted(ids(lease.messages)) == sorted(ids(messages))
    assert {item.attempts for item in lease.messages} == {1}  # the released claim did not count


def test_a_second_loop_on_the_same_relay_is_refused(outbox: Outbox) -> None:
    relay = OutboxRelay(outbox.store, CollectingPublisher(), **FAST)
    with running(relay):
        time.sleep(0.05)
        with pytest.raises(RuntimeError, match="already running"):
            relay.run(threading.Event())


def test_a_wake_up_hint_ends_the_idle_sleep(outbox: Outbox) -> None:
    wake_up = threading.Event()
    publisher = CollectingPublisher()
    relay = OutboxRelay(outbox.store, publisher, min_idle_delay=30, max_idle_delay=30, wake_up=wake_up)
    with running(relay):
        wait_until(lambda: outbox.store.stats().pending == 0)
        time.sleep(0.05)  # the relay found nothing and sleeps for 30 s
        late = message()
        outbox.commit(late)
        started = time.monotonic()
        wake_up.set()
        wait_until(lambda: publisher.delivered_ids == [late.id], timeout=5)
        assert time.monotonic() - started < 5
    assert not wake_up.is_set()


# --- leases ----------------------------------------------------------------------------------------


def test_an_abandoned_claim_is_delivered_by_another_relay_and_its_late_acknowledge_is_stale(
    outbox: Outbox,
) -> None:
    messages = [message("k"), message()]
    outbox.commit(*messages)
    dead_relay = outbox.store.claim(limit=10, lease_for=dt.timedelta(milliseconds=300))
    assert len(dead_relay.messages) == 2
    publisher = CollectingPublisher()
    relay = OutboxRelay(outbox.store, publisher)

    assert relay.run_once() == 0  # still leased to the dead relay
    wait_until(lambda: relay.run_once() == 2)
    # both follow a claim that ended with no outcome: each goes alone (poison isolation)
    assert len(publisher.delivered_ids) == 1 and relay.counters.isolated == 1
    assert relay.run_once() == 1
    assert sorted(publisher.delivered_ids) == sorted(ids(messages))

    late = outbox.store.acknowledge(dead_relay, ids(messages))
    assert late == AcknowledgeResult(done=0, stale=2)
    assert outbox.store.reject(dead_relay, messages[0].id, "late") == AcknowledgeResult(0, 1)
    assert outbox.store.stats() == OutboxStats(pending=0, leased=0, dead=0, oldest_pending_age=None)
    assert outbox.store.dead_letters() == []
    assert relay.run_once() == 0


def test_a_relay_that_outlives_its_lease_counts_the_duplicate_as_lease_lost(outbox: Outbox) -> None:
    only = message("k")
    outbox.commit(only)
    in_slow_publish, let_go = threading.Event(), threading.Event()

    def stall(_batch: Sequence[OutboxMessage]) -> None:
        if threading.current_thread().name == "slow":
            in_slow_publish.set()
            assert let_go.wait(10)

    publisher = CollectingPublisher(on_publish=stall)
    slow = OutboxRelay(outbox.store, publisher, lease_for=0.3, name="slow")
    fast = OutboxRelay(outbox.store, publisher, name="fast")
    slow_thread = threading.Thread(target=slow.run_once, name="slow")
    slow_thread.start()
    try:
        assert in_slow_publish.wait(10)
        wait_until(lambda: fast.run_once() == 1)  # after the slow relay's lease expired
    finally:
        let_go.set()
        slow_thread.join(10)

    assert publisher.delivered_ids == [only.id, only.id]
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


def test_the_loop_survives_a_dropped_table(sql_outbox: Outbox) -> None:
    outbox = sql_outbox
    assert outbox.tables is not None and outbox.engine is not None
    metadata = outbox.tables.messages.metadata
    publisher = CollectingPublisher()
    relay = OutboxRelay(outbox.store, publisher, **FAST)
    with running(relay):
        _drop_all_beside_the_relay(metadata, outbox.engine)
        wait_until(lambda: relay.counters.errors >= 2)
        metadata.create_all(outbox.engine)
        later = message()
        outbox.commit(later)
        wait_until(lambda: publisher.delivered_ids == [later.id])


def test_the_loop_survives_publisher_exceptions(
    outbox: Outbox, caplog: pytest.LogCaptureFixture, delivery: DeliveryMode
) -> None:
    patient = outbox.new_store(policy=attrs.evolve(POLICY, max_attempts=100))
    messages = [message(), message("k")]
    outbox.commit(*messages)
    publisher = CollectingPublisher()
    publisher.raise_on_publish(TimeoutError("broker timed out"))
    relay = OutboxRelay(patient, publisher, **FAST, delivery=delivery)
    with caplog.at_level(logging.INFO, logger="hexalchemy.outbox.relay"), running(relay):
        wait_until(lambda: relay.counters.errors >= 3)
        publisher.raise_on_publish(None)
        wait_until(lambda: sorted(publisher.delivered_ids) == sorted(ids(messages)))
    assert relay.counters.published == 2
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "TimeoutError: broker timed out" in failures[0].getMessage()
    # the traceback is logged for the first failure of each streak only
    recoveries = [record for record in caplog.records if "recovered after" in record.getMessage()]
    assert failures[0].exc_info and recoveries
    assert len([record for record in failures if record.exc_info]) <= len(recoveries)


@pytest.mark.postgresql
def test_the_loop_survives_lost_connections(
    postgresql_outbox: Outbox, postgresql_engine: sqlalchemy.Engine
) -> None:
    name = f"relay_{uuid.uuid4().hex[:8]}"
    assert postgresql_outbox.url is not None
    postgresql_outbox.url = f"{postgresql_outbox.url}?application_name={name}"
    store = postgresql_outbox.new_store()
    publisher = CollectingPublisher()
    relay = OutboxRelay(store, publisher, **FAST)
    terminate = sqlalchemy.text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
    )
    with running(relay):
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline or relay.counters.errors == 0:
            with postgresql_engine.connect() as connection:
                connection.execute(terminate, {"name": name})
            time.sleep(0.005)
        later = message()
        postgresql_outbox.commit(later)
        wait_until(lambda: publisher.delivered_ids == [later.id])
    assert relay.counters.errors >= 1


def test_an_in_memory_store_whose_clock_is_behind_the_messages_refuses_to_claim() -> None:
    transactions = InMemoryTransactionManager()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    store = InMemoryOutboxRelayStore(transactions, clock=lambda: past)
    with transactions.begin():
        InMemoryOutboxWriter(transactions).add(message())
    with pytest.raises(ConfigError, match=r"clock.*behind the messages"):
        store.claim(limit=10, lease_for=dt.timedelta(seconds=30))
