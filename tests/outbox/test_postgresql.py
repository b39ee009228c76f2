"""PostgreSQL-specific outbox behaviour: concurrent relays and producers, one-statement claims, the plan."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs
import pytest
import sqlalchemy
from sqlalchemy import Engine, select, text
from sqlalchemy.pool import QueuePool

from hexalchemy.ports import AcknowledgeResult, DeadlockError, Lease, OutboxMessage, PublishResult
from hexalchemy.pytest_plugin import AsyncSqlOutboxHarness as AsyncSqlHarness
from hexalchemy.pytest_plugin import SqlOutboxHarness as SqlHarness
from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import DatabaseConfig, SqlAlchemyOutboxRelayStore, create_async_engine
from hexalchemy.sqlalchemy.postgresql._deliveries import transaction_token
from hexalchemy.sqlalchemy.postgresql._driver import DriverQuery
from hexalchemy.sqlalchemy.postgresql._relay import LockingDueMessages
from hexalchemy.testing.contracts._support import run_in_threads
from tests.outbox.tables import POLICY, PREFIX, TABLES
from tests.postgresql import POSTGRESQL_URL, aborted_writes
from tests.statements import counting_statements, sqlalchemy_statements

pytestmark = pytest.mark.postgresql

LONG: Final = dt.timedelta(minutes=10)


def commit(harness: SqlHarness, messages: list[OutboxMessage]) -> None:
    with harness.transactions.begin():
        harness.writer.add_all(messages)


def sequences(harness: SqlHarness, key: str) -> dict[uuid.UUID, int]:
    messages = TABLES.messages
    with harness.engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.id, messages.c.key_sequence).where(messages.c.ordering_key == key)
        ).all()
    return {row[0]: row[1] for row in rows}


# -- concurrent relays ---------------------------------------------------------------------------


def test_concurrent_claimers_never_lease_a_message_twice(postgresql_outbox: SqlHarness) -> None:
    messages = [new_message("t", str(i).encode()) for i in range(600)]
    commit(postgresql_outbox, messages)
    start = threading.Barrier(8)

    def relay() -> list[Lease]:
        start.wait()
        leases: list[Lease] = []
        while True:
            lease = postgresql_outbox.relay.claim(limit=7, lease_for=LONG)
            if not lease.messages:
                return leases
            leases.append(lease)

    outcomes = run_in_threads([relay] * 8)
    leases = [lease for outcome in outcomes if isinstance(outcome, list) for lease in outcome]
    assert [outcome for outcome in outcomes if not isinstance(outcome, list)] == []
    claimed = [message.id for lease in leases for message in lease.messages]
    assert all(len(lease.messages) <= 7 for lease in leases)
    assert len(claimed) == len(set(claimed))  # never leased twice
    assert set(claimed) == {message.id for message in messages}  # and every message leased
    assert postgresql_outbox.relay.stats().leased == 600


def test_concurrent_claimers_respect_ordering_keys(postgresql_outbox: SqlHarness) -> None:
    keys = [f"key-{i}" for i in range(5)]
    commit(postgresql_outbox, [new_message("t", b"", ordering_key=key) for key in keys * 4])

    def relay() -> list[str]:
        lease = postgresql_outbox.relay.claim(limit=100, lease_for=LONG)
        return [str(message.ordering_key) for message in lease.messages]

    outcomes = run_in_threads([relay] * 6)
    claimed = [key for outcome in outcomes if isinstance(outcome, list) for key in outcome]
    # one message per key at a time, whichever relay got it
    assert sorted(claimed) == keys


# -- locked delivery ----------------------------------------------------------------------------------


def test_a_locked_delivery_hides_its_messages_and_holds_their_keys(postgresql_outbox: SqlHarness) -> None:
    a1, a2, b1, free = (
        new_message("t", b"a1", ordering_key="a"),
        new_message("t", b"a2", ordering_key="a"),
        new_message("t", b"b1", ordering_key="b"),
        new_message("t", b"free"),
    )
    commit(postgresql_outbox, [a1, a2, b1])
    other = SqlAlchemyOutboxRelayStore(TABLES, postgresql_outbox.engine, policy=POLICY)
    seen_meanwhile: list[list[uuid.UUID]] = []

    def publish(messages: Sequence[OutboxMessage]) -> list[PublishResult]:
        commit(postgresql_outbox, [free])  # committed while the delivery holds its locks
        lease = other.claim(limit=100, lease_for=LONG)
        seen_meanwhile.append([message.id for message in lease.messages])
        other.release(lease, [message.id for message in lease.messages])
        inner = other.deliver(lambda batch: [PublishResult(m.id) for m in batch], limit=100)
        seen_meanwhile.append([] if inner.messages == 0 else [free.id])
        return [PublishResult(message.id) for message in messages]

    result = postgresql_outbox.relay.deliver(publish, limit=2)
    assert (result.messages, result.published) == (2, 2)
    # the other relay saw neither the locked messages nor a2 (its key is held), only the new one
    assert seen_meanwhile == [[free.id], [free.id]]
    assert [m.id for m in other.claim(limit=100, lease_for=LONG).messages] == [a2.id]


def record_driver_queries(monkeypatch: pytest.MonkeyPatch, runner: str) -> list[str]:
    """Record the SQL of every query that ``DriverQuery``'s method ``runner`` sends, in order."""
    sent: list[str] = []
    query = getattr(DriverQuery, runner)

    def counted(step: DriverQuery) -> Any:
        sent.append(step.sql)
        return query(step)

    monkeypatch.setattr(DriverQuery, runner, counted)
    return sent


@pytest.fixture
def driver_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every query sent on the psycopg cursor directly (the pre-compiled paths), in order."""
    return record_driver_queries(monkeypatch, "run")


def test_a_successful_locked_delivery_is_one_take_and_its_record(
    postgresql_outbox: SqlHarness, driver_statements: list[str]
) -> None:
    # The take, then (on a second connection, in autocommit, committed without waiting for
    # the disk) one statement: the search for finished deliveries and the record of this
    # one; the delivery's own transaction does not touch its record.
    commit(postgresql_outbox, [new_message("t", str(i).encode()) for i in range(40)])
    result = postgresql_outbox.relay.deliver(lambda batch: [PublishResult(m.id) for m in batch], limit=20)
    assert result.published == 20
    # both are pre-compiled and run on the psycopg cursor
    assert len(driver_statements) == 2
    assert all(statement.lstrip().upper().startswith("WITH") for statement in driver_statements)
    assert "pg_xact_status" in driver_statements[1] and "set_config" in driver_statements[1]
    # with the fast paths off, the same statements go through SQLAlchemy
    with sqlalchemy_statements(postgresql_outbox.engine) as statements:
        result = postgresql_outbox.relay.deliver(lambda batch: [PublishResult(m.id) for m in batch], limit=50)
    assert result.published == 20
    assert len(driver_statements) == 2
    assert [statement.split()[0] for statement in statements] == ["WITH", "WITH"]
    assert "_deliveries" in statements[1] and "_deliveries" not in statements[0]
    with postgresql_outbox.engine.connect() as connection:  # the last record stays until a delivery finds it
        (left,) = connection.execute(sqlalchemy.select(TABLES.deliveries.c.message_ids)).all()
    assert len(left[0]) == 20


def test_a_record_from_another_cluster_is_forgotten_and_counts_nothing(postgresql_outbox: SqlHarness) -> None:
    # restored from a dump of a cluster whose transaction ids ran further than this one's
    messages = [new_message("t", str(i).encode()) for i in range(3)]
    commit(postgresql_outbox, messages)
    foreign = transaction_token(2**62)
    with postgresql_outbox.engine.begin() as connection:
        connection.execute(
            sqlalchemy.insert(TABLES.deliveries).values(
                token=foreign,
                message_ids=[str(message.id) for message in messages],
                started_at=sqlalchemy.func.now(),
            )
        )
    result = postgresql_outbox.relay.deliver(lambda batch: [PublishResult(m.id) for m in batch], limit=10)
    assert (result.messages, result.published, result.isolated, result.error) == (3, 3, 0, None)
    with postgresql_outbox.engine.connect() as connection:
        assert connection.execute(select(TABLES.crashes)).all() == []
        tokens = connection.execute(select(TABLES.deliveries.c.token)).scalars().all()
    assert foreign not in tokens


def test_claims_and_deliveries_come_in_delivery_order_with_utc_times_whatever_the_session_zone(
    outbox_postgresql: Engine, driver_statements: list[str]
) -> None:
    # The server sorts the leased or taken rows; the session's zone must not leak into the messages.
    engine = sqlalchemy.create_engine(POSTGRESQL_URL, connect_args={"options": "-c TimeZone=Asia/Kolkata"})
    try:
        harness = SqlHarness(engine, TABLES)
        now = dt.datetime.now(dt.UTC)
        messages = [
            new_message("t", str(i).encode(), available_at=now - dt.timedelta(seconds=(i * 7) % 50))
            for i in range(300)
        ]
        commit(harness, messages)
        lease = harness.relay.claim(limit=120, lease_for=LONG)
        published: list[OutboxMessage] = []

        def publish(batch: Sequence[OutboxMessage]) -> list[PublishResult]:
            published.extend(batch)
            return [PublishResult(message.id) for message in batch]

        assert harness.relay.deliver(publish, limit=1_000).published == 180
    finally:
        engine.dispose()
    assert len(driver_statements) == 3  # the claim, the take and its record, on the psycopg cursor
    expected = [
        attrs.evolve(message, attempts=1)
        for message in sorted(messages, key=lambda message: (message.available_at, message.id))
    ]
    assert list(lease.messages) == expected[:120]
    assert published == expected[120:]
    assert lease.expires_at.tzinfo is dt.UTC and lease.expires_at > now + LONG - dt.timedelta(minutes=1)
    delivered = [*lease.messages, *published]
    assert {(m.created_at.tzinfo, m.available_at.tzinfo) for m in delivered} == {(dt.UTC, dt.UTC)}


def test_adding_one_message_runs_the_precompiled_insert_and_agrees_with_sqlalchemy(
    postgresql_outbox: SqlHarness, driver_statements: list[str]
) -> None:
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=-3)))
    fast, slow = (
        new_message("t", body, headers={"h": "é"}, idempotency_key="same", now=now)
        for body in (b"fast", b"slow")
    )
    with postgresql_outbox.transactions.begin():
        assert postgresql_outbox.writer.add(fast)
        assert not postgresql_outbox.writer.add(attrs.evolve(fast, id=uuid.uuid4()))  # its key again
    assert len(driver_statements) == 2  # both on the psycopg cursor
    # with the fast paths off they go through SQLAlchemy, where a listener sees them
    with (
        sqlalchemy_statements(postgresql_outbox.engine) as statements,
        postgresql_outbox.transactions.begin(),
    ):
        assert not postgresql_outbox.writer.add(slow)  # through SQLAlchemy: the same refusal
        assert postgresql_outbox.writer.add(attrs.evolve(slow, idempotency_key="other"))
    assert len(statements) == 2 and len(driver_statements) == 2
    (stored, other) = postgresql_outbox.relay.claim(limit=10, lease_for=LONG).messages
    assert stored == attrs.evolve(fast, attempts=1)
    assert (stored.created_at, stored.created_at.tzinfo, stored.headers) == (now, dt.UTC, {"h": "é"})
    assert other.payload == b"slow"


def test_concurrent_locked_deliveries_never_deliver_a_message_twice(postgresql_outbox: SqlHarness) -> None:
    keys = [None, "k1", "k2", "k3"]
    messages = [new_message("t", str(i).encode(), ordering_key=keys[i % 4]) for i in range(400)]
    commit(postgresql_outbox, messages)
    start = threading.Barrier(6)
    stores = [SqlAlchemyOutboxRelayStore(TABLES, postgresql_outbox.engine, policy=POLICY) for _ in range(6)]

    def relay(store: SqlAlchemyOutboxRelayStore) -> list[OutboxMessage]:
        start.wait()
        delivered: list[OutboxMessage] = []

        def publish(batch: Sequence[OutboxMessage]) -> list[PublishResult]:
            delivered.extend(batch)
            return [PublishResult(message.id) for message in batch]

        while store.deliver(publish, limit=9).messages:
            pass
        return delivered

    outcomes = run_in_threads([functools.partial(relay, store) for store in stores])
    assert [outcome for outcome in outcomes if not isinstance(outcome, list)] == []
    delivered = [message for outcome in outcomes if isinstance(outcome, list) for message in outcome]
    assert sorted(m.id for m in delivered) == sorted(m.id for m in messages)  # each exactly once
    assert postgresql_outbox.relay.stats().pending == 0


# -- one statement, and an index scan --------------------------------------------------------------


def test_a_claim_is_one_statement(postgresql_outbox: SqlHarness) -> None:
    commit(postgresql_outbox, [new_message("t", b"", ordering_key="k") for _ in range(3)])
    with counting_statements(postgresql_outbox.engine) as statements:
        lease = postgresql_outbox.relay.claim(limit=10, lease_for=LONG)
    assert len(lease.messages) == 1
    assert len(statements) == 1, statements


def test_a_claim_that_dead_letters_is_still_one_statement(postgresql_outbox: SqlHarness) -> None:
    exhausted, fresh = new_message("t", b"1"), new_message("t", b"2")
    commit(postgresql_outbox, [exhausted, fresh])
    with postgresql_outbox.engine.begin() as connection:
        connection.execute(
            TABLES.messages.update()
            .where(TABLES.messages.c.id == exhausted.id)
            .values(attempts=POLICY.max_attempts)
        )
    with counting_statements(postgresql_outbox.engine) as statements:
        lease = postgresql_outbox.relay.claim(limit=10, lease_for=LONG)
    assert len(statements) == 1, statements
    assert [message.id for message in lease.messages] == [fresh.id]
    assert [letter.message.id for letter in postgresql_outbox.relay.dead_letters()] == [exhausted.id]


def test_the_claim_walks_the_due_index(postgresql_outbox: SqlHarness) -> None:
    engine = postgresql_outbox.engine
    with engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {TABLES.messages.name} (id, topic, payload, headers, ordering_key, key_sequence,"
                " created_at, available_at, attempts)"
                " SELECT gen_random_uuid(), 't', '\\x00', '{}',"
                " CASE WHEN i % 2 = 0 THEN 'k' || (i % 100) END, CASE WHEN i % 2 = 0 THEN i END,"
                " now() - interval '1 hour' + i * interval '1 ms', now() - interval '1 hour' + i * interval '1 ms', 0"
                " FROM generate_series(1, 20000) AS i"
            )
        )
        connection.execute(text(f"ANALYZE {TABLES.messages.name}"))
    due = postgresql_outbox.relay._core.due_messages
    assert isinstance(due, LockingDueMessages)
    statement = due.claim_statement
    compiled = statement.compile(dialect=engine.dialect)
    parameters = compiled.construct_params(
        {
            "hx_limit": 10,
            "hx_max_attempts": POLICY.max_attempts,
            "hx_error": "x",
            "hx_token": uuid.uuid4(),
            "hx_lease": LONG,
        }
    )
    with engine.connect() as connection:
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}", parameters))
    assert f"Index Scan using {PREFIX}_due" in plan, plan
    assert "Seq Scan" not in plan, plan
    # and the claim does what the plan says: ten messages, the oldest first
    lease = postgresql_outbox.relay.claim(limit=10, lease_for=LONG)
    assert len(lease.messages) == 10


# -- concurrent producers of one ordering key --------------------------------------------------------


def test_concurrent_producers_of_a_key_get_gapless_sequences_in_commit_order(
    postgresql_outbox: SqlHarness,
) -> None:
    start = threading.Barrier(6)

    def producer(worker: int) -> Callable[[], list[uuid.UUID]]:
        def run() -> list[uuid.UUID]:
            start.wait()
            committed: list[uuid.UUID] = []
            for round in range(8):
                batch = [
                    new_message("t", f"{worker}-{round}-{i}".encode(), ordering_key="shared")
                    for i in range(1 + round % 3)
                ]
                try:
                    with postgresql_outbox.transactions.begin():
                        postgresql_outbox.writer.add_all(batch)
                        if round % 3 == 2:
                            raise RuntimeError("rolled back on purpose")
                except RuntimeError:
                    continue
                committed.extend(message.id for message in batch)
            return committed

        return run

    outcomes = run_in_threads([producer(worker) for worker in range(6)])
    committed_by_worker = [outcome for outcome in outcomes if isinstance(outcome, list)]
    assert len(committed_by_worker) == 6, outcomes
    numbers = sequences(postgresql_outbox, "shared")
    assert sorted(numbers.values()) == list(range(1, len(numbers) + 1))  # no gaps, no repeats
    assert set(numbers) == {id for committed in committed_by_worker for id in committed}
    for committed in committed_by_worker:  # each producer's commits are numbered in its order
        assert [numbers[id] for id in committed] == sorted(numbers[id] for id in committed)
    # and the relay delivers them in that order
    delivered: list[uuid.UUID] = []
    while (lease := postgresql_outbox.relay.claim(limit=10, lease_for=LONG)).messages:
        ids = [message.id for message in lease.messages]
        delivered.extend(ids)
        postgresql_outbox.relay.acknowledge(lease, ids)
    assert delivered == sorted(numbers, key=numbers.__getitem__)


def test_a_key_is_numbered_in_commit_order_and_locked_only_at_the_commit(
    postgresql_outbox: SqlHarness,
) -> None:
    first, second = (
        new_message("t", b"1", ordering_key="k"),
        new_message("t", b"2", ordering_key="k"),
    )
    added = threading.Event()
    finish = threading.Event()
    second_done = threading.Event()

    def first_producer() -> None:
        with postgresql_outbox.transactions.begin():
            postgresql_outbox.writer.add(first)
            added.set()
            assert finish.wait(10)

    def second_producer() -> None:
        assert added.wait(10)
        with postgresql_outbox.transactions.begin():
            postgresql_outbox.writer.add(second)
        second_done.set()

    def conductor() -> bool:
        assert added.wait(10)
        went_on = second_done.wait(10)  # the first producer holds no key lock until its commit
        finish.set()
        return went_on

    outcomes = run_in_threads([first_producer, second_producer, conductor])
    assert outcomes == [None, None, True]
    assert sequences(postgresql_outbox, "k") == {second.id: 1, first.id: 2}  # commit order


def test_producers_adding_overlapping_keys_in_opposite_orders_do_not_deadlock(
    postgresql_outbox: SqlHarness,
) -> None:
    both_added = threading.Barrier(2, timeout=10)

    def producer(keys: list[str]) -> None:
        with postgresql_outbox.transactions.begin():
            for key in keys:
                postgresql_outbox.writer.add(new_message("t", key.encode(), ordering_key=key))
                time.sleep(0.05)
            both_added.wait()

    outcomes = run_in_threads([lambda: producer(["a", "b"]), lambda: producer(["b", "a"])])
    assert outcomes == [None, None]


def test_eight_producers_adding_four_overlapping_keys_in_random_orders_never_deadlock(
    postgresql_outbox: SqlHarness,
) -> None:
    keys = ["k0", "k1", "k2", "k3"]
    committed: list[list[dict[str, uuid.UUID]]] = [[] for _ in range(8)]
    deadlocks = [0]

    def producer(index: int) -> None:
        chance = random.Random(index)
        for _ in range(6):
            order = chance.sample(keys, len(keys))
            added: dict[str, uuid.UUID] = {}
            try:
                with postgresql_outbox.transactions.begin():
                    for key in order:
                        message = new_message("t", f"{index}".encode(), ordering_key=key)
                        postgresql_outbox.writer.add(message)
                        added[key] = message.id
                        time.sleep(0.002)
            except DeadlockError:
                deadlocks[0] += 1
                continue
            committed[index].append(added)

    outcomes = run_in_threads([functools.partial(producer, index) for index in range(8)])
    assert outcomes == [None] * 8 and deadlocks == [0]
    for key in keys:
        numbers = sequences(postgresql_outbox, key)
        assert sorted(numbers.values()) == list(range(1, 8 * 6 + 1))  # every commit numbered, no gaps
        for transactions in committed:  # each producer's commits of the key in its commit order
            mine = [numbers[added[key]] for added in transactions]
            assert mine == sorted(mine)


# -- the relay store's own transactions, aborted by the database -------------------------------------


def test_a_locked_delivery_aborted_before_publishing_runs_again(
    postgresql_outbox: SqlHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hexalchemy.store")
    messages = [new_message("t", str(i).encode()) for i in range(5)]
    commit(postgresql_outbox, messages)
    batches: list[list[uuid.UUID]] = []

    def publish(batch: Sequence[OutboxMessage]) -> list[PublishResult]:
        batches.append([message.id for message in batch])
        return [PublishResult(message.id) for message in batch]

    with aborted_writes(postgresql_outbox.engine, TABLES.messages.name, "DELETE", times=2):
        result = postgresql_outbox.relay.deliver(publish, limit=10)
    assert (result.messages, result.published, result.error) == (5, 5, None)
    assert batches == [[message.id for message in messages]]  # published once, by the third attempt
    assert [record.getMessage()[:60] for record in caplog.records] == [
        "outbox relay store: the database aborted attempt 1 of 3 (Dea",
        "outbox relay store: the database aborted attempt 2 of 3 (Dea",
    ]
    assert postgresql_outbox.relay.stats().pending == 0


def test_a_locked_delivery_aborted_every_time_gives_up_before_publishing(
    postgresql_outbox: SqlHarness,
) -> None:
    commit(postgresql_outbox, [new_message("t", b"x")])
    batches: list[Sequence[OutboxMessage]] = []

    def publish(batch: Sequence[OutboxMessage]) -> list[PublishResult]:
        batches.append(batch)
        return [PublishResult(message.id) for message in batch]

    aborted = aborted_writes(postgresql_outbox.engine, TABLES.messages.name, "DELETE", times=1_000)
    with aborted, pytest.raises(DeadlockError):
        postgresql_outbox.relay.deliver(publish, limit=10)
    assert batches == []
    assert postgresql_outbox.relay.stats().pending == 1  # still due, no attempt counted


def test_a_locked_delivery_aborted_after_publishing_is_not_run_again(postgresql_outbox: SqlHarness) -> None:
    # A batch that went to the publisher is never taken again in the same call: the abort is
    # raised and the rows stay due, to be delivered again later (at least once).
    commit(postgresql_outbox, [new_message("t", b"x")])
    batches: list[Sequence[OutboxMessage]] = []

    def publish(batch: Sequence[OutboxMessage]) -> list[PublishResult]:
        batches.append(batch)
        return [PublishResult(message.id, error="broker busy") for message in batch]

    # the failed message is put back (inserted again) after the publisher has seen it
    aborted = aborted_writes(postgresql_outbox.engine, TABLES.messages.name, "INSERT", times=1)
    with aborted, pytest.raises(DeadlockError):
        postgresql_outbox.relay.deliver(publish, limit=10)
    assert len(batches) == 1
    assert postgresql_outbox.relay.stats().pending == 1


def test_a_claim_aborted_by_the_database_runs_again(postgresql_outbox: SqlHarness) -> None:
    commit(postgresql_outbox, [new_message("t", b"x")])
    with aborted_writes(postgresql_outbox.engine, TABLES.messages.name, "UPDATE", times=2):
        lease = postgresql_outbox.relay.claim(limit=10, lease_for=LONG)
    assert len(lease.messages) == 1 and lease.messages[0].attempts == 1


# -- cancellation ------------------------------------------------------------------------------------


def claim_sessions(engine: Engine, state: str) -> list[Any]:
    """The other sessions whose current or last statement is a claim on the test tables, in ``state``."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                " AND state LIKE :state AND query LIKE :claim"
            ),
            {"state": state, "claim": f"WITH due AS MATERIALIZED%FROM {TABLES.messages.name} AS m%"},
        ).all()
    return list(rows)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds passed; return whether it held."""
    for _ in range(int(timeout / 0.02)):
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


async def test_a_cancelled_claim_rolls_back_and_gives_its_connection_back(outbox_postgresql: Engine) -> None:
    engine = create_async_engine(DatabaseConfig(url=POSTGRESQL_URL))
    harness = AsyncSqlHarness(engine, TABLES)
    try:
        with outbox_postgresql.connect() as blocker:
            blocker.execute(text(f"LOCK TABLE {TABLES.messages.name} IN ACCESS EXCLUSIVE MODE"))
            task = asyncio.ensure_future(harness.relay.claim(limit=1, lease_for=LONG))
            assert await eventually(lambda: bool(claim_sessions(outbox_postgresql, "active")))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # rolled back: no session is left "idle in transaction" holding the claim's locks
            assert await eventually(lambda: not claim_sessions(outbox_postgresql, "idle in transaction%"))
            blocker.rollback()
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedout() == 0
        assert (await harness.relay.claim(limit=1, lease_for=LONG)).messages == ()
    finally:
        await engine.dispose()


async def test_the_async_store_runs_each_call_inside_the_greenlet_bridge_on_the_driver_path(
    async_postgresql_outbox: AsyncSqlHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each call of the async relay store is one plan run whole inside SQLAlchemy's greenlet
    # bridge; its hot statements go to psycopg's async cursor from there.
    bridged = record_driver_queries(monkeypatch, "run_bridged")
    harness = async_postgresql_outbox
    async with harness.transactions.begin():
        await harness.writer.add_all([new_message("t", str(i).encode()) for i in range(6)])
    lease = await harness.relay.claim(limit=3, lease_for=LONG)
    assert len(lease.messages) == 3 and lease.expires_at.tzinfo is dt.UTC
    assert await harness.relay.acknowledge(lease, [m.id for m in lease.messages]) == AcknowledgeResult(3, 0)

    async def publish(batch: Sequence[OutboxMessage]) -> list[PublishResult]:
        await asyncio.sleep(0)  # a real await inside the bridge
        return [PublishResult(message.id) for message in batch]

    result = await harness.relay.deliver(publish, limit=10)
    assert (result.messages, result.published) == (3, 3)
    assert len(bridged) == 3  # the claim, the take and its record
    assert (await harness.relay.stats()).pending == 0


@pytest.mark.parametrize(
    "written", ['{"h":"v"}', '{ "h" : "v" }', '  {"h": "v"}', '{"h": "v"}\n', '\t{"h":\n"v"}  ']
)
def test_headers_written_by_other_hands_are_read_whatever_their_whitespace(
    postgresql_outbox: SqlHarness, driver_statements: list[str], written: str
) -> None:
    # The relay's cursor decodes the json column's text its own, faster way; the text keeps
    # whatever whitespace its writer put around the value.
    commit(postgresql_outbox, [new_message("t", b"body")])
    with postgresql_outbox.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE {TABLES.messages.name} SET headers = CAST(:written AS json)"), {"written": written}
        )
    lease = postgresql_outbox.relay.claim(limit=10, lease_for=LONG)
    assert [m.headers for m in lease.messages] == [{"h": "v"}]
    assert driver_statements  # read on the relay's own cursor
