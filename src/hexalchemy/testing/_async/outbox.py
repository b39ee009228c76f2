# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The in-memory outbox writer and relay store: :class:`AsyncInMemoryOutboxWriter`, :class:`AsyncInMemoryOutboxRelayStore`; see :mod:`hexalchemy.testing.outbox`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable

from hexalchemy.ports import (
    AcknowledgeResult,
    DeadLetter,
    DeliveryResult,
    Lease,
    OutboxMessage,
    OutboxStats,
)
from hexalchemy.ports.outbox import AsyncPublish
from hexalchemy.rules.outbox_messages import MAX_PAYLOAD_BYTES
from hexalchemy.testing._memory_core import core_of
from hexalchemy.testing._outbox_core import RelayCore, RelayPolicy, WriterCore
from hexalchemy.testing.memory import AsyncInMemoryTransactionManager


class AsyncInMemoryOutboxWriter:
    """Adds outbox messages in the ambient transaction of an in-memory manager; implements ``AsyncOutboxWriter``.

    The messages are buffered with the transaction's other writes: they appear at commit
    and vanish on rollback. Validation, idempotency keys and errors are those of the SQL writer.
    """

    __slots__ = ("_core",)

    def __init__(
        self, transactions: AsyncInMemoryTransactionManager, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES
    ) -> None:
        self._core = WriterCore(core_of(transactions, AsyncInMemoryTransactionManager), max_payload_bytes)

    async def add(self, message: OutboxMessage, /) -> bool:
        """Add one message; False if its id or its topic's idempotency key is already in the outbox."""
        return self._core.add_all((message,)) == 1

    async def add_all(self, messages: Iterable[OutboxMessage], /) -> int:
        """Add many messages; return how many were added."""
        return self._core.add_all(messages)

    def messages(self) -> list[OutboxMessage]:
        """The committed messages still in the outbox, in commit order (for assertions in tests)."""
        return self._core.messages()


class AsyncInMemoryOutboxRelayStore:
    """The relay's side of an in-memory outbox; implements ``AsyncOutboxRelayStore``.

    ``policy`` defaults to ``OutboxPolicy()``'s values; ``clock`` (a function returning an
    aware datetime) defaults to the UTC wall clock: pass your own to move time in tests.
    Calls made inside a transaction of ``transactions`` raise ``TransactionUsageError``.
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        transactions: AsyncInMemoryTransactionManager,
        *,
        policy: RelayPolicy | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._core = RelayCore(core_of(transactions, AsyncInMemoryTransactionManager), policy, clock)

    async def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        """Lease up to ``limit`` due messages in delivery order, counting an attempt for each."""
        return self._core.claim(limit, lease_for)

    async def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Remove (or archive) published messages, only where ``lease`` still holds them."""
        return self._core.acknowledge(lease, ids)

    async def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        """Give a message back for a later retry (backoff when ``retry_after`` is None), or dead-letter it past the attempt limit."""
        return self._core.reject(lease, id, error, retry_after)

    async def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        """Move a leased message to the dead letters now."""
        return self._core.dead_letter(lease, id, error)

    async def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Give unfinished messages back, available now, without counting the attempt."""
        return self._core.release(lease, ids)

    async def deliver(self, publish: AsyncPublish, /, *, limit: int) -> DeliveryResult:
        """Take, publish and settle up to ``limit`` due messages as one delivery (see ``LockedDelivery.deliver``)."""
        delivery = self._core.start_delivery(limit, publish)
        if not delivery.lease.messages:
            return DeliveryResult(0, 0, 0, 0)
        try:
            results = await publish(delivery.lease.messages)
        except Exception as error:
            return self._core.settle_delivery(delivery, None, error)
        except BaseException:
            self._core.abandon_delivery(delivery)
            raise
        return self._core.settle_delivery(delivery, results, None)

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters, oldest first."""
        return self._core.dead_letters(limit)

    async def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        """Move dead letters (all when ``ids`` is None) back to the outbox with zero attempts."""
        return self._core.requeue(ids)

    async def purge(self, *, dead_before: dt.datetime) -> int:
        """Delete dead letters (and archived messages) older than ``dead_before``; return how many."""
        return self._core.purge(dead_before)

    async def stats(self) -> OutboxStats:
        """Counts for monitoring; the oldest pending age is measured from the message's ``created_at``."""
        return self._core.stats()
