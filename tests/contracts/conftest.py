"""Harnesses that run hexalchemy's contract suite against its own adapters.

- memory: the in-memory adapters (a fresh store per test);
- SQLite: a new database file under ``tmp_path`` per test;
- PostgreSQL: ``TEST_POSTGRESQL_URL``; the tables are created once per session
  and emptied before each test. When the server is unreachable the PostgreSQL tests are
  skipped, or fail when ``TEST_REQUIRE_POSTGRESQL=1`` (as in CI).

Every SQL harness breaks a commit by inserting, through the transaction's own connection,
a row that violates a DEFERRABLE INITIALLY DEFERRED foreign key: the database accepts the
INSERT and refuses the COMMIT.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
from sqlalchemy import Column, Engine, ForeignKey, Integer, Table
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, QueuePool

from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    TableMapping,
    create_async_engine,
    create_engine,
)
from hexalchemy.testing import (
    AsyncInMemoryRepository,
    AsyncInMemoryTransactionManager,
    InMemoryRepository,
    InMemoryTransactionManager,
)
from hexalchemy.testing.contracts import (
    ACCOUNTS,
    DRAFTS,
    MEMBERSHIPS,
    SPECIMENS,
    SPECS,
    AsyncHarness,
    Harness,
)
from tests.postgresql import (
    POSTGRESQL_URL,
    engine_with_tables,
    sqlite_file_with_tables,
    without_postgresql,
)

T = TypeVar("T")
K = TypeVar("K")


SCHEMA: Final = Schema()
_TABLE_NAMES: Final = {
    ACCOUNTS.cls: "hx_contract_accounts",
    MEMBERSHIPS.cls: "hx_contract_memberships",
    DRAFTS.cls: "hx_contract_drafts",
    SPECIMENS.cls: "hx_contract_specimens",
}
MAPPINGS: Final[dict[type[object], TableMapping[Any, Any]]] = {
    spec.cls: SCHEMA.map(spec, table=_TABLE_NAMES[spec.cls]) for spec in SPECS
}
COMMIT_BREAKER: Final = Table(
    "hx_contract_commit_breaker",
    SCHEMA.metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "parent",
        Integer,
        ForeignKey("hx_contract_commit_breaker.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
)


def _mapping(spec: EntitySpec[T, K]) -> TableMapping[T, K]:
    mapping: TableMapping[T, K] = MAPPINGS[spec.cls]
    return mapping


def _checked_out(pool: Pool) -> int:
    if not isinstance(pool, QueuePool):  # pragma: no cover - file databases and PostgreSQL use a QueuePool
        raise TypeError(f"cannot count the connections of {pool!r}")
    return pool.checkedout()


# -- harnesses ----------------------------------------------------------------------------------


class MemoryHarness:
    """The synchronous in-memory adapters on a fresh store."""

    def __init__(self) -> None:
        self.transactions = InMemoryTransactionManager()

    def repository(self, spec: EntitySpec[T, K]) -> InMemoryRepository[T, K]:
        return InMemoryRepository(spec, self.transactions)

    def break_commit(self) -> None:
        self.transactions.fail_next_commit()

    def checked_out_connections(self) -> int:
        return 0


class AsyncMemoryHarness:
    """The asynchronous in-memory adapters on a fresh store."""

    def __init__(self) -> None:
        self.transactions = AsyncInMemoryTransactionManager()

    def repository(self, spec: EntitySpec[T, K]) -> AsyncInMemoryRepository[T, K]:
        return AsyncInMemoryRepository(spec, self.transactions)

    async def break_commit(self) -> None:
        self.transactions.fail_next_commit()

    def checked_out_connections(self) -> int:
        return 0


class SqlHarness:
    """The synchronous SQLAlchemy adapters on an engine whose tables exist and are empty."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.transactions = SqlAlchemyTransactionManager(engine)
        self._orphans = itertools.count(1)

    def repository(self, spec: EntitySpec[T, K]) -> SqlAlchemyRepository[T, K]:
        return SqlAlchemyRepository(_mapping(spec), self.transactions)

    def break_commit(self) -> None:
        orphan = COMMIT_BREAKER.insert().values(id=next(self._orphans), parent=-1)
        self.transactions.connection().execute(orphan)

    def checked_out_connections(self) -> int:
        return _checked_out(self.engine.pool)


class AsyncSqlHarness:
    """The asynchronous SQLAlchemy adapters on an engine whose tables exist and are empty."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self._orphans = itertools.count(1)

    def repository(self, spec: EntitySpec[T, K]) -> AsyncSqlAlchemyRepository[T, K]:
        return AsyncSqlAlchemyRepository(_mapping(spec), self.transactions)

    async def break_commit(self) -> None:
        orphan = COMMIT_BREAKER.insert().values(id=next(self._orphans), parent=-1)
        await self.transactions.connection().execute(orphan)

    def checked_out_connections(self) -> int:
        return _checked_out(self.engine.pool)


# -- memory -----------------------------------------------------------------------------------


@pytest.fixture
def memory_harness() -> MemoryHarness:
    return MemoryHarness()


@pytest.fixture
def async_memory_harness() -> AsyncMemoryHarness:
    return AsyncMemoryHarness()


# -- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_config(tmp_path: Path) -> DatabaseConfig:
    return sqlite_file_with_tables(SCHEMA.metadata, tmp_path / "contracts.db")


@pytest.fixture
def sqlite_harness(sqlite_config: DatabaseConfig) -> Iterator[SqlHarness]:
    engine = create_engine(sqlite_config)
    try:
        yield SqlHarness(engine)
    finally:
        engine.dispose()


@pytest.fixture
async def async_sqlite_harness(sqlite_config: DatabaseConfig) -> AsyncIterator[AsyncSqlHarness]:
    engine = create_async_engine(sqlite_config)
    try:
        yield AsyncSqlHarness(engine)
    finally:
        await engine.dispose()


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgresql_config() -> DatabaseConfig:
    return DatabaseConfig(url=POSTGRESQL_URL)


@pytest.fixture(scope="session")
def postgresql_connection(postgresql_config: DatabaseConfig) -> Iterator[Engine | str]:
    """A session-wide engine with the contract tables created, or why the server is unreachable.

    Never raises, so that an unreachable server is tried once per session, not once per test.
    """
    yield from engine_with_tables(SCHEMA.metadata, postgresql_config)


@pytest.fixture
def empty_postgresql(postgresql_connection: Engine | str) -> Engine:
    """The session engine, with every contract table emptied (skip or fail without a server)."""
    if isinstance(postgresql_connection, str):
        without_postgresql(postgresql_connection)
    with postgresql_connection.begin() as connection:
        for table in reversed(SCHEMA.metadata.sorted_tables):
            connection.execute(table.delete())
    return postgresql_connection


@pytest.fixture
def postgresql_harness(empty_postgresql: Engine) -> SqlHarness:
    return SqlHarness(empty_postgresql)


@pytest.fixture
async def async_postgresql_harness(
    empty_postgresql: Engine, postgresql_config: DatabaseConfig
) -> AsyncIterator[AsyncSqlHarness]:
    engine = create_async_engine(postgresql_config)
    try:
        yield AsyncSqlHarness(engine)
    finally:
        await engine.dispose()


def _static_checks(
    memory: MemoryHarness, async_memory: AsyncMemoryHarness, sql: SqlHarness, async_sql: AsyncSqlHarness
) -> tuple[Harness, AsyncHarness, Harness, AsyncHarness]:
    """Never called: mypy checks here that every harness implements its protocol."""
    return memory, async_memory, sql, async_sql
