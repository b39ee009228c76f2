"""The transactional outbox on SQLAlchemy Core: its tables, writers and relay stores, sync and async.

Wire it in the composition root::

    tables = outbox_tables(schema)  # adds the outbox tables to schema.metadata
    writer = SqlAlchemyOutboxWriter(tables, transactions)
    store = SqlAlchemyOutboxRelayStore(tables, transactions, policy=OutboxPolicy(max_attempts=5))

A service adds messages with ``writer.add(...)`` inside the transaction of its business
data; a relay claims, publishes and acknowledges them through ``store``, each call in a
short transaction of its own. All the logic is in
:mod:`hexalchemy.sqlalchemy._outbox_core`; the classes here only drive its plans.

Guarantees:

- a message is stored exactly when the transaction that added it commits;
- a repeated idempotency key of a topic, or a repeated message id, is dropped while the
  first message is in the outbox (not yet acknowledged or dead-lettered);
- messages sharing an ``ordering_key`` are numbered in commit order (the producers of one
  key serialise on its row in the sequences table) and delivered one at a time: only the
  first message of a key is claimable, and the key is held while it is leased or waiting
  for a retry; other keys flow;
- a claim leases each message to one relay; acknowledgements and rejections are fenced by
  the lease token, so a relay whose lease expired changes nothing (its calls report the
  messages as stale);
- an attempt is counted at claim time: after ``max_attempts`` claims a message is
  dead-lettered, by the rejection or by the next claim;
- a locked delivery (``deliver``) deletes the due messages it takes in its transaction
  (which locks them: on PostgreSQL other relays skip them, on SQLite no other writer
  runs), publishes them, puts the failed ones back with an attempt counted (or buries
  them at the limit) and commits; if it does not commit, the messages are back, untouched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import (
    AcknowledgeResult,
    DeadLetter,
    DeliveryResult,
    Lease,
    OutboxMessage,
    OutboxStats,
)
from hexalchemy.ports.outbox import AsyncPublish, Publish
from hexalchemy.rules import OutboxPolicy
from hexalchemy.rules.outbox_messages import MAX_PAYLOAD_BYTES
from hexalchemy.sqlalchemy._operations import run_plan as _run
from hexalchemy.sqlalchemy._operations import run_plan_async as _run_async
from hexalchemy.sqlalchemy._operations import run_plan_bridged
from hexalchemy.sqlalchemy._outbox_core import OutboxRelayCore, OutboxWriterCore
from hexalchemy.sqlalchemy._outbox_core import run_own_plan as _run_own
from hexalchemy.sqlalchemy._outbox_tables import DEFAULT_PREFIX, OutboxTables, outbox_tables
from hexalchemy.sqlalchemy.transaction import AsyncSqlAlchemyTransactionManager, SqlAlchemyTransactionManager

__all__ = [
    "DEFAULT_PREFIX",
    "AsyncSqlAlchemyOutboxRelayStore",
    "AsyncSqlAlchemyOutboxWriter",
    "OutboxTables",
    "SqlAlchemyOutboxRelayStore",
    "SqlAlchemyOutboxWriter",
    "outbox_tables",
]


class SqlAlchemyOutboxWriter:
    """Adds outbox messages in the ambient transaction of ``transactions``; implements ``OutboxWriter``.

    Every message is validated before anything is written (``InvalidMessageError``);
    payloads may be at most ``max_payload_bytes``. Outside a transaction it raises
    ``NoActiveTransactionError``, in a read-only one ``ReadOnlyTransactionError``.
    """

    def __init__(
        self,
        tables: OutboxTables,
        transactions: SqlAlchemyTransactionManager,
        *,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.tables = tables
        self.transactions = transactions
        self._core = OutboxWriterCore(tables, transactions.core, max_payload_bytes)

    def add(self, message: OutboxMessage, /) -> bool:
        """Add one message; False if its id or its topic's idempotency key is already in the outbox."""
        return _run(self._core.add(message))

    def add_all(self, messages: Iterable[OutboxMessage], /) -> int:
        """Add many messages in at most three statements; return how many were added."""
        return _run(self._core.add_all(messages))


class AsyncSqlAlchemyOutboxWriter:
    """Adds outbox messages in the ambient transaction of ``transactions`` (async); implements ``AsyncOutboxWriter``."""

    def __init__(
        self,
        tables: OutboxTables,
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.tables = tables
        self.transactions = transactions
        self._core = OutboxWriterCore(tables, transactions.core, max_payload_bytes)

    async def add(self, message: OutboxMessage, /) -> bool:
        """Add one message; False if its id or its topic's idempotency key is already in the outbox."""
        return await _run_async(self._core.add(message))

    async def add_all(self, messages: Iterable[OutboxMessage], /) -> int:
        """Add many messages in at most three statements; return how many were added."""
        return await _run_async(self._core.add_all(messages))


class SqlAlchemyOutboxRelayStore:
    """The relay's side of the outbox; implements ``OutboxRelayStore``.

    Every call runs in a short transaction of its own, on a connection of the engine (or
    of the manager's engine). Given a manager, a call made inside one of its transactions
    raises ``TransactionUsageError``. On PostgreSQL a claim is one statement
    (``FOR UPDATE SKIP LOCKED``: concurrent relays never lease the same message) and times
    come from the database clock; on SQLite a claim runs inside ``BEGIN IMMEDIATE``.
    """

    def __init__(
        self,
        tables: OutboxTables,
        engine: Engine | SqlAlchemyTransactionManager,
        *,
        policy: OutboxPolicy = OutboxPolicy(),  # noqa: B008 - immutable
    ) -> None:
        self.tables = tables
        self.policy = policy
        if isinstance(engine, SqlAlchemyTransactionManager):
            self.engine = engine.engine
            ambient = engine.core
        else:
            self.engine = engine
            ambient = None
        self._core = OutboxRelayCore(tables, self.engine, self.engine.dialect, ambient, policy)

    def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        """Lease up to ``limit`` due messages in delivery order, counting an attempt for each."""
        return _run_own(self._core.claim(limit, lease_for))

    def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Delete (or archive) published messages, only where ``lease`` still holds them."""
        return _run_own(self._core.acknowledge(lease, ids))

    def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        """Give a message back for a later retry (backoff when ``retry_after`` is None), or dead-letter it past the attempt limit."""
        return _run_own(self._core.reject(lease, id, error, retry_after))

    def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        """Move a leased message to the dead letters now."""
        return _run_own(self._core.dead_letter(lease, id, error))

    def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Give unfinished messages back, available now, without counting the attempt."""
        return _run_own(self._core.release(lease, ids))

    def deliver(self, publish: Publish, /, *, limit: int) -> DeliveryResult:
        """Take, publish and settle up to ``limit`` due messages in one transaction (see ``LockedDelivery.deliver``)."""
        return _run_own(self._core.deliver(publish, limit))

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters, oldest first."""
        return _run_own(self._core.dead_letters(limit))

    def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        """Move dead letters (all when ``ids`` is None) back to the outbox with zero attempts."""
        return _run_own(self._core.requeue(ids))

    def purge(self, *, dead_before: dt.datetime) -> int:
        """Delete dead letters (and archived messages) older than ``dead_before``; return how many."""
        return _run_own(self._core.purge(dead_before))

    def stats(self) -> OutboxStats:
        """Counts for monitoring; the oldest pending age is measured from the message's ``created_at``."""
        return _run_own(self._core.stats())


class AsyncSqlAlchemyOutboxRelayStore:
    """The relay's side of the outbox (async); implements ``AsyncOutboxRelayStore`` (see the sync store)."""

    def __init__(
        self,
        tables: OutboxTables,
        engine: AsyncEngine | AsyncSqlAlchemyTransactionManager,
        *,
        policy: OutboxPolicy = OutboxPolicy(),  # noqa: B008 - immutable
    ) -> None:
        self.tables = tables
        self.policy = policy
        if isinstance(engine, AsyncSqlAlchemyTransactionManager):
            self.engine = engine.engine
            ambient = engine.core
        else:
            self.engine = engine
            ambient = None
        # The sync store's plans, on the engine's sync face, each run whole inside SQLAlchemy's
        # greenlet bridge (one crossing per call instead of one per SQLAlchemy call).
        self._core = OutboxRelayCore(tables, self.engine.sync_engine, self.engine.dialect, ambient, policy)

    async def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        """Lease up to ``limit`` due messages in delivery order, counting an attempt for each."""
        return await run_plan_bridged(_run_own, self._core.claim(limit, lease_for))

    async def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Delete (or archive) published messages, only where ``lease`` still holds them."""
        return await run_plan_bridged(_run_own, self._core.acknowledge(lease, ids))

    async def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        """Give a message back for a later retry (backoff when ``retry_after`` is None), or dead-letter it past the attempt limit."""
        return await run_plan_bridged(_run_own, self._core.reject(lease, id, error, retry_after))

    async def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        """Move a leased message to the dead letters now."""
        return await run_plan_bridged(_run_own, self._core.dead_letter(lease, id, error))

    async def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Give unfinished messages back, available now, without counting the attempt."""
        return await run_plan_bridged(_run_own, self._core.release(lease, ids))

    async def deliver(self, publish: AsyncPublish, /, *, limit: int) -> DeliveryResult:
        """Take, publish (awaiting ``publish``) and settle up to ``limit`` due messages in one transaction."""
        return await run_plan_bridged(_run_own, self._core.deliver(publish, limit))

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters, oldest first."""
        return await run_plan_bridged(_run_own, self._core.dead_letters(limit))

    async def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        """Move dead letters (all when ``ids`` is None) back to the outbox with zero attempts."""
        return await run_plan_bridged(_run_own, self._core.requeue(ids))

    async def purge(self, *, dead_before: dt.datetime) -> int:
        """Delete dead letters (and archived messages) older than ``dead_before``; return how many."""
        return await run_plan_bridged(_run_own, self._core.purge(dead_before))

    async def stats(self) -> OutboxStats:
        """Counts for monitoring; the oldest pending age is measured from the message's ``created_at``."""
        return await run_plan_bridged(_run_own, self._core.stats())
