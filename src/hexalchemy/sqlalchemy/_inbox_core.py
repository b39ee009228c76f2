"""The SQL inbox's statements and plans, written once for the sync and async inboxes.

The inbox table is mapped through a :class:`~hexalchemy.sqlalchemy.Schema` from
:data:`hexalchemy.rules.inbox.INBOX_SPEC` (see :func:`~hexalchemy.sqlalchemy.inbox.inbox_mapping`),
so its rows are written by the mapping's generated ``to_row``, never by hand. ``record``
is one ``INSERT`` that skips a conflicting row (the backend's
:meth:`~hexalchemy.sqlalchemy.Backend.ignore_conflicts`): a concurrent transaction
inserting the same key makes it wait on PostgreSQL, and SQLite runs one writer at a time,
so the effects that follow a True are applied once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete

from hexalchemy._guards import is_instance
from hexalchemy.ports import ConfigError, InboxEntry
from hexalchemy.rules import check_aware_datetime, check_callable, check_consumer, clock_time, new_inbox_entry
from hexalchemy.sqlalchemy._operations import Call, Plan
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.transaction import TransactionCore

__all__ = ["InboxCore", "utc_now"]


def utc_now() -> dt.datetime:
    """The default clock of the inboxes: the UTC wall clock."""
    return dt.datetime.now(dt.UTC)


class InboxCore:
    """One consumer's inbox on one mapped table: its statements, built once, and its plans."""

    __slots__ = ("_clock", "_insert", "_mapping", "_purge", "consumer", "transactions")

    def __init__(
        self,
        mapping: TableMapping[InboxEntry, Any],
        transactions: TransactionCore,
        consumer: str,
        clock: Callable[[], dt.datetime] | None,
    ) -> None:
        if not is_instance(mapping, TableMapping) or mapping.entity_type is not InboxEntry:
            raise ConfigError(
                "mapping", mapping, "must be the TableMapping of InboxEntry (inbox_mapping(schema))"
            )
        self.consumer = check_consumer(consumer)
        self._clock = check_callable("clock", clock, error=ConfigError) if clock is not None else utc_now
        self._mapping = mapping
        self.transactions = transactions
        backend = transactions.backend
        table = mapping.table
        consumer_column, message_column = mapping.key_columns
        self._insert = backend.ignore_conflicts(backend.insert(table), list(mapping.key_columns)).returning(
            message_column
        )
        received = next(
            column
            for leaf, column in zip(mapping.leaves, mapping.columns, strict=True)
            if leaf.path == ("received_at",)
        )
        self._purge = delete(table).where(
            consumer_column == bindparam("hx_consumer"),
            received < bindparam("hx_before", type_=received.type),
        )

    def record(self, message_id: uuid.UUID) -> Plan[bool]:
        """Plan: insert the entry of ``message_id`` unless it is there; True when it was inserted."""
        entry = new_inbox_entry(self.consumer, message_id, clock_time(self._clock))
        state = self.transactions.require(InboxEntry, write=True)
        result = yield Call(state.connection.execute, (self._insert, self._mapping.to_row(entry)))
        return len(result.all()) == 1

    def purge(self, received_before: dt.datetime) -> Plan[int]:
        """Plan: delete this consumer's entries received before ``received_before``; return how many."""
        before = check_aware_datetime("received_before", received_before)
        state = self.transactions.require(InboxEntry, write=True)
        result = yield Call(
            state.connection.execute, (self._purge, {"hx_consumer": self.consumer, "hx_before": before})
        )
        deleted: int = result.rowcount
        return deleted
