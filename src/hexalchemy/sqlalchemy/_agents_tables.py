"""The agent tables (private; re-exported by :mod:`hexalchemy.sqlalchemy.agents`)."""

from __future__ import annotations

from typing import Any, Final

import attrs
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
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

from hexalchemy.ports import ConfigError
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH
from hexalchemy.sqlalchemy.schema import Schema
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = ["DEFAULT_PREFIX", "AgentTables", "agent_tables", "append_only_statements"]

DEFAULT_PREFIX: Final = "hexalchemy_agent"
"""The prefix of the agent table names when none is given."""

HASH_LENGTH: Final = 64


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


def append_only_statements(table_name: str, dialect_name: str) -> list[str]:
    """The DDL that makes ``table_name`` append-only on ``dialect_name`` (``postgresql`` or ``sqlite``).

    On PostgreSQL a trigger function raising ``restrict_violation`` (SQLSTATE 23001), a row
    trigger ``BEFORE UPDATE OR DELETE`` and a statement trigger ``BEFORE TRUNCATE``; on SQLite
    two ``RAISE(ABORT, ...)`` triggers. Both surface as ``ConstraintViolationError``.
    """
    if not isinstance(table_name, str) or not table_name:
        raise ConfigError("table_name", table_name, "must be the evidence table's name")
    function = f"{table_name}_append_only"
    message = f"hexalchemy: {table_name} is append-only"
    if dialect_name == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION USING MESSAGE = '{message}: ' || TG_OP || ' refused', "
            "ERRCODE = 'restrict_violation'; END $$",
            f"CREATE TRIGGER {table_name}_no_change BEFORE UPDATE OR DELETE ON {table_name} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {table_name}_no_truncate BEFORE TRUNCATE ON {table_name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    if dialect_name == "sqlite":
        return [
            f"CREATE TRIGGER {table_name}_no_{operation.lower()} BEFORE {operation} ON {table_name} "
            f"BEGIN SELECT RAISE(ABORT, '{message}: {operation} refused'); END"
            for operation in ("UPDATE", "DELETE")
        ]
    raise ConfigError("dialect_name", dialect_name, "the agent store supports postgresql and sqlite")


def _install_append_only(table: Table) -> None:
    """Create the append-only triggers with the table (``after_create``), for its dialect.

    A plain listener rather than ``DDL(...).execute_if(dialect=...)``: the same effect, typed.
    """

    def create(target: Table, connection: Connection, **_: Any) -> None:
        for statement in append_only_statements(target.name, connection.dialect.name):
            connection.exec_driver_sql(statement)

    def drop(target: Table, connection: Connection, **_: Any) -> None:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {target.name}_append_only()")

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
    ``ConfigError`` when tables with these names are already defined there.
    """
    metadata = target.metadata if isinstance(target, Schema) else target
    if not isinstance(metadata, MetaData):
        raise ConfigError("target", target, "must be a hexalchemy Schema or a SQLAlchemy MetaData")
    if not isinstance(prefix, str) or not prefix.isidentifier() or len(prefix) > 40:
        raise ConfigError("prefix", prefix, "must be a SQL identifier (letters, digits and _) of at most 40")
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
        Column("transition", Text, nullable=True),
        Column("reason", Text, nullable=True),
        Column("current_activity", Text, nullable=True),
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
    )
    Index(
        f"{prefix}_signals_idempotency",
        signals.c.agent_id,
        signals.c.idempotency_key,
        unique=True,
        postgresql_where=signals.c.idempotency_key.is_not(None),
        sqlite_where=signals.c.idempotency_key.is_not(None),
    )
    Index(
        f"{prefix}_signals_pending",
        signals.c.agent_id,
        signals.c.sequence,
        postgresql_where=signals.c.consumed_at.is_(None),
        sqlite_where=signals.c.consumed_at.is_(None),
    )
    evidence = Table(
        names[3],
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("agent_id", String(MAX_AGENT_ID_LENGTH), _agent_key(states, names[3]), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("kind", String(MAX_AGENT_ID_LENGTH), nullable=False),
        Column("payload", JSON, nullable=True),
        Column("summary", Text, nullable=True),
        Column("digest", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("manifest_ref", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("reference", String(MAX_AGENT_ID_LENGTH), nullable=True),
        Column("sensitive_fields", JSON, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("previous_hash", String(HASH_LENGTH), nullable=True),
        Column("hash", String(HASH_LENGTH), nullable=False),
        UniqueConstraint("agent_id", "sequence", name=f"{prefix}_evidence_sequence"),
        comment="hexalchemy agents: the append-only, hash-chained evidence log",
    )
    Index(f"{prefix}_evidence_manifest", evidence.c.manifest_ref, evidence.c.id)
    _install_append_only(evidence)
    return AgentTables(states, sequences, signals, evidence)
