# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The outbox writer and relay store on SQLAlchemy Core: :class:`AsyncSqlAlchemyOutboxWriter`, :class:`AsyncSqlAlchemyOutboxRelayStore`; see :mod:`hexalchemy.sqlalchemy.outbox`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import (
    AcknowledgeResult,
    ConfigError,
    DeadLetter,
    DeliveryResult,
    Lease,
    OutboxMessage,
    OutboxStats,
)
from hexalchemy.ports.outbox import AsyncPublish
from hexalchemy.rules import OutboxPolicy, check_instance
from hexalchemy.rules.outbox_messages import MAX_PAYLOAD_BYTES
from hexalchemy.sqlalchemy._bridge import plan_engine_async, run_own_plan_async
from hexalchemy.sqlalchemy._operations import run_plan_async
from hexalchemy.sqlalchemy._outbox_core import OutboxRelayCore, OutboxWriterCore
from hexalchemy.sqlalchemy._outbox_tables import OutboxTables
from hexalchemy.sqlalchemy.transaction import AsyncSqlAlchemyTransactionManager


class AsyncSqlAlchemyOutboxWriter:
    """Adds outbox messages in the ambient transaction of ``transactions``; implements ``AsyncOutboxWriter``.

    Every message is validated before anything is written (``InvalidMessageError``);
    payloads may be at most ``max_payload_bytes``. Outside a transaction it raises
    ``NoActiveTransactionError``, in a read-only one ``ReadOnlyTransactionError``.
    """

    def __init__(
        self,
        tables: OutboxTables,
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.tables = check_instance("tables", tables, OutboxTables, error=ConfigError)
        self.transactions = check_instance(
            "transactions", transactions, AsyncSqlAlchemyTransactionManager, error=ConfigError
        )
        self._core = OutboxWriterCore(tables, transactions.core, max_payload_bytes)

    async def add(self, message: OutboxMessage, /) -> bool:
        """Add one message; False if its id or its topic's idempotency key is already in the outbox."""
        return await run_plan_async(self._core.add(message))

    async def add_all(self, messages: Iterable[OutboxMessage], /) -> int:
        """Add many messages in at most three statements; return how many were added."""
        return await run_plan_async(self._core.add_all(messages))


class AsyncSqlAlchemyOutboxRelayStore:
    """The relay's side of the outbox; implements ``AsyncOutboxRelayStore``.

    Every call runs in a short transaction of its own, on a connection of the engine (or
    of the manager's engine). Given a manager, a call made inside one of its transactions
    raises ``TransactionUsageError``. On PostgreSQL a claim is one statement
    (``FOR UPDATE SKIP LOCKED``: concurrent relays never lease the same message) and times
    come from the database clock; on SQLite a claim runs inside ``BEGIN IMMEDIATE``.
    """

    def __init__(
        self,
        tables: OutboxTables,
        engine: AsyncEngine | AsyncSqlAlchemyTransactionManager,
        *,
        policy: OutboxPolicy = OutboxPolicy(),  # noqa: B008 - immutable
    ) -> None:
        self.tables = check_instance("tables", tables, OutboxTables, error=ConfigError)
        self.policy = policy
        if isinstance(engine, AsyncSqlAlchemyTransactionManager):
            self.engine = engine.engine
            ambient = engine.core
        else:
            self.engine = check_instance("engine", engine, AsyncEngine, error=ConfigError)
            ambient = None
        self._core = OutboxRelayCore(
            tables, plan_engine_async(self.engine), self.engine.dialect, ambient, policy
        )

    async def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        """Lease up to ``limit`` due messages in delivery order, counting an attempt for each."""
        return await run_own_plan_async(self._core.claim(limit, lease_for))

    async def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Delete (or archive) published messages, only where ``lease`` still holds them."""
        return await run_own_plan_async(self._core.acknowledge(lease, ids))

    async def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        """Give a message back for a later retry (backoff when ``retry_after`` is None), or dead-letter it past the attempt limit."""
        return await run_own_plan_async(self._core.reject(lease, id, error, retry_after))

    async def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        """Move a leased message to the dead letters now."""
        return await run_own_plan_async(self._core.dead_letter(lease, id, error))

    async def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Give unfinished messages back, available now, without counting the attempt."""
        return await run_own_plan_async(self._core.release(lease, ids))

    async def deliver(self, publish: AsyncPublish, /, *, limit: int) -> DeliveryResult:
        """Take, publish and settle up to ``limit`` due messages in one transaction (see ``LockedDelivery.deliver``)."""
        return await run_own_plan_async(self._core.deliver(publish, limit))

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters, oldest first."""
        return await run_own_plan_async(self._core.dead_letters(limit))

    async def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        """Move dead letters (all when ``ids`` is None) back to the outbox with zero attempts."""
        return await run_own_plan_async(self._core.requeue(ids))

    async def purge(self, *, dead_before: dt.datetime) -> int:
        """Delete dead letters (and archived messages) older than ``dead_before``; return how many."""
        return await run_own_plan_async(self._core.purge(dead_before))

    async def stats(self) -> OutboxStats:
        """Counts for monitoring; the oldest pending age is measured from the message's ``created_at``."""
        return await run_own_plan_async(self._core.stats())
