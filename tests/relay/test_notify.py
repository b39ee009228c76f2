"""LISTEN/NOTIFY wake-up hints on PostgreSQL: a committed insert wakes the listener, a rollback does not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy

from hexalchemy.ports import ConfigError
from hexalchemy.sqlalchemy.outbox_notify import (
    SLEEPERS_TABLE,
    AsyncPostgresNotifyWakeUp,
    PostgresNotifyWakeUp,
    install_notify_trigger,
    notify_trigger_statements,
)
from hexalchemy.sqlalchemy.postgresql._listening import conninfo
from hexalchemy.sqlalchemy.postgresql.backend import BACKEND
from tests.postgresql import POSTGRESQL_URL

pytestmark = pytest.mark.postgresql


@pytest.fixture
def table(postgresql_engine: sqlalchemy.Engine) -> Iterator[tuple[sqlalchemy.Table, str]]:
    """A scratch table with the notify trigger, on its own channel."""
    suffix = uuid.uuid4().hex[:8]
    table = sqlalchemy.Table(
        f"notify_{suffix}",
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
    )
    channel = f"outbox_{suffix}"
    with postgresql_engine.begin() as connection:
        table.create(connection)
        install_notify_trigger(connection, table, channel=channel)
        install_notify_trigger(connection, table, channel=channel)  # idempotent
    yield table, channel
    with postgresql_engine.begin() as connection:
        table.drop(connection)
        connection.execute(
            sqlalchemy.text(f"DELETE FROM {SLEEPERS_TABLE} WHERE channel = :c"), {"c": channel}
        )


def insert(engine: sqlalchemy.Engine, table: sqlalchemy.Table, value: int, *, commit: bool) -> None:
    with engine.connect() as connection:
        connection.execute(table.insert().values(id=value))
        if commit:
            connection.commit()
        else:
            connection.rollback()


def test_a_committed_insert_wakes_the_listener_and_a_rollback_does_not(
    postgresql_engine: sqlalchemy.Engine, table: tuple[sqlalchemy.Table, str]
) -> None:
    scratch, channel = table
    with PostgresNotifyWakeUp(POSTGRESQL_URL, channel=channel) as wake_up:
        assert wake_up.wait(0.05) is False  # connects and listens
        insert(postgresql_engine, scratch, 1, commit=False)
        assert wake_up.wait(0.2) is False
        insert(postgresql_engine, scratch, 2, commit=True)
        assert wake_up.wait(5) is True
        insert(postgresql_engine, scratch, 3, commit=True)  # the listener is awake: no notification
        wake_up.clear()
        assert wake_up.wait(0.1) is True  # marked asleep again: it was awake, so claim once more
        assert wake_up.wait(0.1) is False
        insert(postgresql_engine, scratch, 4, commit=True)
        assert wake_up.wait(5) is True


def test_only_a_sleeping_listener_is_notified_and_a_producer_never_waits_for_another(
    postgresql_engine: sqlalchemy.Engine, table: tuple[sqlalchemy.Table, str]
) -> None:
    """The trigger notifies (and takes the global notify lock at commit) only when a listener sleeps."""
    import psycopg
    from psycopg import sql

    scratch, channel = table
    counter = psycopg.Connection.connect(conninfo(POSTGRESQL_URL), autocommit=True)  # listens, never sleeps

    def notifications() -> int:
        return sum(1 for _ in counter.notifies(timeout=0.3))

    try:
        counter.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        with PostgresNotifyWakeUp(POSTGRESQL_URL, channel=channel) as wake_up:
            assert wake_up.wait(0.05) is False  # asleep from the start: nothing to claim again
            for value in range(20):
                insert(postgresql_engine, scratch, value, commit=True)
            assert notifications() == 1  # the first commit woke it; the 19 others notified nothing
            assert wake_up.wait(5) is True
            for value in range(20, 40):  # the relay is busy (no clear, no wait): no notification
                insert(postgresql_engine, scratch, value, commit=True)
            assert notifications() == 0
            wake_up.clear()
            assert wake_up.wait(0.05) is True  # asleep again; it was awake, so one more claim
            assert wake_up.wait(0.05) is False
            # a producer holding the sleepers row (it will notify at its commit) makes no
            # other producer wait: the other skips it and notifies nothing
            with postgresql_engine.connect() as first, postgresql_engine.connect() as second:
                first.execute(scratch.insert().values(id=100))
                second.execute(sqlalchemy.text("SET LOCAL lock_timeout = '2s'"))
                second.execute(scratch.insert().values(id=101))
                second.commit()
                assert wake_up.wait(0.2) is False
                first.commit()
            assert wake_up.wait(5) is True
            assert notifications() == 1
    finally:
        counter.close()


def test_the_listener_reconnects_after_its_connection_died(
    postgresql_engine: sqlalchemy.Engine, table: tuple[sqlalchemy.Table, str]
) -> None:
    scratch, channel = table
    wake_up = PostgresNotifyWakeUp(POSTGRESQL_URL, channel=channel)
    try:
        wake_up.wait(0.01)
        with postgresql_engine.connect() as connection:
            connection.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND (query = :listen OR query LIKE :sleep)"
                ),
                {"listen": f'LISTEN "{channel}"', "sleep": f"UPDATE {SLEEPERS_TABLE} SET asleep%"},
            )
        with pytest.raises(Exception):  # noqa: B017 - the driver's error, whichever it is
            wake_up.wait(1)
        wake_up.wait(0.01)  # reconnected and listening again
        insert(postgresql_engine, scratch, 1, commit=True)
        assert wake_up.wait(5) is True
    finally:
        wake_up.close()


async def test_the_async_listener_survives_cancelled_waits(
    postgresql_engine: sqlalchemy.Engine, table: tuple[sqlalchemy.Table, str]
) -> None:
    scratch, channel = table
    async with AsyncPostgresNotifyWakeUp(POSTGRESQL_URL, channel=channel) as wake_up:
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(wake_up.wait(), 0.05)
        await asyncio.to_thread(insert, postgresql_engine, scratch, 1, commit=True)
        assert await asyncio.wait_for(wake_up.wait(), 5) is True
        wake_up.clear()


async def test_the_async_listener_waits_up_to_a_timeout_like_the_sync_one(
    postgresql_engine: sqlalchemy.Engine, table: tuple[sqlalchemy.Table, str]
) -> None:
    scratch, channel = table
    async with AsyncPostgresNotifyWakeUp(POSTGRESQL_URL, channel=channel) as wake_up:
        assert await wake_up.wait(0.05) is False  # connects and listens
        await asyncio.to_thread(insert, postgresql_engine, scratch, 1, commit=False)
        assert await wake_up.wait(0.2) is False
        await asyncio.to_thread(insert, postgresql_engine, scratch, 2, commit=True)
        assert await wake_up.wait(5) is True


def test_bad_channels_and_databases_are_refused() -> None:
    table = sqlalchemy.Table("outbox", sqlalchemy.MetaData(), sqlalchemy.Column("id", sqlalchemy.Integer))
    with pytest.raises(ConfigError, match="channel"):
        notify_trigger_statements(table, channel="drop table; --")
    with pytest.raises(ConfigError, match="channel"):
        PostgresNotifyWakeUp(POSTGRESQL_URL, channel="x" * 64)
    with pytest.raises(ConfigError, match="PostgreSQL"):
        PostgresNotifyWakeUp("sqlite:///outbox.db")
    with pytest.raises(ConfigError, match="PostgreSQL"):
        AsyncPostgresNotifyWakeUp("sqlite:///outbox.db")


def test_the_trigger_ddl_quotes_schema_and_table() -> None:
    table = sqlalchemy.Table(
        'odd"name', sqlalchemy.MetaData(), sqlalchemy.Column("id", sqlalchemy.Integer), schema="app"
    )
    statements = notify_trigger_statements(table, channel="events")
    assert statements[-1] == (
        'CREATE TRIGGER "odd""name_notify" AFTER INSERT ON app."odd""name" '
        "FOR EACH STATEMENT EXECUTE FUNCTION app.hexalchemy_outbox_notify('events')"
    )


def test_the_trigger_name_is_fitted_to_63_bytes_as_every_derived_name() -> None:
    name = "n" * 60 + "é"  # 62 bytes: '<name>_notify' would be 69
    table = sqlalchemy.Table(name, sqlalchemy.MetaData(), sqlalchemy.Column("id", sqlalchemy.Integer))
    statements = notify_trigger_statements(table, channel="events")
    fitted = BACKEND.derived_identifier(name, "_notify")
    assert len(fitted.encode()) <= 63 and fitted.endswith("_notify")
    assert statements[-1].startswith(f'CREATE TRIGGER "{fitted}" AFTER INSERT ON "{name}" ')
    # the name PostgreSQL made of the unfitted one (cut at 63 bytes) is dropped too
    assert f'DROP TRIGGER IF EXISTS "{name}_" ON "{name}"' in statements


def test_a_trigger_on_a_table_of_63_bytes_notifies(postgresql_engine: sqlalchemy.Engine) -> None:
    suffix = uuid.uuid4().hex[:8]
    table = sqlalchemy.Table(
        f"notify_{suffix}_".ljust(63, "x"),
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
    )
    channel = f"outbox_{suffix}"
    with postgresql_engine.begin() as connection:
        table.create(connection)
        install_notify_trigger(connection, table, channel=channel)
        # an older hexalchemy's trigger: its name unfitted, which PostgreSQL cuts at 63 bytes
        connection.exec_driver_sql(
            f'CREATE TRIGGER "{table.name}_notify" AFTER INSERT ON "{table.name}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION hexalchemy_outbox_notify('{channel}')"
        )
        install_notify_trigger(connection, table, channel=channel)  # upgrades: one trigger is left
    try:
        with postgresql_engine.connect() as connection:
            triggers = connection.execute(
                sqlalchemy.text("SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass)"),
                {"t": f'"{table.name}"'},
            ).scalars()
            assert list(triggers) == [BACKEND.derived_identifier(table.name, "_notify")]
        with PostgresNotifyWakeUp(POSTGRESQL_URL, channel=channel) as wake_up:
            assert wake_up.wait(0.05) is False  # connects and listens
            insert(postgresql_engine, table, 1, commit=True)
            assert wake_up.wait(5) is True
    finally:
        with postgresql_engine.begin() as connection:
            table.drop(connection)
            connection.execute(
                sqlalchemy.text(f"DELETE FROM {SLEEPERS_TABLE} WHERE channel = :c"), {"c": channel}
            )
