"""What the worlds of the probe are seeded with: two aggregates, the agent and manifest names, and what seeding leaves."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

import attrs

from hexalchemy.ports import EntitySpec, OutboxMessage
from hexalchemy.rules import new_message

LONG: Final = dt.timedelta(hours=1)
AGENT: Final = "agent-1"
MANIFEST: Final = "manifest"


@attrs.frozen
class Item:
    """A versioned aggregate with an int key."""

    id: int
    name: str
    version: int = 0


@attrs.frozen
class Note:
    """A versioned aggregate that raises domain events."""

    id: int
    text: str
    version: int = 0
    events: tuple[object, ...] = ()


ITEMS: Final = EntitySpec(Item, key="id", version="version", key_type=int)
NOTES: Final = EntitySpec(Note, key="id", version="version", events="events", key_type=int)


@attrs.define
class Seeded:
    """What seeding left for the good values: a held outbox lease, a runner lease, an evidence id."""

    lease: Any = None
    runner_lease: Any = None
    evidence_id: uuid.UUID | None = None


def sample_message() -> OutboxMessage:
    """An outbox message with no ordering key."""
    return new_message("topic", b"payload", ordering_key=None)
