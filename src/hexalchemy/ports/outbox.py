"""Transactional outbox ports: the message, the writer, the relay store and the publisher.

A service writes :class:`OutboxMessage` values with an :class:`OutboxWriter` inside the
ambient transaction of its business data, so a message exists exactly when the data it
announces was committed. A relay later takes due messages from an
:class:`OutboxRelayStore` and hands them to a :class:`Publisher` for the broker, in one of
two ways:

- **leased** (:class:`LeasedDelivery`, :meth:`~LeasedDelivery.claim`): the messages are
  leased in one short transaction, published with no transaction open, then acknowledged
  or rejected in another;
- **locked** (:class:`LockedDelivery`, :meth:`~LockedDelivery.deliver`): one transaction
  takes and locks the messages, publishes them while it holds the locks, and settles them
  before it commits.

The relay store is split by capability: a relay needs :class:`OutboxDelivery` (both
ways), an operator :class:`OutboxAdmin` (dead letters, requeue, purge, stats);
:class:`OutboxRelayStore` is all of them.

Delivery to the broker is at least once: a message is delivered again only when a relay's
lease expired before it acknowledged (the store counts such stale acknowledgements), or
when a locked delivery's transaction did not commit after the broker took the message.
Messages that share an ``ordering_key`` are delivered one at a time in commit order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeAlias

import attrs

__all__ = [
    "AcknowledgeResult",
    "AsyncLeasedDelivery",
    "AsyncLockedDelivery",
    "AsyncOutboxAdmin",
    "AsyncOutboxDelivery",
    "AsyncOutboxRelayStore",
    "AsyncOutboxWriter",
    "AsyncPublisher",
    "AsyncPublish",
    "DeadLetter",
    "DeliveryResult",
    "Lease",
    "LeasedDelivery",
    "LockedDelivery",
    "OutboxAdmin",
    "OutboxDelivery",
    "OutboxMessage",
    "OutboxRelayStore",
    "OutboxStats",
    "OutboxWriter",
    "Publish",
    "Publisher",
    "PublishResult",
]


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """One message waiting in the outbox for delivery to a broker.

    Build new messages with :func:`hexalchemy.rules.new_message`, which validates them.
    ``attempts``, ``available_at`` and ``last_error`` are maintained by the relay store.
    """

    id: uuid.UUID
    topic: str
    payload: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict[str, str])
    ordering_key: str | None = None
    idempotency_key: str | None = None
    created_at: dt.datetime
    attempts: int = 0
    available_at: dt.datetime
    last_error: str | None = None


@attrs.frozen
class Lease:
    """Messages claimed by one relay until ``expires_at``; ``token`` fences its later calls."""

    token: uuid.UUID
    expires_at: dt.datetime
    messages: tuple[OutboxMessage, ...]


@attrs.frozen
class AcknowledgeResult:
    """What an acknowledge, reject or release changed: ``done`` rows, and ``stale`` ones.

    A stale row was not changed because the lease had expired and the message had been
    claimed again (or finished) by another relay.
    """

    done: int
    stale: int
    dead_lettered: int = 0
    """Of ``done``, how many a reject moved to the dead letters (at the attempt limit)."""


@attrs.frozen
class PublishResult:
    """The outcome of publishing one message: ``error`` is None on success.

    A failure is retryable unless ``permanent``: a retryable one (connection lost, timeout,
    broker back-pressure) is given back for a later attempt after a backoff; a permanent
    one (unroutable, too large, refused by the broker) is dead-lettered at once, since no
    retry can succeed.
    """

    message_id: uuid.UUID
    error: str | None = None
    permanent: bool = False
    """Whether the failure is permanent (dead-letter now) rather than retryable; ignored on success."""

    @property
    def ok(self) -> bool:
        """Whether the broker accepted the message."""
        return self.error is None


@attrs.frozen
class DeliveryResult:
    """What one locked delivery (:meth:`LockedDelivery.deliver`) did, after it committed."""

    messages: int
    """Messages handed to the publisher (0 when nothing was due)."""
    published: int
    """Of those, the ones the broker accepted: gone from the outbox (or archived)."""
    retried: int
    """Failed ones given back for a later attempt, after a backoff."""
    dead_lettered: int
    """Failed ones moved to the dead letters (they were at the attempt limit)."""
    error: Exception | None = attrs.field(default=None, eq=False)
    """What the publisher raised, if it raised: every message then counts as failed."""
    isolated: int = attrs.field(default=0, kw_only=True)
    """Of :attr:`messages`, those published alone because an earlier delivery of theirs died (poison isolation)."""


Publish: TypeAlias = Callable[[Sequence[OutboxMessage]], Sequence[PublishResult]]
"""A publish function, such as :meth:`Publisher.publish`: one result per message."""
AsyncPublish: TypeAlias = Callable[[Sequence[OutboxMessage]], Awaitable[Sequence[PublishResult]]]
"""An async publish function, such as :meth:`AsyncPublisher.publish`."""


@attrs.frozen
class DeadLetter:
    """A message that reached the attempt limit (or was dead-lettered explicitly)."""

    message: OutboxMessage
    error: str
    failed_at: dt.datetime


@attrs.frozen
class OutboxStats:
    """Counts for monitoring: pending (waiting or due), leased, dead, and the oldest pending age."""

    pending: int
    leased: int
    dead: int
    oldest_pending_age: dt.timedelta | None


class OutboxWriter(Protocol):
    """Adds messages inside the ambient transaction of the business data."""

    def add(self, message: OutboxMessage, /) -> bool:
        """Add one message; False if its idempotency key was already used for its topic."""
        ...

    def add_all(self, messages: Iterable[OutboxMessage], /) -> int:
        """Add many messages in a constant number of round trips; return how many were added."""
        ...


class AsyncOutboxWriter(Protocol):
    """Adds messages inside the ambient transaction of the business data (async)."""

    async def add(self, message: OutboxMessage, /) -> bool:
        """Add one message; False if its idempotency key was already used for its topic."""
        ...

    async def add_all(self, messages: Iterable[OutboxMessage], /) -> int:
        """Add many messages; return how many were added."""
        ...


class LeasedDelivery(Protocol):
    """Leased delivery: lease due messages in one transaction, settle them in another.

    Each call runs in its own transaction; the messages are published in between, with no
    transaction open.
    """

    def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        """Lease up to ``limit`` due messages in delivery order, counting an attempt for each."""
        ...

    def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Finish published messages, only where ``lease`` still holds them."""
        ...

    def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        """Give a message back for a later retry (backoff when ``retry_after`` is None), or dead-letter it past the attempt limit."""
        ...

    def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        """Move a leased message to the dead letters now."""
        ...

    def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Give unfinished messages back at once, without counting the attempt (graceful stop)."""
        ...


class LockedDelivery(Protocol):
    """Locked delivery: take, publish and settle due messages in one transaction."""

    def deliver(self, publish: Publish, /, *, limit: int) -> DeliveryResult:
        """Take up to ``limit`` due messages, publish them and settle them, all in one transaction.

        The transaction locks the messages while ``publish`` runs (no other relay takes
        them, and later messages of their ordering keys wait), then removes the published
        ones and gives the failed ones back with an attempt counted, or dead-letters them at
        the attempt limit, and commits. An exception of ``publish`` fails every message and
        is returned in :attr:`DeliveryResult.error`, not raised. If the transaction does not
        commit (the process dies, or a ``BaseException`` such as ``KeyboardInterrupt``), the
        messages are due again and the attempt still counts: the next deliveries publish
        each of them alone, and dead-letter one whose attempts pass the limit this way.
        """
        ...


class OutboxAdmin(Protocol):
    """What an operator needs: the dead letters, requeueing and purging them, and the counts."""

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters."""
        ...

    def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        """Move dead letters (all when ``ids`` is None) back to the outbox with zero attempts."""
        ...

    def purge(self, *, dead_before: dt.datetime) -> int:
        """Delete dead letters (and archived messages) older than ``dead_before``."""
        ...

    def stats(self) -> OutboxStats:
        """Counts for monitoring."""
        ...


class OutboxDelivery(LeasedDelivery, LockedDelivery, Protocol):
    """What a relay needs: leased and locked delivery (the relay picks one by its mode)."""


class OutboxRelayStore(OutboxDelivery, OutboxAdmin, Protocol):
    """The whole relay store: leased and locked delivery, and the operator's calls."""


class AsyncLeasedDelivery(Protocol):
    """Leased delivery (async; see :class:`LeasedDelivery`)."""

    async def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        """Lease up to ``limit`` due messages in delivery order, counting an attempt for each."""
        ...

    async def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Finish published messages, only where ``lease`` still holds them."""
        ...

    async def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        """Give a message back for a later retry, or dead-letter it past the attempt limit."""
        ...

    async def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        """Move a leased message to the dead letters now."""
        ...

    async def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        """Give unfinished messages back at once, without counting the attempt."""
        ...


class AsyncLockedDelivery(Protocol):
    """Locked delivery (async; see :class:`LockedDelivery`)."""

    async def deliver(self, publish: AsyncPublish, /, *, limit: int) -> DeliveryResult:
        """Take, publish (awaiting ``publish``) and settle due messages in one transaction (see :meth:`LockedDelivery.deliver`)."""
        ...


class AsyncOutboxAdmin(Protocol):
    """The operator's calls (async; see :class:`OutboxAdmin`)."""

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters."""
        ...

    async def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        """Move dead letters (all when ``ids`` is None) back to the outbox."""
        ...

    async def purge(self, *, dead_before: dt.datetime) -> int:
        """Delete dead letters (and archived messages) older than ``dead_before``."""
        ...

    async def stats(self) -> OutboxStats:
        """Counts for monitoring."""
        ...


class AsyncOutboxDelivery(AsyncLeasedDelivery, AsyncLockedDelivery, Protocol):
    """What an async relay needs: leased and locked delivery (see :class:`OutboxDelivery`)."""


class AsyncOutboxRelayStore(AsyncOutboxDelivery, AsyncOutboxAdmin, Protocol):
    """The whole relay store for async relays (see :class:`OutboxRelayStore`)."""


class Publisher(Protocol):
    """Delivers messages to a broker; implemented by the user for their broker."""

    def publish(self, messages: Sequence[OutboxMessage], /) -> Sequence[PublishResult]:
        """Publish a batch; return one result per message (any order). Raising fails the whole batch."""
        ...


class AsyncPublisher(Protocol):
    """Delivers messages to a broker (async)."""

    async def publish(self, messages: Sequence[OutboxMessage], /) -> Sequence[PublishResult]:
        """Publish a batch; return one result per message. Raising fails the whole batch."""
        ...
