"""The inbox (idempotent consumer) on SQLAlchemy Core: its table mapping and the inboxes, sync and async.

Wire it in the composition root::

    inbox_entries = inbox_mapping(schema)  # adds the inbox table to schema.metadata
    inbox = SqlAlchemyInbox(inbox_entries, transactions, consumer="billing")

and in the consumer, for each message received::

    with transactions.begin():
        if inbox.record(message_id):
            apply_the_effects(message)
    acknowledge_to_the_broker(message)   # only after the commit

The table is mapped from :data:`hexalchemy.rules.inbox.INBOX_SPEC` by the schema, like any
aggregate: ``(consumer, message_id)`` is its primary key. The async inbox is written in
``_async/inbox.py``; ``make generate`` writes the sync one from it.
"""

from __future__ import annotations

import uuid
from typing import Final

from hexalchemy.ports import InboxEntry
from hexalchemy.rules import check_instance
from hexalchemy.rules.inbox import INBOX_SPEC
from hexalchemy.sqlalchemy._async.inbox import AsyncSqlAlchemyInbox
from hexalchemy.sqlalchemy._sync.inbox import SqlAlchemyInbox
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.schema import Schema

__all__ = ["DEFAULT_INBOX_TABLE", "AsyncSqlAlchemyInbox", "SqlAlchemyInbox", "inbox_mapping"]

DEFAULT_INBOX_TABLE: Final = "hexalchemy_inbox"
"""The inbox table's name unless told otherwise."""


def inbox_mapping(
    schema: Schema, *, table: str = DEFAULT_INBOX_TABLE
) -> TableMapping[InboxEntry, tuple[str, uuid.UUID]]:
    """Map the inbox entries onto a table derived by ``schema`` (added to ``schema.metadata``)."""
    check_instance("schema", schema, Schema)
    return schema.map(INBOX_SPEC, table=table)
