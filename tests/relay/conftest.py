"""Outboxes for the relay tests: the real stores (in memory, SQLite, PostgreSQL, MariaDB), sync and async.

Every outbox here is a real adapter; a test only chooses which. Each PostgreSQL or MariaDB outbox has
tables of its own (a random prefix), dropped afterwards, so tests never see each other's
messages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TypedDict

import attrs
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.outbox import DeliveryMode
from hexalchemy.ports import AsyncOutboxRelayStore, OutboxMessage, OutboxRelayStore
from hexalchemy.rules import OutboxPolicy, new_message
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    SqlAlchemyTransactionManager,
    create_async_engine,
    create_engine,
)
from hexalchemy.sqlalchemy.outbox import (
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    OutboxTables,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
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
from tests.mariadb import MARIADB_URL, without_mariadb
from tests.postgresql import POSTGRESQL_URL, without_postgresql

MAX_ATTEMPTS = 3
"""The attempt limit of every test store: a poison message is dead after 3 claims."""

POLICY = OutboxPolicy(
    max_attempts=MAX_ATTEMPTS,
    base_delay=dt.timedelta(milliseconds=5),
    max_delay=dt.timedelta(milliseconds=20),
)
"""Short retry backoffs, so that retries happen within a test."""


class Delays(TypedDict):
    """Relay delay options."""

    min_idle_delay: float
    max_idle_delay: float
    error_backoff: float
    max_error_backoff: float


FAST: Delays = {
    "min_idle_delay": 0.005,
    "max_idle_delay": 0.02,
    "error_backoff": 0.01,
    "max_error_backoff": 0.05,
}
"""Relay options for tests: short idle sleeps and error backoffs."""

KINDS = ["memory", "sqlite", "postgresql", "mariadb"]
SQL_KINDS = ["sqlite", "postgresql", "mariadb"]


class ClosedError(Exception):
    """A rolled-back producer transaction (raised on purpose)."""


@attrs.define
class Outbox:
    """A real relay store and a way to commit (or roll back) messages into it."""

    kind: str
    store: OutboxRelayStore
    write: Callable[[Sequence[OutboxMessage], bool], None]
    make_store: Callable[[OutboxPolicy], OutboxRelayStore]
    tables: OutboxTables | None = None
    engine: sqlalchemy.Engine | None = None
    url: str | None = None

    def commit(self, *messages: OutboxMessage) -> None:
        self.write(messages, True)

    def roll_back(self, *messages: OutboxMessage) -> None:
        self.write(messages, False)

    def new_store(self, policy: OutboxPolicy = POLICY) -> OutboxRelayStore:
        """Another store on the same outbox (for SQL, with an engine and connections of its own)."""
        return self.make_store(policy)


@attrs.define
class AsyncOutbox:
    """The async twin of :class:`Outbox` (its SQL ``engine`` a sync one on the same database, for DDL)."""

    kind: str
    store: AsyncOutboxRelayStore
    write: Callable[[Sequence[OutboxMessage], bool], Awaitable[None]]
    make_store: Callable[[OutboxPolicy], AsyncOutboxRelayStore]
    tables: OutboxTables | None = None
    engine: sqlalchemy.Engine | None = None
    url: str | None = None

    async def commit(self, *messages: OutboxMessage) -> None:
        await self.write(messages, True)

    async def roll_back(self, *messages: OutboxMessage) -> None:
        await self.write(messages, False)

    def new_store(self, policy: OutboxPolicy = POLICY) -> AsyncOutboxRelayStore:
        """Another store on the same outbox (for SQL, with an engine and connections of its own)."""
        return self.make_store(policy)


def message(key: str | None = None, topic: str = "orders", payload: bytes = b"{}") -> OutboxMessage:
    return new_message(topic, payload, ordering_key=key)


def sql_writer(
    tables: OutboxTables, engine: sqlalchemy.Engine
) -> Callable[[Sequence[OutboxMessage], bool], None]:
    transactions = SqlAlchemyTransactionManager(engine)
    writer = SqlAlchemyOutboxWriter(tables, transactions)

    def write(messages: Sequence[OutboxMessage], commit: bool) -> None:
        try:
            with transactions.begin():
                writer.add_all(messages)
                if not commit:
                    raise ClosedError
        except ClosedError:
            pass

    return write


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/outbox.db"


def _sql_outbox(kind: str, url: str, *, archive: bool = False) -> Iterator[Outbox]:
    metadata = sqlalchemy.MetaData()
    tables = outbox_tables(metadata, prefix=f"relay_{uuid.uuid4().hex[:8]}", archive=archive)
    engine = create_engine(DatabaseConfig(url=url))
    metadata.create_all(engine)
    others: list[sqlalchemy.Engine] = []
    built: list[Outbox] = []

    def make_store(policy: OutboxPolicy) -> OutboxRelayStore:
        other = create_engine(DatabaseConfig(url=built[0].url or url))  # a test may change the URL
        others.append(other)  # disposed with the outbox
        return SqlAlchemyOutboxRelayStore(tables, other, policy=policy)

    store = SqlAlchemyOutboxRelayStore(tables, engine, policy=attrs.evolve(POLICY, archive=archive))
    built.append(Outbox(kind, store, sql_writer(tables, engine), make_store, tables, engine, url))
    try:
        yield built[0]
    finally:
        for other in others:
            other.dispose()
        metadata.drop_all(engine)
        engine.dispose()


def _memory_write(
    transactions: InMemoryTransactionManager, writer: InMemoryOutboxWriter
) -> Callable[[Sequence[OutboxMessage], bool], None]:
    def write(messages: Sequence[OutboxMessage], commit: bool) -> None:
        try:
            with transactions.begin():
                writer.add_all(messages)
                if not commit:
                    raise ClosedError
        except ClosedError:
            pass

    return write


@pytest.fixture
def memory_outbox() -> Outbox:
    transactions = InMemoryTransactionManager()

    def make_store(policy: OutboxPolicy) -> OutboxRelayStore:
        return InMemoryOutboxRelayStore(transactions, policy=policy)

    writer = InMemoryOutboxWriter(transactions)
    return Outbox("memory", make_store(POLICY), _memory_write(transactions, writer), make_store)


@pytest.fixture
def sqlite_outbox(sqlite_url: str) -> Iterator[Outbox]:
    yield from _sql_outbox("sqlite", sqlite_url)


@pytest.fixture
def postgresql_outbox(postgresql_problem: str | None) -> Iterator[Outbox]:
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    yield from _sql_outbox("postgresql", POSTGRESQL_URL)


@pytest.fixture
def mariadb_outbox(mariadb_problem: str | None) -> Iterator[Outbox]:
    if mariadb_problem is not None:
        without_mariadb(mariadb_problem)
    yield from _sql_outbox("mariadb", MARIADB_URL)


@pytest.fixture
def archived_postgresql_outbox(postgresql_problem: str | None) -> Iterator[Outbox]:
    """A PostgreSQL outbox that archives acknowledged messages (with their key sequence)."""
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    yield from _sql_outbox("postgresql", POSTGRESQL_URL, archive=True)


@pytest.fixture
def archived_mariadb_outbox(mariadb_problem: str | None) -> Iterator[Outbox]:
    """A MariaDB outbox that archives acknowledged messages (with their key sequence)."""
    if mariadb_problem is not None:
        without_mariadb(mariadb_problem)
    yield from _sql_outbox("mariadb", MARIADB_URL, archive=True)


@pytest.fixture(params=["postgresql", "mariadb"])
def archived_server_outbox(request: pytest.FixtureRequest) -> Outbox:
    """Each server's archiving outbox in turn (PostgreSQL, MariaDB)."""
    kind: str = request.param
    if kind == "postgresql":
        request.applymarker(pytest.mark.postgresql)
    fixture: Outbox = request.getfixturevalue(f"archived_{kind}_outbox")
    return fixture


@pytest.fixture(params=KINDS)
def outbox(request: pytest.FixtureRequest) -> Outbox:
    """Each real outbox in turn."""
    kind: str = request.param
    if kind == "postgresql":
        request.applymarker(pytest.mark.postgresql)
    fixture: Outbox = request.getfixturevalue(f"{kind}_outbox")
    return fixture


@pytest.fixture(params=SQL_KINDS)
def sql_outbox(request: pytest.FixtureRequest) -> Outbox:
    """Each SQL outbox in turn (for tests that break the database)."""
    kind: str = request.param
    if kind == "postgresql":
        request.applymarker(pytest.mark.postgresql)
    fixture: Outbox = request.getfixturevalue(f"{kind}_outbox")
    return fixture


async def _async_sql_outbox(kind: str, url: str) -> AsyncIterator[AsyncOutbox]:
    metadata = sqlalchemy.MetaData()
    tables = outbox_tables(metadata, prefix=f"relay_{uuid.uuid4().hex[:8]}")
    ddl = create_engine(DatabaseConfig(url=url))
    metadata.create_all(ddl)
    engine: AsyncEngine = create_async_engine(DatabaseConfig(url=url))
    transactions = AsyncSqlAlchemyTransactionManager(engine)
    writer = AsyncSqlAlchemyOutboxWriter(tables, transactions)
    others: list[AsyncEngine] = []
    built: list[AsyncOutbox] = []

    async def write(messages: Sequence[OutboxMessage], commit: bool) -> None:
        try:
            async with transactions.begin():
                await writer.add_all(messages)
                if not commit:
                    raise ClosedError
        except ClosedError:
            pass

    def make_store(policy: OutboxPolicy) -> AsyncOutboxRelayStore:
        other = create_async_engine(DatabaseConfig(url=built[0].url or url))  # a test may change the URL
        others.append(other)  # disposed with the outbox
        return AsyncSqlAlchemyOutboxRelayStore(tables, other, policy=policy)

    store = AsyncSqlAlchemyOutboxRelayStore(tables, engine, policy=POLICY)
    built.append(AsyncOutbox(kind, store, write, make_store, tables, ddl, url))
    try:
        yield built[0]
    finally:
        for other in others:
            await other.dispose()
        await engine.dispose()
        metadata.drop_all(ddl)
        ddl.dispose()


def _async_memory_outbox() -> AsyncOutbox:
    transactions = AsyncInMemoryTransactionManager()
    writer = AsyncInMemoryOutboxWriter(transactions)

    async def write(messages: Sequence[OutboxMessage], commit: bool) -> None:
        try:
            async with transactions.begin():
                await writer.add_all(messages)
                if not commit:
                    raise ClosedError
        except ClosedError:
            pass

    def make_store(policy: OutboxPolicy) -> AsyncOutboxRelayStore:
        return AsyncInMemoryOutboxRelayStore(transactions, policy=policy)

    return AsyncOutbox("memory", make_store(POLICY), write, make_store)


async def _async_outbox_of(
    request: pytest.FixtureRequest,
    kind: str,
    sqlite_url: str,
    postgresql_problem: str | None,
    mariadb_problem: str | None,
) -> AsyncIterator[AsyncOutbox]:
    if kind == "memory":
        yield _async_memory_outbox()
        return
    if kind == "postgresql":
        request.applymarker(pytest.mark.postgresql)
        if postgresql_problem is not None:
            without_postgresql(postgresql_problem)
    if kind == "mariadb" and mariadb_problem is not None:
        without_mariadb(mariadb_problem)
    urls = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL, "sqlite": sqlite_url}
    async for built in _async_sql_outbox(kind, urls[kind]):
        yield built


@pytest.fixture(params=KINDS)
async def async_outbox(
    request: pytest.FixtureRequest,
    sqlite_url: str,
    postgresql_problem: str | None,
    mariadb_problem: str | None,
) -> AsyncIterator[AsyncOutbox]:
    """Each real async outbox in turn."""
    async for built in _async_outbox_of(
        request, request.param, sqlite_url, postgresql_problem, mariadb_problem
    ):
        yield built


@pytest.fixture(params=SQL_KINDS)
async def async_sql_outbox(
    request: pytest.FixtureRequest,
    sqlite_url: str,
    postgresql_problem: str | None,
    mariadb_problem: str | None,
) -> AsyncIterator[AsyncOutbox]:
    """Each async SQL outbox in turn (for tests that break the database)."""
    async for built in _async_outbox_of(
        request, request.param, sqlite_url, postgresql_problem, mariadb_problem
    ):
        yield built


@pytest.fixture
async def async_postgresql_outbox(
    request: pytest.FixtureRequest, postgresql_problem: str | None, mariadb_problem: str | None
) -> AsyncIterator[AsyncOutbox]:
    """The async PostgreSQL outbox."""
    async for built in _async_outbox_of(request, "postgresql", "", postgresql_problem, mariadb_problem):
        yield built


@pytest.fixture(params=list(DeliveryMode), ids=[mode.value for mode in DeliveryMode])
def delivery(request: pytest.FixtureRequest) -> DeliveryMode:
    """The tests that hold for both delivery modes run with each."""
    mode: DeliveryMode = request.param
    return mode
