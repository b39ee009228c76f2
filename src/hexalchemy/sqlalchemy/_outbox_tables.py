"""The outbox tables (private; re-exported by :mod:`hexalchemy.sqlalchemy.outbox`)."""

from __future__ import annotations

import functools
import uuid
from typing import Any, Final

import attrs
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from hexalchemy._guards import is_instance
from hexalchemy.ports import ColumnOptions, ConfigError, DeadLetter, EntitySpec, OutboxMessage
from hexalchemy.rules.outbox_messages import MAX_KEY_LENGTH, MAX_TOPIC_LENGTH
from hexalchemy.sqlalchemy._portable import (
    binary_type,
    check_prefix,
    partial_index,
    table_options,
    text_type,
)
from hexalchemy.sqlalchemy.mapping import RowMapping, TableMapping
from hexalchemy.sqlalchemy.schema import Schema
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = [
    "DEFAULT_PREFIX",
    "MESSAGE_COLUMNS",
    "MESSAGE_SPEC",
    "OutboxMappings",
    "OutboxTables",
    "outbox_mappings",
    "outbox_tables",
]

DEFAULT_PREFIX: Final = "hexalchemy_outbox"
"""The prefix of the outbox table names when none is given."""

MESSAGE_COLUMNS: Final = (
    "id",
    "topic",
    "payload",
    "headers",
    "ordering_key",
    "key_sequence",
    "idempotency_key",
    "created_at",
    "available_at",
    "attempts",
    "last_error",
)
"""The columns that every outbox table (messages, dead letters, archive) has."""

_KEY = ColumnOptions(max_length=MAX_KEY_LENGTH)
MESSAGE_SPEC: Final = EntitySpec(
    OutboxMessage,
    key="id",
    key_type=uuid.UUID,
    columns={
        "topic": ColumnOptions(max_length=MAX_TOPIC_LENGTH),
        "ordering_key": _KEY,
        "idempotency_key": _KEY,
        "headers": ColumnOptions(json=True),  # a str -> str mapping, kept as the JSON object it is
        "attempts": ColumnOptions(bits=32),  # an INTEGER column
    },
)
""":class:`~hexalchemy.ports.OutboxMessage` as hexalchemy's mapping sees it: the columns' limits, headers as JSON."""

BOOKKEEPING: Final = ("key_sequence", "lease_token", "lease_expires_at")
"""The messages table's columns that :class:`~hexalchemy.ports.OutboxMessage` does not map: the writer numbers
``key_sequence``, the relay store keeps the lease. ``Schema.map(..., unmapped=BOOKKEEPING)``."""

_NAME_SUFFIXES: Final = (
    "_messages",
    "_sequences",
    "_dead_letters",
    "_archive",
    "_due",
    "_key_order",
    "_idempotency",
    "_dead_failed",
    "_archive_acknowledged",
    "_messages_notify",  # the LISTEN/NOTIFY trigger (outbox_notify)
    "_deliveries",
    "_crashes",
)
"""What :func:`outbox_tables` appends to the prefix to name tables, indexes and triggers."""


@attrs.frozen
class OutboxTables:
    """The tables of one outbox, built by :func:`outbox_tables`.

    - ``messages``: the outbox itself. While a message is leased, its ``available_at`` is
      the lease's expiry, so one index on ``(available_at, id)`` finds every claimable
      message: due ones and those whose lease expired.
    - ``sequences``: the last ``key_sequence`` given out per ``ordering_key``.
    - ``dead_letters``: messages that reached the attempt limit, with ``error`` and ``failed_at``.
    - ``archive``: acknowledged messages with ``acknowledged_at`` (only when built with
      ``archive=True``; used by a relay store whose policy archives).
    - ``deliveries``: the locked deliveries being published, one row each (``token``, the
      ``message_ids`` it publishes, ``started_at``), written in a short transaction of its
      own before the publisher runs and deleted by the delivery's commit (on PostgreSQL:
      ``token`` names the delivery's transaction, whose status says when it ended): a row
      left behind is a delivery whose relay died.
    - ``crashes``: per message, how many locked deliveries died with it (``message_id``,
      ``crashes``): the attempts those deliveries could not count in the message's row.
    """

    messages: Table
    sequences: Table
    dead_letters: Table
    archive: Table | None = None
    deliveries: Table = attrs.field(kw_only=True)
    crashes: Table = attrs.field(kw_only=True)


@attrs.frozen
class OutboxMappings:
    """How the outbox's rows convert: hexalchemy's own generated mapping, as for users' aggregates.

    - ``messages``: :class:`~hexalchemy.ports.OutboxMessage` on the messages table
      (:data:`MESSAGE_SPEC`, the :data:`BOOKKEEPING` columns unmapped). The writer's rows
      come from its ``to_row_trusted`` (the writer validated the messages with stricter rules
      first), the relay store's messages from its ``from_row`` (or a ``row_reader`` on a
      driver's raw rows).
    - ``dead_letters``: :class:`~hexalchemy.ports.DeadLetter` from rows of
      ``dead_letter_columns`` (the dead letters table's columns, labelled as the row mapping
      names them: ``message_id``, ..., ``error``, ``failed_at``).
    """

    messages: TableMapping[OutboxMessage, uuid.UUID]
    dead_letters: RowMapping[DeadLetter]
    dead_letter_columns: tuple[ColumnElement[Any], ...]


@functools.cache
def outbox_mappings(tables: OutboxTables) -> OutboxMappings:
    """Build (once per :class:`OutboxTables`) the mappings of the outbox's rows; ``MappingError`` if the tables do not fit."""
    schema = Schema(metadata=tables.messages.metadata)
    messages = schema.map(MESSAGE_SPEC, table=tables.messages, unmapped=BOOKKEEPING)
    dead_letters = schema.row_mapping(DeadLetter)
    table = tables.dead_letters
    columns = tuple(table.c[leaf.path[-1]].label(leaf.column_name) for leaf in dead_letters.leaves)
    return OutboxMappings(messages, dead_letters, columns)


def _message_columns() -> list[Column[Any]]:
    return [
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("topic", String(MAX_TOPIC_LENGTH), nullable=False),
        Column("payload", binary_type(), nullable=False),
        Column("headers", JSON, nullable=False),
        Column("ordering_key", String(MAX_KEY_LENGTH), nullable=True),
        Column("key_sequence", BigInteger, nullable=True),
        Column("idempotency_key", String(MAX_KEY_LENGTH), nullable=True),
        Column("created_at", UtcDateTime, nullable=False),
        Column("available_at", UtcDateTime, nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", text_type(Text()), nullable=True),
    ]


def outbox_tables(
    target: Schema | MetaData, *, prefix: str = DEFAULT_PREFIX, archive: bool = False
) -> OutboxTables:
    """Add the outbox tables to ``target``'s ``MetaData`` and return them.

    The tables are ``{prefix}_messages``, ``{prefix}_sequences``, ``{prefix}_dead_letters``,
    ``{prefix}_deliveries``, ``{prefix}_crashes`` and, with ``archive=True``, ``{prefix}_archive``. Create them with the rest of the
    schema (``schema.create_all(engine)``, or Alembic's autogenerate on ``schema.metadata``).
    Raises ``ConfigError`` when tables with these names are already defined there, or for
    a prefix that is not an identifier or too long for the names made from it to fit the
    databases' limit (63 bytes on PostgreSQL: a prefix of at most 42 bytes).
    """
    metadata = target.metadata if isinstance(target, Schema) else target
    if not is_instance(metadata, MetaData):
        raise ConfigError("target", target, "must be a hexalchemy Schema or a SQLAlchemy MetaData")
    prefix = check_prefix(prefix, _NAME_SUFFIXES)
    names = [
        f"{prefix}_messages",
        f"{prefix}_sequences",
        f"{prefix}_dead_letters",
        f"{prefix}_deliveries",
        f"{prefix}_crashes",
    ]
    if archive:
        names.append(f"{prefix}_archive")
    taken = [name for name in names if name in metadata.tables]
    if taken:
        raise ConfigError("prefix", prefix, f"tables {taken} are already defined in this MetaData")
    messages = Table(
        names[0],
        metadata,
        *_message_columns(),
        Column("lease_token", Uuid(as_uuid=True), nullable=True),
        Column("lease_expires_at", UtcDateTime, nullable=True),
        comment="hexalchemy transactional outbox: messages waiting for delivery",
        **table_options(),
    )
    # The claim walks this index in delivery order: available_at is also the lease expiry.
    Index(f"{prefix}_due", messages.c.available_at, messages.c.id)
    # The head-of-key check: is there an earlier message of this ordering key?
    Index(
        f"{prefix}_key_order",
        messages.c.ordering_key,
        messages.c.key_sequence,
        **partial_index(messages.c.ordering_key.is_not(None)),
    )
    # A repeated idempotency key of a topic is dropped while the first message is in the outbox.
    Index(
        f"{prefix}_idempotency",
        messages.c.topic,
        messages.c.idempotency_key,
        unique=True,
        **partial_index(messages.c.idempotency_key.is_not(None)),
    )
    sequences = Table(
        names[1],
        metadata,
        Column("ordering_key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("last_sequence", BigInteger, nullable=False),
        comment="hexalchemy transactional outbox: the last sequence given out per ordering key",
        **table_options(),
    )
    dead_letters = Table(
        names[2],
        metadata,
        *_message_columns(),
        Column("error", text_type(Text()), nullable=False),
        Column("failed_at", UtcDateTime, nullable=False),
        comment="hexalchemy transactional outbox: messages that will not be retried",
        **table_options(),
    )
    Index(f"{prefix}_dead_failed", dead_letters.c.failed_at, dead_letters.c.id)
    archive_table = None
    if archive:
        archive_table = Table(
            names[5],
            metadata,
            *_message_columns(),
            Column("acknowledged_at", UtcDateTime, nullable=False),
            comment="hexalchemy transactional outbox: delivered messages",
            **table_options(),
        )
        Index(f"{prefix}_archive_acknowledged", archive_table.c.acknowledged_at)
    deliveries = Table(
        names[3],
        metadata,
        Column("token", Uuid(as_uuid=True), primary_key=True),
        Column("message_ids", JSON, nullable=False),
        Column("started_at", UtcDateTime, nullable=False),
        comment="hexalchemy transactional outbox: locked deliveries being published (one left behind: its relay died)",
        **table_options(),
    )
    crashes = Table(
        names[4],
        metadata,
        Column("message_id", Uuid(as_uuid=True), primary_key=True),
        Column("crashes", Integer, nullable=False),
        comment="hexalchemy transactional outbox: per message, the locked deliveries that died with it",
        **table_options(),
    )
    tables = OutboxTables(
        messages, sequences, dead_letters, archive_table, deliveries=deliveries, crashes=crashes
    )
    outbox_mappings(tables)  # built here, at composition time: a mismatch fails now, not at the first call
    return tables
