"""The inbox's rules: a consumer's name, the entry a ``record`` writes, and its column lengths.

Written once, for the in-memory and SQL inboxes alike, so both refuse the same arguments
before anything is written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final

from hexalchemy.ports import ColumnOptions, ConfigError, EntitySpec, InboxEntry
from hexalchemy.rules.arguments import check_aware_datetime, check_uuid
from hexalchemy.rules.text import text_problem

__all__ = ["INBOX_SPEC", "MAX_CONSUMER_LENGTH", "check_consumer", "new_inbox_entry"]

MAX_CONSUMER_LENGTH: Final = 200
"""The longest consumer name, in characters (the SQL column's length)."""

INBOX_SPEC: Final[EntitySpec[InboxEntry, tuple[str, uuid.UUID]]] = EntitySpec(
    InboxEntry,
    key=("consumer", "message_id"),
    columns={"consumer": ColumnOptions(max_length=MAX_CONSUMER_LENGTH)},
)
"""How an inbox entry is stored: keyed by consumer and message id (the SQL inbox maps it with a ``Schema``)."""


def check_consumer(consumer: object) -> str:
    """Return ``consumer`` if it is a usable consumer name, else raise :class:`~hexalchemy.ports.ConfigError`."""
    if not isinstance(consumer, str) or not consumer:
        raise ConfigError("consumer", consumer, "must be a non-empty str")
    if len(consumer) > MAX_CONSUMER_LENGTH:
        raise ConfigError("consumer", consumer, f"must be at most {MAX_CONSUMER_LENGTH} characters")
    problem = text_problem(consumer)
    if problem is not None:
        raise ConfigError("consumer", consumer, problem)
    return consumer


def new_inbox_entry(consumer: str, message_id: object, received_at: dt.datetime) -> InboxEntry:
    """The entry ``record(message_id)`` writes; ``InvalidArgumentError`` unless ``message_id`` is a UUID."""
    return InboxEntry(
        consumer=consumer,
        message_id=check_uuid("message_id", message_id),
        received_at=check_aware_datetime("received_at", received_at),
    )
