from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool, QueuePool, SingletonThreadPool, StaticPool

from hexalchemy.ports.errors import ConfigError
from hexalchemy.sqlalchemy.config import DatabaseConfig
from hexalchemy.sqlalchemy.engine import READ_ONLY_EXECUTION_OPTION, create_async_engine, create_engine
from tests.postgresql import POSTGRESQL_URL

ALL_OPTIONS: dict[str, Any] = {
    "echo": True,
    "echo_pool": True,
    "pool_size": 3,
    "max_overflow": 7,
    "pool_timeout": 4.5,
    "pool_recycle": 120,
    "pool_pre_ping": True,
}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def sync_engine(db_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = create_engine(DatabaseConfig(url=db_url))
    yield engine
    engine.dispose()


@pytest.fixture
async def async_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(DatabaseConfig(url=db_url))
    yield engine
    await engine.dispose()


def record_statements(engine: sqlalchemy.Engine) -> list[str]:
    statements: list[str] = []

    def before_cursor_execute(
        _conn: sqlalchemy.Connection,
        _cursor: object,
        statement: str,
        _parameters: object,
        _context: object,
        _executemany: bool,
    ) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    return statements


def assert_pool_options(pool: Pool) -> None:
    assert isinstance(pool, QueuePool)
    assert pool.size() == 3
    assert pool._max_overflow == 7
    assert pool._timeout == 4.5
    assert pool._recycle == 120
    assert pool._pre_ping is True
    assert pool.echo is True


def assert_default_pool_options(pool: Pool) -> None:
    assert isinstance(pool, QueuePool)
    assert pool.size() == 5
    assert pool._max_overflow == 10
    assert pool._timeout == 30
    assert pool._recycle == -1
    assert pool._pre_ping is False
    assert pool.echo is False


# --- drivers --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite:///{}", "sqlite+pysqlite:///{}", "sqlite+aiosqlite:///{}"])
async def test_sqlite_driver_follows_the_engine_kind(tmp_path: Path, url: str) -> None:
    config = DatabaseConfig(url=url.format(tmp_path / "x.db"))
    sync = create_engine(config)
    asynchronous = create_async_engine(config)
    try:
        assert sync.dialect.driver == "pysqlite"
        assert asynchronous.dialect.driver == "aiosqlite"
        assert sync.url.database == asynchronous.url.database == str(tmp_path / "x.db")
        with sync.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
        async with asynchronous.connect() as aconn:
            assert (await aconn.exec_driver_sql("SELECT 1")).scalar_one() == 1
    finally:
        sync.dispose()
        await asynchronous.dispose()


def test_each_call_builds_a_new_engine(db_url: str) -> None:
    config = DatabaseConfig(url=db_url)
    first, second = create_engine(config), create_engine(config)
    try:
        assert first is not second
        assert first.pool is not second.pool
    finally:
        first.dispose()
        second.dispose()


# --- options --------------------------------------------------------------------------------


def test_sync_sqlite_file_defaults(sync_engine: sqlalchemy.Engine) -> None:
    assert sync_engine.echo is False
    assert_default_pool_options(sync_engine.pool)


async def test_async_sqlite_file_defaults(async_engine: AsyncEngine) -> None:
    assert async_engine.echo is False
    assert isinstance(async_engine.pool, AsyncAdaptedQueuePool)
    assert_default_pool_options(async_engine.pool)


def test_sync_sqlite_file_honours_every_option(db_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=db_url, **ALL_OPTIONS))
    try:
        assert engine.echo is True
        assert_pool_options(engine.pool)
    finally:
        engine.dispose()


async def test_async_sqlite_file_honours_every_option(db_url: str) -> None:
    engine = create_async_engine(DatabaseConfig(url=db_url, **ALL_OPTIONS))
    try:
        assert engine.echo is True
        assert engine.sync_engine.echo is True
        assert isinstance(engine.pool, AsyncAdaptedQueuePool)
        assert_pool_options(engine.pool)
    finally:
        await engine.dispose()


def test_unlimited_overflow_and_never_recycle(db_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=db_url, max_overflow=-1, pool_recycle=-1))
    try:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool._max_overflow == -1
        assert engine.pool._recycle == -1
        assert engine.pool.size() == 5
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"])
async def test_memory_database_accepts_options_its_pool_has(url: str) -> None:
    config = DatabaseConfig(url=url, echo=True, echo_pool=True, pool_pre_ping=True, pool_recycle=-1)
    sync = create_engine(config)
    asynchronous = create_async_engine(config)
    try:
        assert isinstance(sync.pool, SingletonThreadPool)
        assert isinstance(asynchronous.pool, StaticPool)
        for engine in (sync, asynchronous):
            assert engine.echo is True
            assert engine.pool.echo is True
            assert engine.pool._pre_ping is True
            assert engine.pool._recycle == -1
    finally:
        sync.dispose()
        await asynchronous.dispose()


def test_sync_memory_database_honours_pool_size() -> None:
    engine = create_engine(DatabaseConfig(url="sqlite://", pool_size=4))
    try:
        assert isinstance(engine.pool, SingletonThreadPool)
        assert engine.pool.size == 4
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("option", "value", "refused_by_sync"),
    [
        ("pool_size", 4, False),
        ("max_overflow", 2, True),
        ("max_overflow", -1, True),
        ("pool_timeout", 3.0, True),
        ("pool_recycle", 60, True),
        ("pool_recycle", 0, True),
    ],
)
def test_memory_database_refuses_options_its_pool_cannot_honour(
    option: str, value: Any, refused_by_sync: bool
) -> None:
    config = DatabaseConfig(url="sqlite:///:memory:", **{option: value})
    with pytest.raises(ConfigError) as caught:
        create_async_engine(config)
    assert caught.value.option == option
    assert caught.value.value == value
    assert "in-memory SQLite database" in caught.value.reason
    assert "StaticPool" in caught.value.reason
    if refused_by_sync:
        with pytest.raises(ConfigError) as caught:
            create_engine(config)
        assert caught.value.option == option
        assert "SingletonThreadPool" in caught.value.reason
    else:
        create_engine(config).dispose()


@pytest.mark.postgresql
async def test_postgresql_engines_share_the_config_and_honour_every_option() -> None:
    config = DatabaseConfig(url=POSTGRESQL_URL, **ALL_OPTIONS)
    sync = create_engine(config)
    asynchronous = create_async_engine(config)
    try:
        assert sync.dialect.driver == asynchronous.dialect.driver == "psycopg"
        assert sync.echo is True
        assert asynchronous.echo is True
        assert_pool_options(sync.pool)
        assert isinstance(asynchronous.pool, AsyncAdaptedQueuePool)
        assert_pool_options(asynchronous.pool)
        with sync.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
        async with asynchronous.connect() as aconn:
            assert (await aconn.exec_driver_sql("SELECT 1")).scalar_one() == 1
    finally:
        sync.dispose()
        await asynchronous.dispose()


@pytest.mark.postgresql
async def test_plain_postgresql_url_uses_psycopg() -> None:
    config = DatabaseConfig(url=POSTGRESQL_URL.replace("postgresql+psycopg://", "postgresql://", 1))
    sync = create_engine(config)
    asynchronous = create_async_engine(config)
    try:
        assert sync.dialect.driver == asynchronous.dialect.driver == "psycopg"
        assert_default_pool_options(sync.pool)
        assert_default_pool_options(asynchronous.pool)
    finally:
        sync.dispose()
        await asynchronous.dispose()


# --- the SQLite recipe: pragmas ---------------------------------------------------------------


def pragmas(conn: sqlalchemy.Connection) -> tuple[object, ...]:
    return tuple(
        conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
        for name in ("foreign_keys", "busy_timeout", "journal_mode")
    )


def test_sync_sqlite_pragmas(db_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=db_url, sqlite_busy_timeout=1.5))
    try:
        with engine.connect() as conn:
            assert pragmas(conn) == (1, 1500, "wal")
    finally:
        engine.dispose()


async def test_async_sqlite_pragmas(db_url: str) -> None:
    engine = create_async_engine(DatabaseConfig(url=db_url, sqlite_busy_timeout=0.25))
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(pragmas) == (1, 250, "wal")
    finally:
        await engine.dispose()


async def test_memory_database_pragmas_without_wal() -> None:
    config = DatabaseConfig(url="sqlite://", sqlite_busy_timeout=0)
    sync = create_engine(config)
    asynchronous = create_async_engine(config)
    try:
        with sync.connect() as conn:
            assert pragmas(conn) == (1, 0, "memory")
        async with asynchronous.connect() as aconn:
            assert await aconn.run_sync(pragmas) == (1, 0, "memory")
    finally:
        sync.dispose()
        await asynchronous.dispose()


def create_tables(conn: sqlalchemy.Connection) -> None:
    conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.exec_driver_sql(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id))"
    )
    conn.exec_driver_sql("CREATE TABLE item (id INTEGER PRIMARY KEY)")


def item_ids(conn: sqlalchemy.Connection) -> list[int]:
    return list(conn.exec_driver_sql("SELECT id FROM item ORDER BY id").scalars())


def test_foreign_keys_are_enforced(sync_engine: sqlalchemy.Engine) -> None:
    with sync_engine.begin() as conn:
        create_tables(conn)
    with pytest.raises(IntegrityError), sync_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (1, 99)")


async def test_foreign_keys_are_enforced_async(async_engine: AsyncEngine) -> None:
    async with async_engine.begin() as conn:
        await conn.run_sync(create_tables)
    with pytest.raises(IntegrityError):
        async with async_engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (1, 99)")


def driver_isolation_level(conn: sqlalchemy.Connection) -> object:
    dbapi_connection: Any = conn.connection.dbapi_connection
    return dbapi_connection.isolation_level


@pytest.mark.parametrize("url", ["sqlite:///{}", "sqlite://"])
async def test_driver_transaction_control_is_off(tmp_path: Path, url: str) -> None:
    # isolation_level=None: the driver emits no BEGIN of its own; SQLAlchemy's begin
    # event does. With aiosqlite this is SQLAlchemy's adapter around aiosqlite.
    config = DatabaseConfig(url=url.format(tmp_path / "x.db"))
    sync = create_engine(config)
    asynchronous = create_async_engine(config)
    try:
        with sync.connect() as conn:
            assert driver_isolation_level(conn) is None
        async with asynchronous.connect() as aconn:
            assert await aconn.run_sync(driver_isolation_level) is None
    finally:
        sync.dispose()
        await asynchronous.dispose()


# --- the SQLite recipe: BEGIN ---------------------------------------------------------------


def test_transactions_begin_immediate_unless_read_only(sync_engine: sqlalchemy.Engine) -> None:
    statements = record_statements(sync_engine)
    with sync_engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert statements == ["BEGIN IMMEDIATE", "SELECT 1"]
    statements.clear()
    with sync_engine.connect() as conn:
        conn = conn.execution_options(**{READ_ONLY_EXECUTION_OPTION: True})
        conn.exec_driver_sql("SELECT 1")
        conn.rollback()
    assert statements == ["BEGIN", "SELECT 1"]


async def test_async_transactions_begin_immediate_unless_read_only(async_engine: AsyncEngine) -> None:
    statements = record_statements(async_engine.sync_engine)
    async with async_engine.begin() as conn:
        await conn.exec_driver_sql("SELECT 1")
    assert statements == ["BEGIN IMMEDIATE", "SELECT 1"]
    statements.clear()
    async with async_engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY_EXECUTION_OPTION: True})
        await conn.exec_driver_sql("SELECT 1")
        await conn.rollback()
    assert statements == ["BEGIN", "SELECT 1"]


def test_a_writer_takes_the_write_lock_at_begin(db_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=db_url, sqlite_busy_timeout=0))
    try:
        with engine.begin() as conn:
            create_tables(conn)
        with engine.connect() as writer, engine.connect() as other:
            writer.begin()
            # The second writer cannot even begin while the first holds the lock ...
            with pytest.raises(OperationalError, match="database is locked"):
                other.begin()
            other.rollback()
            # ... but a reader can, and (WAL) reads the last committed state.
            reader = other.execution_options(**{READ_ONLY_EXECUTION_OPTION: True})
            with reader.begin():
                assert item_ids(reader) == []
            writer.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
            writer.commit()
    finally:
        engine.dispose()


async def test_an_async_writer_takes_the_write_lock_at_begin(db_url: str) -> None:
    engine = create_async_engine(DatabaseConfig(url=db_url, sqlite_busy_timeout=0))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(create_tables)
        async with engine.connect() as writer, engine.connect() as other:
            await writer.begin()
            with pytest.raises(OperationalError, match="database is locked"):
                await other.begin()
            await other.rollback()
            await other.execution_options(**{READ_ONLY_EXECUTION_OPTION: True})
            async with other.begin():
                assert await other.run_sync(item_ids) == []
            await writer.commit()
    finally:
        await engine.dispose()


# --- the SQLite recipe: transactions, savepoints, DDL ---------------------------------------


def test_savepoint_rollback_undoes_only_inner_work(sync_engine: sqlalchemy.Engine) -> None:
    with sync_engine.begin() as conn:
        create_tables(conn)
    with sync_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
        savepoint = conn.begin_nested()
        conn.exec_driver_sql("INSERT INTO item (id) VALUES (2)")
        savepoint.rollback()
        conn.exec_driver_sql("INSERT INTO item (id) VALUES (3)")
    with sync_engine.connect() as conn:
        assert item_ids(conn) == [1, 3]


async def test_async_savepoint_rollback_undoes_only_inner_work(async_engine: AsyncEngine) -> None:
    async with async_engine.begin() as conn:
        await conn.run_sync(create_tables)
    async with async_engine.begin() as conn:
        await conn.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
        savepoint = await conn.begin_nested()
        await conn.exec_driver_sql("INSERT INTO item (id) VALUES (2)")
        await savepoint.rollback()
        await conn.exec_driver_sql("INSERT INTO item (id) VALUES (3)")
    async with async_engine.connect() as conn:
        assert await conn.run_sync(item_ids) == [1, 3]


def test_outer_rollback_undoes_released_savepoints(sync_engine: sqlalchemy.Engine) -> None:
    with sync_engine.begin() as conn:
        create_tables(conn)
    with sync_engine.connect() as conn:
        with conn.begin_nested():  # autobegins the outer transaction first
            conn.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
        conn.rollback()
        assert item_ids(conn) == []


async def test_async_outer_rollback_undoes_released_savepoints(async_engine: AsyncEngine) -> None:
    async with async_engine.begin() as conn:
        await conn.run_sync(create_tables)
    async with async_engine.connect() as conn:
        async with conn.begin_nested():
            await conn.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
        await conn.rollback()
        assert await conn.run_sync(item_ids) == []


def table_names(conn: sqlalchemy.Connection) -> list[str]:
    return list(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())


def test_ddl_is_transactional(sync_engine: sqlalchemy.Engine) -> None:
    with sync_engine.connect() as conn:
        create_tables(conn)
        conn.rollback()
        assert table_names(conn) == []


async def test_async_ddl_is_transactional(async_engine: AsyncEngine) -> None:
    async with async_engine.connect() as conn:
        await conn.run_sync(create_tables)
        await conn.rollback()
        assert await conn.run_sync(table_names) == []


def test_reads_are_repeatable_inside_a_transaction(sync_engine: sqlalchemy.Engine) -> None:
    with sync_engine.begin() as conn:
        create_tables(conn)
    with sync_engine.connect() as reader, sync_engine.connect() as writer:
        reader = reader.execution_options(**{READ_ONLY_EXECUTION_OPTION: True})
        with reader.begin():
            assert item_ids(reader) == []
            with writer.begin():
                writer.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
            assert item_ids(reader) == []  # the SELECT is inside the reader's snapshot
        assert item_ids(reader) == [1]
        reader.rollback()


# --- driver-level AUTOCOMMIT still works, and does not break later transactions -------------


def test_autocommit_isolation_emits_no_begin_and_recipe_survives_it(db_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=db_url, pool_size=1, max_overflow=0))
    try:
        statements = record_statements(engine)
        with engine.begin() as conn:
            create_tables(conn)
        statements.clear()
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
            conn.rollback()  # nothing to roll back: the insert was autocommitted
            assert item_ids(conn) == [1]
        assert "BEGIN IMMEDIATE" not in statements
        # The pooled connection was reset to the default isolation level, which turns the
        # driver's own transaction control back on; the recipe turns it off again at the
        # next begin, and still governs that transaction (savepoints and DDL roll back).
        with engine.connect() as conn:
            assert driver_isolation_level(conn) == ""
            conn.exec_driver_sql("CREATE TABLE extra (id INTEGER)")
            assert driver_isolation_level(conn) is None
            with conn.begin_nested():
                conn.exec_driver_sql("INSERT INTO item (id) VALUES (2)")
            conn.rollback()
            assert item_ids(conn) == [1]
            assert "extra" not in table_names(conn)
    finally:
        engine.dispose()


async def test_async_autocommit_isolation_and_recipe_survives_it(db_url: str) -> None:
    engine = create_async_engine(DatabaseConfig(url=db_url, pool_size=1, max_overflow=0))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(create_tables)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("INSERT INTO item (id) VALUES (1)")
            await conn.rollback()
            assert await conn.run_sync(item_ids) == [1]
        async with engine.connect() as conn:
            assert await conn.run_sync(driver_isolation_level) == ""
            await conn.exec_driver_sql("CREATE TABLE extra (id INTEGER)")
            assert await conn.run_sync(driver_isolation_level) is None
            async with conn.begin_nested():
                await conn.exec_driver_sql("INSERT INTO item (id) VALUES (2)")
            await conn.rollback()
            assert await conn.run_sync(item_ids) == [1]
            assert "extra" not in await conn.run_sync(table_names)
    finally:
        await engine.dispose()
