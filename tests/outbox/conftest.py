"""Harnesses for the outbox tests: memory (fake clock), SQLite files, PostgreSQL and MariaDB, sync and async.

Every harness is wired as the contract asks (``hexalchemy.testing.contracts.outbox``): a
writer with ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES`` and a relay store with the
contract's policy, built on the transaction manager. The SQL harnesses let time pass by
sleeping; the in-memory ones move a fake clock. The harness classes are the
pytest plugin's (``hexalchemy.pytest_plugin``), the tables in ``tables.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hexalchemy.pytest_plugin import (
    AsyncMemoryOutboxHarness as AsyncMemoryHarness,
)
from hexalchemy.pytest_plugin import (
    AsyncSqlOutboxHarness,
    SqlOutboxHarness,
)
from hexalchemy.pytest_plugin import (
    MemoryOutboxHarness as MemoryHarness,
)
from hexalchemy.sqlalchemy import DatabaseConfig, create_async_engine, create_engine
from hexalchemy.testing.contracts.outbox import AsyncOutboxHarness, OutboxHarness
from tests.mariadb import MARIADB_URL, mariadb_tables, mariadb_with_tables, without_mariadb
from tests.outbox.tables import METADATA, TABLES
from tests.postgresql import (
    POSTGRESQL_URL,
    engine_with_tables,
    sqlite_file_with_tables,
    without_postgresql,
)


def _static_checks(
    memory: MemoryHarness,
    async_memory: AsyncMemoryHarness,
    sql: SqlOutboxHarness,
    async_sql: AsyncSqlOutboxHarness,
) -> tuple[OutboxHarness, AsyncOutboxHarness, OutboxHarness, AsyncOutboxHarness]:
    """Never called: mypy checks here that every harness implements its protocol."""
    return memory, async_memory, sql, async_sql


# -- memory -----------------------------------------------------------------------------------


@pytest.fixture
def memory_outbox() -> MemoryHarness:
    return MemoryHarness()


@pytest.fixture
def async_memory_outbox() -> AsyncMemoryHarness:
    return AsyncMemoryHarness()


# -- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_outbox_config(tmp_path: Path) -> DatabaseConfig:
    return sqlite_file_with_tables(METADATA, tmp_path / "outbox.db")


@pytest.fixture
def sqlite_engine(sqlite_outbox_config: DatabaseConfig) -> Iterator[Engine]:
    engine = create_engine(sqlite_outbox_config)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_outbox(sqlite_engine: Engine) -> SqlOutboxHarness:
    return SqlOutboxHarness(sqlite_engine, TABLES)


@pytest.fixture
async def async_sqlite_outbox(sqlite_outbox_config: DatabaseConfig) -> AsyncIterator[AsyncSqlOutboxHarness]:
    engine = create_async_engine(sqlite_outbox_config)
    try:
        yield AsyncSqlOutboxHarness(engine, TABLES)
    finally:
        await engine.dispose()


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def outbox_postgresql_session() -> Iterator[Engine | str]:
    """A session-wide engine with the outbox tables created, or why the server is unreachable."""
    yield from engine_with_tables(METADATA)


@pytest.fixture
def outbox_postgresql(outbox_postgresql_session: Engine | str) -> Engine:
    """The session engine with every outbox table emptied (skip or fail without a server)."""
    if isinstance(outbox_postgresql_session, str):
        without_postgresql(outbox_postgresql_session)
    with outbox_postgresql_session.begin() as connection:
        for table in reversed(METADATA.sorted_tables):
            connection.execute(table.delete())
    return outbox_postgresql_session


@pytest.fixture
def postgresql_outbox(outbox_postgresql: Engine) -> SqlOutboxHarness:
    return SqlOutboxHarness(outbox_postgresql, TABLES)


@pytest.fixture
async def async_postgresql_outbox(outbox_postgresql: Engine) -> AsyncIterator[AsyncSqlOutboxHarness]:
    engine = create_async_engine(DatabaseConfig(url=POSTGRESQL_URL))
    try:
        yield AsyncSqlOutboxHarness(engine, TABLES)
    finally:
        await engine.dispose()


# -- MariaDB ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def outbox_mariadb_session() -> Iterator[Engine | str]:
    """A session-wide engine with the outbox tables created, or why the server is unreachable."""
    yield from mariadb_with_tables(METADATA)


@pytest.fixture
def outbox_mariadb(outbox_mariadb_session: Engine | str) -> Engine:
    """The session engine with every outbox table emptied (skip or fail without a server)."""
    if isinstance(outbox_mariadb_session, str):
        without_mariadb(outbox_mariadb_session)
    with outbox_mariadb_session.begin() as connection:
        for table in reversed(mariadb_tables(METADATA)):
            connection.execute(table.delete())
    return outbox_mariadb_session


@pytest.fixture
def mariadb_outbox(outbox_mariadb: Engine) -> SqlOutboxHarness:
    return SqlOutboxHarness(outbox_mariadb, TABLES)


@pytest.fixture
async def async_mariadb_outbox(outbox_mariadb: Engine) -> AsyncIterator[AsyncSqlOutboxHarness]:
    engine = create_async_engine(DatabaseConfig(url=MARIADB_URL))
    try:
        yield AsyncSqlOutboxHarness(engine, TABLES)
    finally:
        await engine.dispose()
