"""The in-memory inbox's logic (private), shared by :class:`~hexalchemy.testing.InMemoryInbox` and its async twin.

Entries are rows of the in-memory transaction machinery: written into the open
transaction, visible to it at once, committed or dropped with its other writes. Two
concurrent transactions that record the same id both see it absent (the in-memory store
cannot make the second wait, as PostgreSQL does); the second commit then fails with
:class:`~hexalchemy.ports.DuplicateEntityError`, so the effects still commit once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Final

import attrs

from hexalchemy.ports import ConfigError, EntitySpec, InboxEntry
from hexalchemy.rules import check_aware_datetime, check_callable, check_consumer, clock_time, new_inbox_entry
from hexalchemy.testing._memory_core import MISSING, TransactionCore

__all__: list[str] = []


@attrs.frozen(kw_only=True)
class _Recorded:
    """An inbox entry as the in-memory store keeps it: versioned, so that a concurrent duplicate fails its commit."""

    consumer: str
    message_id: uuid.UUID
    received_at: dt.datetime
    version: int = 1


_RECORDED: Final = EntitySpec(
    _Recorded, key=("consumer", "message_id"), version="version", key_type=tuple[str, uuid.UUID]
)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InboxCore:
    """One consumer's in-memory inbox over a transaction manager's core."""

    __slots__ = ("_clock", "_core", "consumer")

    def __init__(self, core: TransactionCore, consumer: str, clock: Callable[[], dt.datetime] | None) -> None:
        self._core = core
        self.consumer = check_consumer(consumer)
        self._clock = check_callable("clock", clock, error=ConfigError) if clock is not None else _utc_now

    def record(self, message_id: uuid.UUID) -> bool:
        entry: InboxEntry = new_inbox_entry(self.consumer, message_id, clock_time(self._clock))
        state = self._core.require(InboxEntry, write=True)
        key = (entry.consumer, entry.message_id)
        with self._core.lock:
            if self._core.visible(state, _Recorded, key) is not MISSING:
                return False
            recorded = _Recorded(
                consumer=entry.consumer, message_id=entry.message_id, received_at=entry.received_at
            )
            self._core.write(state, _RECORDED, key, recorded)
        return True

    def purge(self, received_before: dt.datetime) -> int:
        before = check_aware_datetime("received_before", received_before)
        state = self._core.require(InboxEntry, write=True)
        with self._core.lock:
            keys = set(self._core.committed.get(_Recorded, {}))
            for layer in state.layers:
                keys.update(key for entity, key in layer.writes if entity is _Recorded)
            purged = 0
            for key in keys:
                row = self._core.visible(state, _Recorded, key)
                if isinstance(row, _Recorded) and row.consumer == self.consumer and row.received_at < before:
                    self._core.write(state, _RECORDED, key, MISSING)
                    purged += 1
        return purged
