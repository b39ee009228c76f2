"""The inbox (idempotent consumer) ports: record a message id with the effects it caused.

A consumer that receives a message from a broker opens a transaction, calls
:meth:`Inbox.record` with the message's id, and applies the message's effects only when
``record`` returned True; then it commits, and only then acknowledges the message to the
broker. A message delivered twice (a broker redelivery, a relay that published it again)
is recorded once: the second ``record`` returns False and its effects are skipped. The
record and the effects commit or roll back together, so an effect is applied exactly
once per inbox (see ``docs/exactly-once.md``).

Every method works inside the ambient transaction of the inbox's transaction manager;
outside one it raises :class:`~hexalchemy.ports.NoActiveTransactionError`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

import attrs

__all__ = ["AsyncInbox", "Inbox", "InboxEntry"]


@attrs.frozen(kw_only=True)
class InboxEntry:
    """One message a consumer has handled: the row an inbox keeps, keyed by ``(consumer, message_id)``."""

    consumer: str
    """The consumer's name: several consumers may share one inbox table, each applies a message once."""
    message_id: uuid.UUID
    """The message's id (the outbox message id the publishers send along)."""
    received_at: dt.datetime
    """When the consumer recorded it (aware, UTC)."""


class Inbox(Protocol):
    """Records the messages one consumer has handled, in the ambient transaction."""

    def record(self, message_id: uuid.UUID, /) -> bool:
        """Record ``message_id``: True the first time (apply the effects), False if it was already recorded.

        A concurrent transaction recording the same id makes this call wait until that
        transaction ends (or makes one of the two commits fail, on adapters that check at
        commit): the effects are applied once either way.
        """
        ...

    def purge(self, *, received_before: dt.datetime) -> int:
        """Forget the entries received before ``received_before``; return how many.

        A message delivered again after its entry was purged is applied again: keep the
        entries longer than any redelivery can come (the broker's retention, the relay's
        retries).
        """
        ...


class AsyncInbox(Protocol):
    """Records the messages one consumer has handled, in the ambient transaction (async; see :class:`Inbox`)."""

    async def record(self, message_id: uuid.UUID, /) -> bool:
        """Record ``message_id``: True the first time (apply the effects), False if it was already recorded."""
        ...

    async def purge(self, *, received_before: dt.datetime) -> int:
        """Forget the entries received before ``received_before``; return how many."""
        ...
