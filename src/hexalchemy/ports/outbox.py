"""Transactional outbox ports: the message, the writer, the relay store and the publisher.

A service writes :class:`OutboxMessage` values with an :class:`OutboxWriter` inside the
ambient transaction of its business data, so a message exists exactly when the data it
announces was committed. A relay later takes due messages from an
:class:`OutboxRelayStore` and hands them to a :class:`Publisher` for the broker, in one of
two ways:

- **leased** (:meth:`OutboxRelayStore.claim`): the messages are leased in one short
  transaction, published with no transaction open, then acknowledged or rejected in
  another;
- **locked** (:meth:`OutboxRelayStore.deliver`): one transaction takes and locks the
  messages, publishes them while it holds the locks, and settles them before it commits.

Delivery to the broker is at least once: a message is delivered again only when a relay's
lease expired before it acknowledged (the store counts such stale acknowledgements), or
when a locked delivery's transaction did not commit after the broker took the message.
Messages that share an ``ordering_key`` are delivered one at a time in commit order.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Final, Protocol, TypeAlias

import attrs

from hexalchemy.ports._text import encodes_as_utf8
from hexalchemy.ports.errors import HexalchemyError

__all__ = [
    "MAX_HEADER_COUNT",
    "MAX_KEY_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_TOPIC_LENGTH",
    "AcknowledgeResult",
    "AsyncOutboxRelayStore",
    "AsyncOutboxWriter",
    "AsyncPublisher",
    "AsyncPublish",
    "DeadLetter",
    "DeliveryResult",
    "InvalidMessageError",
    "Lease",
    "OutboxMessage",
    "OutboxRelayStore",
    "OutboxStats",
    "OutboxWriter",
    "Publish",
    "Publisher",
    "PublishResult",
    "time_ordered_uuid",
]

MAX_TOPIC_LENGTH: Final = 255
"""The longest topic, in characters."""
MAX_KEY_LENGTH: Final = 255
"""The longest ordering or idempotency key, and the longest header name, in characters."""
MAX_PAYLOAD_BYTES: Final = 1024 * 1024
"""The default largest payload, in bytes (a writer may be configured with another)."""
MAX_HEADER_COUNT: Final = 64
"""The most headers one message may carry."""
_MAX_HEADER_VALUE: Final = 4096


class InvalidMessageError(HexalchemyError):
    """A message is not valid (blank topic, oversized payload, bad headers...); nothing was written."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid outbox message: {field}={shown}: {reason}")


_uuid_lock = threading.Lock()
_last_uuid_ms = 0
_last_uuid_counter = 0


def time_ordered_uuid(now: dt.datetime | None = None) -> uuid.UUID:
    """Return a new UUID version 7: its first 48 bits are the Unix time in milliseconds.

    UUIDs made by one process sort in the order they were made (a 12-bit counter orders
    those made in the same millisecond), so they index well and read as creation order.
    """
    global _last_uuid_ms, _last_uuid_counter
    millis = int((now.timestamp() if now is not None else time.time()) * 1000)
    with _uuid_lock:
        if millis <= _last_uuid_ms:
            millis = _last_uuid_ms
            _last_uuid_counter += 1
            if _last_uuid_counter > 0xFFF:
                millis += 1
                _last_uuid_counter = 0
        else:
            _last_uuid_counter = 0
        _last_uuid_ms = millis
        counter = _last_uuid_counter
    random_bits = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | random_bits
    return uuid.UUID(int=value)


def _check_text(field: str, value: object, limit: int, *, blank_ok: bool = False) -> None:
    if not isinstance(value, str):
        raise InvalidMessageError(field, value, "must be a str")
    if not blank_ok and not value.strip():
        raise InvalidMessageError(field, value, "must not be blank")
    if len(value) > limit:
        raise InvalidMessageError(field, value, f"is longer than {limit} characters")
    if "\x00" in value:
        raise InvalidMessageError(field, value, "must not contain NUL characters")
    if not encodes_as_utf8(value):
        raise InvalidMessageError(field, value, "must be valid Unicode (it holds a lone surrogate)")


def _check_headers(headers: object) -> None:
    if not isinstance(headers, Mapping):
        raise InvalidMessageError("headers", headers, "must be a mapping of str to str")
    if len(headers) > MAX_HEADER_COUNT:
        raise InvalidMessageError("headers", headers, f"has more than {MAX_HEADER_COUNT} entries")
    for name, value in headers.items():
        _check_text(f"headers[{name!r}]", name, MAX_KEY_LENGTH)
        _check_text(f"headers[{name!r}]", value, _MAX_HEADER_VALUE, blank_ok=True)


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """One message waiting in the outbox for delivery to a broker.

    Build new messages with :meth:`create`, which validates them. ``attempts``,
    ``available_at`` and ``last_error`` are maintained by the relay store.
    """

    id: uuid.UUID
    topic: str
    payload: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)
    ordering_key: str | None = None
    idempotency_key: str | None = None
    created_at: dt.datetime
    attempts: int = 0
    available_at: dt.datetime
    last_error: str | None = None

    @classmethod
    def create(
        cls,
        topic: str,
        payload: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        ordering_key: str | None = None,
        idempotency_key: str | None = None,
        available_at: dt.datetime | None = None,
        now: dt.datetime | None = None,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> OutboxMessage:
        """Validate and build a new message; raise :class:`InvalidMessageError` on bad input."""
        created_at = now if now is not None else dt.datetime.now(dt.UTC)
        message = cls(
            id=time_ordered_uuid(created_at),
            topic=topic,
            payload=payload,
            headers=dict(headers) if headers is not None else {},
            ordering_key=ordering_key,
            idempotency_key=idempotency_key,
            created_at=created_at,
            available_at=available_at if available_at is not None else created_at,
        )
        message.validate(max_payload_bytes=max_payload_bytes)
        return message

    def validate(self, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        """Raise :class:`InvalidMessageError` naming the first thing wrong with this message."""
        if not isinstance(self.id, uuid.UUID):
            raise InvalidMessageError("id", self.id, "must be a UUID")
        _check_text("topic", self.topic, MAX_TOPIC_LENGTH)
        if not isinstance(self.payload, bytes):
            raise InvalidMessageError("payload", self.payload, "must be bytes (serialise it first)")
        if len(self.payload) > max_payload_bytes:
            raise InvalidMessageError(
                "payload", f"<{len(self.payload)} bytes>", f"is larger than {max_payload_bytes} bytes"
            )
        _check_headers(self.headers)
        for field in ("ordering_key", "idempotency_key"):
            value = getattr(self, field)
            if value is not None:
                _check_text(field, value, MAX_KEY_LENGTH)
        for field in ("created_at", "available_at"):
            value = getattr(self, field)
            if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
                raise InvalidMessageError(field, value, "must be a timezone-aware datetime")
        if not isinstance(self.attempts, int) or self.attempts < 0:
            raise InvalidMessageError("attempts", self.attempts, "must be an int >= 0")


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
    """The outcome of publishing one message: ``error`` is None on success."""

    message_id: uuid.UUID
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the broker accepted the message."""
        return self.error is None


@attrs.frozen
class DeliveryResult:
    """What one locked delivery (:meth:`OutboxRelayStore.deliver`) did, after it committed."""

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


class OutboxRelayStore(Protocol):
    """What a relay needs: leased claims and their outcomes, each in its own transaction, or locked deliveries."""

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

    def deliver(self, publish: Publish, /, *, limit: int) -> DeliveryResult:
        """Take up to ``limit`` due messages, publish them and settle them, all in one transaction.

        The transaction locks the messages while ``publish`` runs (no other relay takes
        them, and later messages of their ordering keys wait), then removes the published
        ones and gives the failed ones back with an attempt counted, or dead-letters them at
        the attempt limit, and commits. An exception of ``publish`` fails every message and
        is returned in :attr:`DeliveryResult.error`, not raised. If the transaction does not
        commit (the process dies, or a ``BaseException`` such as ``KeyboardInterrupt``), the
        messages are due again with no attempt counted.
        """
        ...

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


class AsyncOutboxRelayStore(Protocol):
    """The relay store for async relays (see :class:`OutboxRelayStore`)."""

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

    async def deliver(self, publish: AsyncPublish, /, *, limit: int) -> DeliveryResult:
        """Take, publish (awaiting ``publish``) and settle due messages in one transaction (see :meth:`OutboxRelayStore.deliver`)."""
        ...

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
