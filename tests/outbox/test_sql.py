"""SQL-specific outbox behaviour (SQLite, PostgreSQL and MariaDB): tables, round trips, sequences, archive, configuration."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any, Final

import pytest
from sqlalchemy import Engine, MetaData, event, inspect, select

from hexalchemy.ports import ConfigError, InvalidArgumentError, TransactionUsageError
from hexalchemy.pytest_plugin import SqlOutboxHarness as SqlHarness
from hexalchemy.rules import OutboxPolicy, new_message
from hexalchemy.sqlalchemy import (
    Schema,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    outbox_tables,
)
from hexalchemy.sqlalchemy._operations import Call, Plan, run_plan_bridged
from hexalchemy.sqlalchemy._outbox_core import run_own_plan
from tests.outbox.tables import POLICY, PREFIX, TABLES

LONG: Final = dt.timedelta(minutes=10)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"])
def sql_outbox(request: pytest.FixtureRequest) -> SqlHarness:
    harness: SqlHarness = request.getfixturevalue(f"{request.param}_outbox")
    return harness


def key_sequences(harness: SqlHarness) -> dict[uuid.UUID, int | None]:
    messages = TABLES.messages
    with harness.engine.connect() as connection:
        rows = connection.execute(select(messages.c.id, messages.c.key_sequence)).all()
    return {row[0]: row[1] for row in rows}


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            self.statements.append(statement)


@pytest.fixture
def statements(sql_outbox: SqlHarness) -> Iterator[list[str]]:
    counter = StatementCounter(sql_outbox.engine)
    event.listen(sql_outbox.engine, "before_cursor_execute", counter)
    yield counter.statements
    event.remove(sql_outbox.engine, "before_cursor_execute", counter)


# -- tables ---------------------------------------------------------------------------------------


def test_the_tables_and_their_indexes_are_created(sql_outbox: SqlHarness) -> None:
    inspector = inspect(sql_outbox.engine)
    names = set(inspector.get_table_names())
    assert {
        f"{PREFIX}_messages",
        f"{PREFIX}_sequences",
        f"{PREFIX}_dead_letters",
        f"{PREFIX}_archive",
        f"{PREFIX}_deliveries",
        f"{PREFIX}_crashes",
    } <= names
    indexes = {index["name"]: index for index in inspector.get_indexes(f"{PREFIX}_messages")}
    assert indexes[f"{PREFIX}_due"]["column_names"] == ["available_at", "id"]
    assert indexes[f"{PREFIX}_key_order"]["column_names"] == ["ordering_key", "key_sequence"]
    assert indexes[f"{PREFIX}_idempotency"]["column_names"] == ["topic", "idempotency_key"]
    assert indexes[f"{PREFIX}_idempotency"]["unique"]


def test_outbox_tables_accepts_a_schema() -> None:
    schema = Schema()
    tables = outbox_tables(schema, prefix="app_outbox")
    assert tables.messages.metadata is schema.metadata
    assert tables.archive is None
    assert sorted(schema.metadata.tables) == [
        "app_outbox_crashes",
        "app_outbox_dead_letters",
        "app_outbox_deliveries",
        "app_outbox_messages",
        "app_outbox_sequences",
    ]


@pytest.mark.parametrize("prefix", ["", "bad prefix", "1x", "a;b"])
def test_outbox_tables_refuses_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(ConfigError, match="prefix"):
        outbox_tables(MetaData(), prefix=prefix)


def test_outbox_tables_refuses_tables_defined_twice() -> None:
    metadata = MetaData()
    outbox_tables(metadata)
    with pytest.raises(ConfigError, match="already defined"):
        outbox_tables(metadata)


def test_outbox_tables_refuses_what_is_not_a_schema() -> None:
    not_metadata: Any = "metadata"
    with pytest.raises(ConfigError, match="target"):
        outbox_tables(not_metadata)


# -- the writer -------------------------------------------------------------------------------------


def test_add_all_takes_at_most_three_statements_whatever_the_batch(
    sql_outbox: SqlHarness, statements: list[str]
) -> None:
    batch = [new_message("t", b"", ordering_key=f"key-{i % 5}") for i in range(300)]
    with sql_outbox.transactions.begin():
        statements.clear()
        assert sql_outbox.writer.add_all(batch) == 300
        assert len(statements) <= 3, statements


def test_add_all_without_ordering_keys_is_one_statement(
    sql_outbox: SqlHarness, statements: list[str]
) -> None:
    with sql_outbox.transactions.begin():
        statements.clear()
        sql_outbox.writer.add_all([new_message("t", b"") for _ in range(300)])
        assert len(statements) == 1, statements


def test_each_key_is_numbered_from_one_in_add_order(sql_outbox: SqlHarness) -> None:
    batch = [new_message("t", b"", ordering_key=key) for key in ["a", "b", "a", "a", "b"]]
    with sql_outbox.transactions.begin():
        sql_outbox.writer.add_all(batch[:2])
    with sql_outbox.transactions.begin():
        sql_outbox.writer.add_all(batch[2:])
    assert [key_sequences(sql_outbox)[message.id] for message in batch] == [1, 1, 2, 3, 2]


def test_a_dropped_message_takes_no_sequence_number(sql_outbox: SqlHarness) -> None:
    first = new_message("t", b"", ordering_key="a", idempotency_key="x")
    repeat = new_message("t", b"", ordering_key="a", idempotency_key="x")
    following = new_message("t", b"", ordering_key="a")
    with sql_outbox.transactions.begin():
        assert sql_outbox.writer.add_all([first, repeat, following]) == 2
    with sql_outbox.transactions.begin():
        assert not sql_outbox.writer.add(repeat)
    assert key_sequences(sql_outbox) == {first.id: 1, following.id: 2}


def test_messages_without_a_key_have_no_sequence(sql_outbox: SqlHarness) -> None:
    message = new_message("t", b"")
    with sql_outbox.transactions.begin():
        sql_outbox.writer.add(message)
    assert key_sequences(sql_outbox) == {message.id: None}


def test_a_bad_max_payload_is_refused(sql_outbox: SqlHarness) -> None:
    with pytest.raises(ConfigError, match="max_payload_bytes"):
        SqlAlchemyOutboxWriter(TABLES, sql_outbox.transactions, max_payload_bytes=0)


# -- the relay store ---------------------------------------------------------------------------------


def test_an_archiving_store_moves_acknowledged_messages_to_the_archive(sql_outbox: SqlHarness) -> None:
    store = SqlAlchemyOutboxRelayStore(TABLES, sql_outbox.engine, policy=OutboxPolicy(archive=True))
    message = new_message("t", b"kept", headers={"h": "v"})
    with sql_outbox.transactions.begin():
        sql_outbox.writer.add(message)
    lease = store.claim(limit=1, lease_for=LONG)
    assert store.acknowledge(lease, [message.id]).done == 1
    assert TABLES.archive is not None
    with sql_outbox.engine.connect() as connection:
        row = connection.execute(select(TABLES.archive)).one()
    assert (row.id, row.payload, row.headers, row.attempts) == (message.id, b"kept", {"h": "v"}, 1)
    assert store.purge(dead_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)) == 0
    assert store.purge(dead_before=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == 1


def test_archiving_needs_an_archive_table(sql_outbox: SqlHarness) -> None:
    tables = outbox_tables(MetaData())
    with pytest.raises(ConfigError, match="archive"):
        SqlAlchemyOutboxRelayStore(tables, sql_outbox.engine, policy=OutboxPolicy(archive=True))


def test_a_store_on_an_engine_does_not_see_transactions(sql_outbox: SqlHarness) -> None:
    store = SqlAlchemyOutboxRelayStore(TABLES, sql_outbox.engine, policy=POLICY)
    assert store.claim(limit=1, lease_for=LONG).messages == ()
    assert store.engine is sql_outbox.engine


def test_a_store_on_a_manager_uses_its_engine(sql_outbox: SqlHarness) -> None:
    store = SqlAlchemyOutboxRelayStore(TABLES, sql_outbox.transactions)
    assert store.engine is sql_outbox.engine
    assert store.policy == OutboxPolicy()
    with sql_outbox.transactions.begin(), pytest.raises(TransactionUsageError):
        store.stats()


def test_an_error_is_cut_to_ten_thousand_characters(sql_outbox: SqlHarness) -> None:
    message = new_message("t", b"")
    with sql_outbox.transactions.begin():
        sql_outbox.writer.add(message)
    lease = sql_outbox.relay.claim(limit=1, lease_for=LONG)
    sql_outbox.relay.dead_letter(lease, message.id, "x" * 20_000)
    (letter,) = sql_outbox.relay.dead_letters()
    assert letter.error == "x" * 10_000


def test_relay_store_arguments_are_checked(sql_outbox: SqlHarness) -> None:
    relay = sql_outbox.relay
    lease = relay.claim(limit=1, lease_for=LONG)
    not_text: Any = 42
    with pytest.raises(InvalidArgumentError, match="error"):
        relay.reject(lease, uuid.uuid4(), not_text)
    with pytest.raises(InvalidArgumentError, match="error"):
        relay.dead_letter(lease, uuid.uuid4(), not_text)
    with pytest.raises(InvalidArgumentError, match="limit"):
        relay.dead_letters(limit=0)
    with pytest.raises(InvalidArgumentError, match="dead_before"):
        relay.purge(dead_before=dt.datetime.now())
    assert relay.requeue([]) == 0
    assert relay.acknowledge(lease, []) == relay.release(lease, [])


def test_an_unsupported_dialect_is_refused() -> None:
    engine: Any = Engine.__new__(Engine)  # an engine on a dialect hexalchemy lacks
    engine.dialect = type("D", (), {"name": "mysql"})()
    with pytest.raises(ConfigError, match="dialect"):
        SqlAlchemyOutboxRelayStore(TABLES, engine)


# -- the policy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"base_delay": dt.timedelta(0)}, "base_delay"),
        ({"base_delay": 1}, "base_delay"),
        ({"max_delay": dt.timedelta(seconds=-1)}, "max_delay"),
        ({"base_delay": dt.timedelta(minutes=10), "max_delay": dt.timedelta(minutes=1)}, "max_delay"),
        ({"archive": "yes"}, "archive"),
    ],
)
def test_a_bad_policy_is_refused(arguments: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigError) as raised:
        OutboxPolicy(**arguments)
    assert raised.value.option == option


def test_the_retry_delay_is_full_jitter_capped_by_max_delay() -> None:
    policy = OutboxPolicy(base_delay=dt.timedelta(seconds=1), max_delay=dt.timedelta(seconds=10))
    almost_one = 0.999999
    assert policy.retry_delay(1, random=lambda: 0.0) == dt.timedelta(0)
    assert policy.retry_delay(1, random=lambda: 0.5) == dt.timedelta(seconds=0.5)
    assert policy.retry_delay(3, random=lambda: 0.5) == dt.timedelta(seconds=2)
    assert policy.retry_delay(10, random=lambda: almost_one) < dt.timedelta(seconds=10)
    assert policy.retry_delay(10_000, random=lambda: 0.5) == dt.timedelta(seconds=5)
    assert dt.timedelta(0) <= policy.retry_delay(2) < dt.timedelta(seconds=2)


# -- interrupted plans close their connection -----------------------------------------------------------


class FakeConnection:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def interrupted_plan(connection: FakeConnection, step: Any) -> Plan[None]:
    """Like the relay store's plans: a step inside try, and closing the connection on any error."""
    try:
        yield Call(step)
    except BaseException:
        yield Call(connection.close)
        raise


def test_an_interrupted_plan_closes_its_connection() -> None:
    connection = FakeConnection()

    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_own_plan(interrupted_plan(connection, interrupt))
    assert connection.closed


async def test_a_plan_cancelled_inside_the_greenlet_bridge_closes_its_connection() -> None:
    connection = FakeConnection()
    plan = interrupted_plan(connection, asyncio.Event().wait)
    task = asyncio.ensure_future(run_plan_bridged(run_own_plan, plan))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert connection.closed
