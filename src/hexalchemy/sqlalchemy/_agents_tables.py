"""The agent tables (private; re-exported by :mod:`hexalchemy.sqlalchemy.agents`)."""

from __future__ import annotations

import functools
import uuid
from typing import Any, Final

import attrs
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Dialect,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    event,
)
from sqlalchemy.engine import URL

from hexalchemy._guards import is_instance
from hexalchemy.ports import AgentState, ColumnOptions, ConfigError, EntitySpec, Evidence, Signal
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH
from hexalchemy.sqlalchemy._portable import check_prefix, partial_index, table_options, text_type
from hexalchemy.sqlalchemy.backend import backend_for
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.schema import Schema
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = [
    "DEFAULT_PREFIX",
    "EVIDENCE_SPEC",
    "SIGNAL_SPEC",
    "STATE_SPEC",
    "AgentMappings",
    "AgentTables",
    "agent_mappings",
    "agent_tables",
    "append_only_statements",
]

DEFAULT_PREFIX: Final = "hexalchemy_agent"
"""The prefix of the agent table names when none is given."""

HASH_LENGTH: Final = 64

_ID: Final = ColumnOptions(max_length=MAX_AGENT_ID_LENGTH)
_JSON: Final = ColumnOptions(json=True)

STATE_SPEC: Final = EntitySpec(
    AgentState,
    key="id",
    key_type=str,
    version="version",
    columns={
        **{
            name: _ID
            for name in (
                "id",
                "agent_type",
                "input_ref",
                "output_ref",
                "last_event_cursor",
                "recovery_marker",
            )
        },
        "metadata": _JSON,
    },
)
""":class:`~hexalchemy.ports.AgentState` as hexalchemy's mapping sees it (the runner lease's columns unmapped)."""

SIGNAL_SPEC: Final = EntitySpec(
    Signal,
    key="id",
    key_type=uuid.UUID,
    columns={"agent_id": _ID, "idempotency_key": _ID, "payload": _JSON},
)
""":class:`~hexalchemy.ports.Signal` as hexalchemy's mapping sees it."""

EVIDENCE_SPEC: Final = EntitySpec(
    Evidence,
    key="id",
    key_type=uuid.UUID,
    columns={
        **{name: _ID for name in ("agent_id", "kind", "digest", "manifest_ref", "reference")},
        "payload": _JSON,
        "previous_hash": ColumnOptions(max_length=HASH_LENGTH),
        "hash": ColumnOptions(max_length=HASH_LENGTH),
    },
)
""":class:`~hexalchemy.ports.Evidence` as hexalchemy's mapping sees it (``sensitive_fields``: a JSON list)."""

LEASE_COLUMNS: Final = ("lease_owner", "lease_token", "lease_expires_at")
"""The states table's columns that :class:`~hexalchemy.ports.AgentState` does not map: the runner lease."""

_NAME_SUFFIXES: Final = (
    "_states_status",
    "_states_resume",
    "_sequences_agent",
    "_signals_sequence",
    "_signals_idempotency",
    "_signals_pending",
    "_evidence_sequence",
    "_evidence_manifest",
    "_evidence_append_only",  # the append-only trigger function, and its triggers:
    "_evidence_no_change",
    "_evidence_no_truncate",
    "_evidence_no_update",
    "_evidence_no_delete",
)
"""What :func:`agent_tables` appends to the prefix to name tables, indexes, constraints, triggers and functions."""


@attrs.frozen
class AgentTables:
    """The tables of the agent store, built by :func:`agent_tables`.

    - ``states``: one row per agent: its fields, ``version`` (compare-and-set) and the
      runner lease (``lease_owner``, ``lease_token``, ``lease_expires_at``).
    - ``sequences``: per agent, the last signal and evidence sequence given out and the
      hash of the last evidence entry (``evidence_head``). A writer takes the agent's row
      lock here (an upsert) before numbering, and holds it until commit, so sequences are
      gapless, in commit order, and the evidence forms one chain with no fork.
    - ``signals``: the signal queue; ``consumed_at`` is set when a runner consumes one.
    - ``evidence``: the append-only evidence log, hash-chained per agent. The database
      refuses UPDATE, DELETE (and, on PostgreSQL, TRUNCATE) on it with triggers that
      :func:`agent_tables` attaches to the table's ``after_create`` event.

    The ``agent_id`` of ``sequences``, ``signals`` and ``evidence`` is a foreign key to
    ``states.id`` (named ``{prefix}_{table}_agent``, no ``ON DELETE`` action: a state
    with signals or evidence cannot be deleted). Each is the first column of a unique
    index of its table (the primary key of ``sequences``, ``(agent_id, sequence)`` of the
    other two), which serves both the per-agent queries and the foreign key's checks.
    """

    states: Table
    sequences: Table
    signals: Table
    evidence: Table


@attrs.frozen
class AgentMappings:
    """How the agent store's rows convert: hexalchemy's own generated mappings, as for users' aggregates.

    ``states`` (:data:`STATE_SPEC`, the :data:`LEASE_COLUMNS` unmapped), ``signals``
    (:data:`SIGNAL_SPEC`) and ``evidence`` (:data:`EVIDENCE_SPEC`). The stores write rows with
    ``to_row_trusted`` (their own validation, stricter than the value rules, runs first) and
    read them with ``from_row``, or with a reader of driver rows
    (:func:`~hexalchemy.sqlalchemy._precompiled.statement_reader`).
    """

    states: TableMapping[AgentState, str]
    signals: TableMapping[Signal, uuid.UUID]
    evidence: TableMapping[Evidence, uuid.UUID]


@functools.cache
def agent_mappings(tables: AgentTables) -> AgentMappings:
    """Build (once per :class:`AgentTables`) the mappings of the agent tables' rows; ``MappingError`` if they do not fit."""
    schema = Schema(metadata=tables.states.metadata)
    return AgentMappings(
        schema.map(STATE_SPEC, table=tables.states, unmapped=LEASE_COLUMNS),
        schema.map(SIGNAL_SPEC, table=tables.signals),
        schema.map(EVIDENCE_SPEC, table=tables.evidence),
    )


def append_only_statements(table: Table | str, dialect: Dialect | str) -> list[str]:
    """The DDL that makes ``table`` append-only on ``dialect`` (a dialect or its name: ``postgresql``, ``sqlite``).

    ``table``: a ``Table`` (its schema is used), or a table name in the default schema.
    On PostgreSQL a trigger function raising ``restrict_violation`` (SQLSTATE 23001), a row
    trigger ``BEFORE UPDATE OR DELETE`` and a statement trigger ``BEFORE TRUNCATE``; on SQLite
    two ``RAISE(ABORT, ...)`` triggers. Both surface as ``ConstraintViolationError``. Every
    name is quoted by the dialect's identifier preparer. The statements are driver SQL: run
    each with ``connection.exec_driver_sql`` (in an Alembic migration,
    ``op.get_bind().exec_driver_sql(statement)``).
    """
    if not is_instance(table, Table | str) or not (table.name if isinstance(table, Table) else table):
        raise ConfigError("table", table, "must be the evidence table, or its name")
    backend = backend_for(dialect)
    if isinstance(dialect, str):
        dialect = URL.create(backend.name).get_dialect()()
    if isinstance(table, str):
        table = Table(table, MetaData())
    return backend.append_only_statements(table, dialect)


def _install_append_only(table: Table) -> None:
    """Create the append-only triggers with the table (``after_create``), for its database.

    A plain listener rather than ``DDL(...).execute_if(dialect=...)``: the same effect, typed.
    """

    def create(target: Table, connection: Connection, **_: Any) -> None:
        dialect = connection.dialect
        for statement in backend_for(dialect).append_only_statements(target, dialect):
            connection.exec_driver_sql(statement)

    def drop(target: Table, connection: Connection, **_: Any) -> None:
        dialect = connection.dialect
        for statement in backend_for(dialect).drop_append_only_statements(target, dialect):
            connection.exec_driver_sql(statement)

    event.listen(table, "after_create", create)
    event.listen(table, "after_drop", drop)


def _agent_key(states: Table, table_name: str) -> ForeignKey:
    """The foreign key of ``table_name``'s ``agent_id`` to ``states.id`` (no ON DELETE action)."""
    return ForeignKey(states.c.id, name=f"{table_name}_agent")


def agent_tables(target: Schema | MetaData, *, prefix: str = DEFAULT_PREFIX) -> AgentTables:
    """Add the agent tables to ``target``'s ``MetaData`` and return them.

    The tables are ``{prefix}_states``, ``{prefix}_sequences``, ``{prefix}_signals`` and
    ``{prefix}_evidence``; the last three reference the first (see :class:`AgentTables`).
    Create them with the rest of the schema (``schema.create_all(engine)``): the
    append-only triggers of the evidence table are created with it. Raises
    ``ConfigError`` when tables with these names are already defined there, or for a
    prefix that is not an identifier or too long for the names made from it to fit the
    databases' limit (63 bytes on PostgreSQL: a prefix of at most 42 bytes).
    """
    metadata = target.metadata if isinstance(target, Schema) else target
    if not is_instance(metadata, MetaData):
        raise ConfigError("target", target, "must be a hexalchemy Schema or a SQLAlchemy MetaData")
    prefix = check_prefix(prefix, _NAME_SUFFIXES)
    names = [f"{prefix}_states", f"{prefix}_sequences", f"{prefix}_signals", f"{prefix}_evidence"]
    taken = [name for name in names if name in metadata.tables]
    if taken:
        raise ConfigError("prefix", prefix, f"tables {taken} are already defined in this MetaData")
    states = Table(
        names[0],
        metadata,
        Column("id", String(MAX_AGENT_ID_LENGTH), primary_key=True),
        Column("agent_type", String(MAX_AGENT_ID_LENGTH), nullable=False),
        Column("status", String(32), nullable=False),
        Column("transition", text_type(Text()), nullable=True),
        Column("reason", text_type(Text()), nullable=True),
        Column("current_activity", text_type(Text()), nullable=True),
        Column("input_ref", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("output_ref", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("last_event_cursor", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("recovery_marker", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("metadata", JSON, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("version", BigInteger, nullable=False),
        Column("lease_owner", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("lease_token", Uuid(as_uuid=True), nullable=True),
        Column("lease_expires_at", UtcDateTime, nullable=True),
        comment="hexalchemy agents: the state of each agent, with its runner lease",
        **table_options(),
    )
    Index(f"{prefix}_states_status", states.c.status, states.c.id)
    # claim_resumable: resume candidates, least recently updated first.
    Index(f"{prefix}_states_resume", states.c.status, states.c.updated_at, states.c.id)
    sequences = Table(
        names[1],
        metadata,
        Column("agent_id", String(MAX_AGENT_ID_LENGTH), _agent_key(states, names[1]), primary_key=True),
        Column("signal_sequence", BigInteger, nullable=False),
        Column("evidence_sequence", BigInteger, nullable=False),
        Column("evidence_head", String(HASH_LENGTH), nullable=True),
        comment="hexalchemy agents: the last signal and evidence sequence given out per agent",
        **table_options(),
    )
    signals = Table(
        names[2],
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("agent_id", String(MAX_AGENT_ID_LENGTH), _agent_key(states, names[2]), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("payload", JSON, nullable=True),
        Column("idempotency_key", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("sent_at", UtcDateTime, nullable=False),
        Column("consumed_at", UtcDateTime, nullable=True),
        UniqueConstraint("agent_id", "sequence", name=f"{prefix}_signals_sequence"),
        comment="hexalchemy agents: the signal queue of each agent",
        **table_options(),
    )
    Index(
        f"{prefix}_signals_idempotency",
        signals.c.agent_id,
        signals.c.idempotency_key,
        unique=True,
        **partial_index(signals.c.idempotency_key.is_not(None)),
    )
    Index(
        f"{prefix}_signals_pending",
        signals.c.agent_id,
        signals.c.sequence,
        **partial_index(signals.c.consumed_at.is_(None)),
    )
    evidence = Table(
        names[3],
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("agent_id", String(MAX_AGENT_ID_LENGTH), _agent_key(states, names[3]), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("kind", String(MAX_AGENT_ID_LENGTH), nullable=False),
        Column("payload", JSON, nullable=True),
        Column("summary", text_type(Text()), nullable=True),
        Column("digest", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("manifest_ref", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("reference", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("sensitive_fields", JSON, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("previous_hash", String(HASH_LENGTH), nullable=True),
        Column("hash", String(HASH_LENGTH), nullable=False),
        UniqueConstraint("agent_id", "sequence", name=f"{prefix}_evidence_sequence"),
        comment="hexalchemy agents: the append-only, hash-chained evidence log",
        **table_options(),
    )
    Index(f"{prefix}_evidence_manifest", evidence.c.manifest_ref, evidence.c.id)
    _install_append_only(evidence)
    tables = AgentTables(states, sequences, signals, evidence)
    agent_mappings(tables)  # built here, at composition time: a mismatch fails now, not at the first call
    return tables
