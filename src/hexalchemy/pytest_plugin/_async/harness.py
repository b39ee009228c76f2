# The async harnesses in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""Harnesses on hexalchemy's own adapters: :class:`AsyncMemoryHarness`, :class:`AsyncSqlHarness`; for the outbox contracts :class:`AsyncMemoryOutboxHarness`, :class:`AsyncSqlOutboxHarness`; for the agent-store contracts :class:`AsyncMemoryAgentHarness`."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hexalchemy.ports import EntitySpec
from hexalchemy.pytest_plugin.clock import MovableClock
from hexalchemy.pytest_plugin.tables import COMMIT_BREAKER, CONTRACT_OUTBOX_POLICY, checked_out
from hexalchemy.rules import OutboxPolicy, check_instance
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    OutboxTables,
    Schema,
)
from hexalchemy.testing import (
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemoryOutboxRelayStore,
    AsyncInMemoryOutboxWriter,
    AsyncInMemoryRepository,
    AsyncInMemorySignalQueue,
    AsyncInMemoryTransactionManager,
    Tamper,
)
from hexalchemy.testing.contracts.outbox import CONTRACT_MAX_PAYLOAD_BYTES

T = TypeVar("T")
K = TypeVar("K")


class AsyncMemoryHarness:
    """The in-memory adapters on a fresh, empty store: ``transactions`` and ``repository(spec)``."""

    def __init__(self) -> None:
        self.transactions = AsyncInMemoryTransactionManager()

    def repository(self, spec: EntitySpec[T, K]) -> AsyncInMemoryRepository[T, K]:
        """A repository of ``spec`` on :attr:`transactions` (any spec: the memory store needs no table)."""
        return AsyncInMemoryRepository(spec, self.transactions)

    async def break_commit(self) -> None:
        """Make the next outermost commit fail (``fail_next_commit()``)."""
        self.transactions.fail_next_commit()

    def checked_out_connections(self) -> int:
        """Always 0: the memory store has no connections."""
        return 0


async def end_session(connection: AsyncConnection) -> None:
    """Have the server end ``connection``'s session (MariaDB's ``KILL``): its COMMIT then fails and nothing of it stays.

    The commit breaker of the plugin's MariaDB harnesses: MariaDB has no deferred
    constraints for :data:`COMMIT_BREAKER`.
    """
    victim = (await connection.exec_driver_sql("SELECT CONNECTION_ID()")).scalar_one()
    async with connection.engine.connect() as killer:
        await killer.exec_driver_sql(f"KILL {int(victim)}")


class AsyncSqlHarness:
    """The SQLAlchemy adapters on ``engine``, whose tables (``schema``'s and :data:`COMMIT_BREAKER`) exist.

    ``repository(spec)`` builds a repository from ``schema``'s mapping of ``spec``'s class;
    ``break_commit()`` inserts, through the open transaction's connection, a row of
    :data:`COMMIT_BREAKER` that violates its deferred foreign key, so the database refuses
    the COMMIT. A database with no deferred constraints (MariaDB) is given
    ``commit_breaker``: a function of the open transaction's connection that makes its
    COMMIT fail (say, by having the server end the session).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        schema: Schema,
        commit_breaker: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> None:
        check_instance("schema", schema, Schema)
        self.engine = engine
        self.schema = schema
        self.commit_breaker = commit_breaker
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self._orphans = itertools.count(1)

    def repository(self, spec: EntitySpec[T, K]) -> AsyncSqlAlchemyRepository[T, K]:
        """A repository of ``spec`` on :attr:`transactions` (``MappingError`` if the schema did not map its class)."""
        mapping = self.schema.mapping_for(spec.cls)
        return AsyncSqlAlchemyRepository(mapping, self.transactions)

    async def break_commit(self) -> None:
        """Make the commit of the open transaction fail (a deferred foreign key violated, or ``commit_breaker``)."""
        if self.commit_breaker is not None:
            await self.commit_breaker(self.transactions.connection())
            return
        orphan = COMMIT_BREAKER.insert().values(id=next(self._orphans), parent=-1)
        await self.transactions.connection().execute(orphan)

    def checked_out_connections(self) -> int:
        """How many connections of the engine's pool are in use (0 for a single-connection pool)."""
        return checked_out(self.engine.pool)


class AsyncMemoryOutboxHarness:
    """The in-memory outbox writer and relay store on a new store, wired as the outbox contracts ask.

    The writer takes ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES``, the relay store
    ``policy`` (the contracts' by default) and a :class:`MovableClock` that :meth:`advance` moves.
    """

    def __init__(self, policy: OutboxPolicy = CONTRACT_OUTBOX_POLICY) -> None:
        self.clock = MovableClock()
        self.transactions = AsyncInMemoryTransactionManager()
        self.writer = AsyncInMemoryOutboxWriter(
            self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES
        )
        self.relay = AsyncInMemoryOutboxRelayStore(self.transactions, policy=policy, clock=self.clock)

    async def advance(self, delta: dt.timedelta) -> None:
        """Let ``delta`` pass on the relay store's clock, at once."""
        self.clock.advance(delta)


class AsyncSqlOutboxHarness:
    """The SQL outbox writer and relay store on ``engine``, whose ``tables`` (``outbox_tables(...)``) exist and are empty.

    Wired as :class:`AsyncMemoryOutboxHarness`; time passes by sleeping (the database's clock).
    """

    def __init__(
        self, engine: AsyncEngine, tables: OutboxTables, policy: OutboxPolicy = CONTRACT_OUTBOX_POLICY
    ) -> None:
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self.writer = AsyncSqlAlchemyOutboxWriter(
            tables, self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES
        )
        self.relay = AsyncSqlAlchemyOutboxRelayStore(tables, self.transactions, policy=policy)

    async def advance(self, delta: dt.timedelta) -> None:
        """Let ``delta`` pass: sleep that long."""
        await asyncio.sleep(delta.total_seconds())


class AsyncMemoryAgentHarness:
    """The in-memory agent state store, signal queue and evidence log on a new store, as the agent-store contracts ask.

    The state store and the signal queue run on a :class:`MovableClock` that :meth:`advance`
    moves; :meth:`tamper` damages a committed evidence entry behind the library's back.
    """

    def __init__(self) -> None:
        self.clock = MovableClock()
        self.transactions = AsyncInMemoryTransactionManager()
        self.states = AsyncInMemoryAgentStateStore(self.transactions, clock=self.clock)
        self.signals = AsyncInMemorySignalQueue(self.transactions, clock=self.clock)
        self.evidence = AsyncInMemoryEvidenceLog(self.transactions)

    async def advance(self, delta: dt.timedelta) -> None:
        """Let ``delta`` pass on the stores' clock, at once."""
        self.clock.advance(delta)

    async def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        """Edit, delete or reorder the committed evidence entry ``sequence`` of ``agent_id``."""
        self.evidence.tamper(agent_id, sequence, how)
