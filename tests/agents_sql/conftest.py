"""Harnesses for the SQL agent stores: SQLite files and PostgreSQL, sync and async.

The PostgreSQL tables get a per-run prefix (runs sharing the server do not see each
other's rows) and are emptied before each test as superuser with triggers off
(``session_replication_role = replica``): the evidence table refuses DELETE otherwise.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import Connection, Engine, MetaData, delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    SqlAlchemyOutboxWriter,
    SqlAlchemyTransactionManager,
    create_async_engine,
    create_engine,
    outbox_tables,
)
from hexalchemy.sqlalchemy.agents import (
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemySignalQueue,
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemySignalQueue,
    agent_tables,
    append_only_statements,
)
from hexalchemy.testing import Tamper
from hexalchemy.testing.contracts.agents import AgentHarness, AsyncAgentHarness
from tests.postgresql import (
    POSTGRESQL_URL,
    engine_with_tables,
    sqlite_file_with_tables,
    without_postgresql,
)

PREFIX: Final = f"hx_test_agent_{uuid.uuid4().hex[:8]}"
METADATA: Final = MetaData()
TABLES: Final = agent_tables(METADATA, prefix=PREFIX)
OUTBOX: Final = outbox_tables(METADATA, prefix=f"{PREFIX}_outbox")


class FakeClock:
    """The wall clock plus an offset that tests move forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


def _without_triggers(connection: Connection, work: Callable[[Connection], object]) -> None:
    """Run ``work`` with the evidence table's append-only triggers off, as a superuser would."""
    name = TABLES.evidence.name
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        work(connection)
        return
    for operation in ("update", "delete"):
        connection.execute(text(f"DROP TRIGGER {name}_no_{operation}"))
    work(connection)
    for statement in append_only_statements(name, "sqlite"):
        connection.execute(text(statement))


def damage(agent_id: str, sequence: int, how: Tamper) -> Callable[[Connection], None]:
    """The statements that damage a committed evidence entry (run them with the triggers off)."""
    e = TABLES.evidence
    at = (e.c.agent_id == agent_id, e.c.sequence == sequence)

    def run(connection: Connection) -> None:
        if how is Tamper.EDIT:
            connection.execute(update(e).where(*at).values(payload={"tampered": True}))
        elif how is Tamper.DELETE:
            connection.execute(delete(e).where(*at))
        else:
            following = (e.c.agent_id == agent_id, e.c.sequence == sequence + 1)
            connection.execute(update(e).where(*at).values(sequence=-1))
            connection.execute(update(e).where(*following).values(sequence=sequence))
            connection.execute(
                update(e).where(e.c.agent_id == agent_id, e.c.sequence == -1).values(sequence=sequence + 1)
            )

    return run


def tamper(engine: Engine, agent_id: str, sequence: int, how: Tamper) -> None:
    """Damage a committed evidence entry behind the library's back (triggers disabled)."""
    with engine.begin() as connection:
        _without_triggers(connection, damage(agent_id, sequence, how))


class SqlAgents:
    """The sync SQL agent stores and an outbox writer on one transaction manager, on a fake clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.transactions = SqlAlchemyTransactionManager(engine)
        self.states = SqlAlchemyAgentStateStore(TABLES, self.transactions, clock=self.clock)
        self.signals = SqlAlchemySignalQueue(TABLES, self.transactions, clock=self.clock)
        self.evidence = SqlAlchemyEvidenceLog(TABLES, self.transactions)
        self.outbox = SqlAlchemyOutboxWriter(OUTBOX, self.transactions)

    def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)

    def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        tamper(self.engine, agent_id, sequence, how)


class AsyncSqlAgents:
    """The async SQL agent stores and an outbox writer on one transaction manager, on a fake clock."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self.states = AsyncSqlAlchemyAgentStateStore(TABLES, self.transactions, clock=self.clock)
        self.signals = AsyncSqlAlchemySignalQueue(TABLES, self.transactions, clock=self.clock)
        self.evidence = AsyncSqlAlchemyEvidenceLog(TABLES, self.transactions)
        self.outbox = AsyncSqlAlchemyOutboxWriter(OUTBOX, self.transactions)

    async def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)

    async def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(_without_triggers, damage(agent_id, sequence, how))


def _static_checks(sync: SqlAgents, async_: AsyncSqlAgents) -> tuple[AgentHarness, AsyncAgentHarness]:
    """Never called: mypy checks here that the harnesses implement the contract's protocols."""
    return sync, async_


# -- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_agents_config(tmp_path: Path) -> DatabaseConfig:
    return sqlite_file_with_tables(METADATA, tmp_path / "agents.db")


@pytest.fixture
def sqlite_agents(sqlite_agents_config: DatabaseConfig) -> Iterator[SqlAgents]:
    engine = create_engine(sqlite_agents_config)
    yield SqlAgents(engine)
    engine.dispose()


@pytest.fixture
async def async_sqlite_agents(sqlite_agents_config: DatabaseConfig) -> AsyncIterator[AsyncSqlAgents]:
    engine = create_async_engine(sqlite_agents_config)
    try:
        yield AsyncSqlAgents(engine)
    finally:
        await engine.dispose()


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def agents_postgresql_session() -> Iterator[Engine | str]:
    """A session-wide engine with the agent tables created, or why the server is unreachable."""
    yield from engine_with_tables(METADATA)


def empty_tables(engine: Engine) -> None:
    """Delete every row, with the append-only triggers off for this transaction (superuser)."""
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(METADATA.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def agents_postgresql(agents_postgresql_session: Engine | str) -> Engine:
    """The session engine with every agent table emptied (skip or fail without a server)."""
    if isinstance(agents_postgresql_session, str):
        without_postgresql(agents_postgresql_session)
    empty_tables(agents_postgresql_session)
    return agents_postgresql_session


@pytest.fixture
def postgresql_agents(agents_postgresql: Engine) -> SqlAgents:
    return SqlAgents(agents_postgresql)


@pytest.fixture
async def async_postgresql_agents(agents_postgresql: Engine) -> AsyncIterator[AsyncSqlAgents]:
    engine = create_async_engine(DatabaseConfig(url=POSTGRESQL_URL))
    try:
        yield AsyncSqlAgents(engine)
    finally:
        await engine.dispose()
