"""Harnesses for the outbox tests: memory (fake clock), SQLite files and PostgreSQL, sync and async.

Every harness is wired as the contract asks (``hexalchemy.testing.contracts.outbox``): a
writer with ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES`` and a relay store with the
contract's policy, built on the transaction manager. The SQL harnesses let time pass by
sleeping; the in-memory ones move a fake clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import Engine, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.rules import OutboxPolicy
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    SqlAlchemyTransactionManager,
    create_async_engine,
    create_engine,
    outbox_tables,
)
from hexalchemy.testing import (
    AsyncInMemoryOutboxRelayStore,
    AsyncInMemoryOutboxWriter,
    AsyncInMemoryTransactionManager,
    InMemoryOutboxRelayStore,
    InMemoryOutboxWriter,
    InMemoryTransactionManager,
)
from hexalchemy.testing.contracts.outbox import (
    CONTRACT_BASE_DELAY,
    CONTRACT_MAX_ATTEMPTS,
    CONTRACT_MAX_DELAY,
    CONTRACT_MAX_PAYLOAD_BYTES,
    AsyncOutboxHarness,
    OutboxHarness,
)
from tests.postgresql import (
    POSTGRESQL_URL,
    engine_with_tables,
    sqlite_file_with_tables,
    without_postgresql,
)

PREFIX: Final = f"hx_test_outbox_{uuid.uuid4().hex[:8]}"
"""Per test run, so that runs sharing the PostgreSQL server do not see each other's rows."""
METADATA: Final = MetaData()
TABLES: Final = outbox_tables(METADATA, prefix=PREFIX, archive=True)
POLICY: Final = OutboxPolicy(
    max_attempts=CONTRACT_MAX_ATTEMPTS, base_delay=CONTRACT_BASE_DELAY, max_delay=CONTRACT_MAX_DELAY
)


class FakeClock:
    """The wall clock plus an offset that tests move forward (never behind the wall clock)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


class MemoryHarness:
    def __init__(self, policy: OutboxPolicy = POLICY) -> None:
        self.clock = FakeClock()
        self.transactions = InMemoryTransactionManager()
        self.writer = InMemoryOutboxWriter(self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES)
        self.relay = InMemoryOutboxRelayStore(self.transactions, policy=policy, clock=self.clock)

    def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)


class AsyncMemoryHarness:
    def __init__(self, policy: OutboxPolicy = POLICY) -> None:
        self.clock = FakeClock()
        self.transactions = AsyncInMemoryTransactionManager()
        self.writer = AsyncInMemoryOutboxWriter(
            self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES
        )
        self.relay = AsyncInMemoryOutboxRelayStore(self.transactions, policy=policy, clock=self.clock)

    async def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)


class SqlHarness:
    def __init__(self, engine: Engine, policy: OutboxPolicy = POLICY) -> None:
        self.engine = engine
        self.transactions = SqlAlchemyTransactionManager(engine)
        self.writer = SqlAlchemyOutboxWriter(
            TABLES, self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES
        )
        self.relay = SqlAlchemyOutboxRelayStore(TABLES, self.transactions, policy=policy)

    def advance(self, delta: dt.timedelta) -> None:
        time.sleep(delta.total_seconds())


class AsyncSqlHarness:
    def __init__(self, engine: AsyncEngine, policy: OutboxPolicy = POLICY) -> None:
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self.writer = AsyncSqlAlchemyOutboxWriter(
            TABLES, self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES
        )
        self.relay = AsyncSqlAlchemyOutboxRelayStore(TABLES, self.transactions, policy=policy)

    async def advance(self, delta: dt.timedelta) -> None:
        await asyncio.sleep(delta.total_seconds())


def _static_checks(
    memory: MemoryHarness, async_memory: AsyncMemoryHarness, sql: SqlHarness, async_sql: AsyncSqlHarness
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
def sqlite_outbox(sqlite_engine: Engine) -> SqlHarness:
    return SqlHarness(sqlite_engine)


@pytest.fixture
async def async_sqlite_outbox(sqlite_outbox_config: DatabaseConfig) -> AsyncIterator[AsyncSqlHarness]:
    engine = create_async_engine(sqlite_outbox_config)
    try:
        yield AsyncSqlHarness(engine)
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
def postgresql_outbox(outbox_postgresql: Engine) -> SqlHarness:
    return SqlHarness(outbox_postgresql)


@pytest.fixture
async def async_postgresql_outbox(outbox_postgresql: Engine) -> AsyncIterator[AsyncSqlHarness]:
    engine = create_async_engine(DatabaseConfig(url=POSTGRESQL_URL))
    try:
        yield AsyncSqlHarness(engine)
    finally:
        await engine.dispose()
