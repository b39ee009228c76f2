"""The foreign keys from the signals, evidence and sequences tables to the states table."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, event, insert, inspect
from sqlalchemy.sql import Executable

from hexalchemy.ports import (
    AgentState,
    ConstraintViolationError,
    EntityNotFoundError,
    SignalKind,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_signal
from hexalchemy.sqlalchemy import DatabaseConfig, agent_tables, create_engine
from tests.agents_sql._sync.harness import SqlAgents
from tests.agents_sql.tables import TABLES
from tests.statements import sqlalchemy_path


def test_the_agent_ids_reference_the_states_and_lead_an_index(tmp_path: Path) -> None:
    metadata = MetaData()
    tables = agent_tables(metadata, prefix="fk")
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'fk.db'}"))
    try:
        metadata.create_all(engine)
        found = inspect(engine)
        for table in (tables.sequences, tables.signals, tables.evidence):
            (key,) = found.get_foreign_keys(table.name)
            assert (key["constrained_columns"], key["referred_table"], key["referred_columns"]) == (
                ["agent_id"],
                "fk_states",
                ["id"],
            )
            assert "options" in key
            assert not key["options"].get("ondelete")
            assert key["name"] == f"{table.name}_agent"
        assert found.get_pk_constraint("fk_sequences")["constrained_columns"] == ["agent_id"]
        for name in ("fk_signals", "fk_evidence"):
            unique = found.get_unique_constraints(name)
            assert ["agent_id", "sequence"] in [constraint["column_names"] for constraint in unique]
    finally:
        engine.dispose()


def execute(agents: SqlAgents, statement: Executable) -> None:
    with agents.transactions.begin():
        agents.transactions.connection().execute(statement)


def check_the_database_refuses_orphans(agents: SqlAgents) -> None:
    now = dt.datetime.now(dt.UTC)
    signal = insert(TABLES.signals).values(
        id=uuid.uuid4(), agent_id="nobody", sequence=1, kind="cancel", sent_at=now
    )
    with pytest.raises(ConstraintViolationError):
        execute(agents, signal)
    with pytest.raises(ConstraintViolationError):
        execute(
            agents, insert(TABLES.sequences).values(agent_id="nobody", signal_sequence=1, evidence_sequence=0)
        )


def check_a_state_with_signals_cannot_be_deleted(agents: SqlAgents) -> None:
    with agents.transactions.begin():
        agents.states.save(new_agent_state("a", "t"))
        agents.signals.send(new_signal("a", SignalKind.CANCEL))
    with pytest.raises(ConstraintViolationError):
        execute(agents, TABLES.states.delete())
    with agents.transactions.begin(read_only=True):
        assert agents.states.get_or_none("a") is not None
        assert agents.signals.pending_count("a") == 1


@contextmanager
def state_deleted_before(engine: Engine, table_name: str, agent_id: str) -> Iterator[None]:
    """Delete the agent's counters and state behind the library's back, just before the insert into ``table_name``."""

    def before(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if f"INSERT INTO {table_name} " in statement or f"INSERT IGNORE INTO {table_name} " in statement:
            cursor.execute(f"DELETE FROM {TABLES.sequences.name} WHERE agent_id = '{agent_id}'")
            cursor.execute(f"DELETE FROM {TABLES.states.name} WHERE id = '{agent_id}'")

    # the fast paths off: the inserts go through SQLAlchemy, where the listener sees them
    with sqlalchemy_path(engine):
        event.listen(engine, "before_cursor_execute", before)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", before)


def check_a_foreign_key_violation_is_not_found(agents: SqlAgents) -> None:
    writes: list[tuple[str, Callable[[], object]]] = [
        (TABLES.signals.name, lambda: agents.signals.send(new_signal("a", SignalKind.CANCEL))),
        (TABLES.evidence.name, lambda: agents.evidence.append(new_evidence("a", "note"))),
    ]
    for table_name, write in writes:
        with agents.transactions.begin():
            agents.states.save(new_agent_state("a", "t"))
        with (
            pytest.raises(EntityNotFoundError, match="'a'") as raised,
            state_deleted_before(agents.engine, table_name, "a"),
            agents.transactions.begin(),
        ):
            write()
        assert (raised.value.entity_type, raised.value.entity_id) == (AgentState, "a")
        assert isinstance(raised.value.__cause__, ConstraintViolationError)
        with agents.transactions.begin(read_only=True):
            assert agents.states.get_or_none("a") is not None  # the deletes were rolled back with the rest
        execute(agents, TABLES.sequences.delete())
        execute(agents, TABLES.states.delete())


def test_sqlite_refuses_orphans(sqlite_agents: SqlAgents) -> None:
    check_the_database_refuses_orphans(sqlite_agents)


@pytest.mark.postgresql
def test_postgresql_refuses_orphans(postgresql_agents: SqlAgents) -> None:
    check_the_database_refuses_orphans(postgresql_agents)


def test_sqlite_keeps_a_state_with_signals(sqlite_agents: SqlAgents) -> None:
    check_a_state_with_signals_cannot_be_deleted(sqlite_agents)


@pytest.mark.postgresql
def test_postgresql_keeps_a_state_with_signals(postgresql_agents: SqlAgents) -> None:
    check_a_state_with_signals_cannot_be_deleted(postgresql_agents)


def test_sqlite_reports_a_foreign_key_violation_as_not_found(sqlite_agents: SqlAgents) -> None:
    check_a_foreign_key_violation_is_not_found(sqlite_agents)


@pytest.mark.postgresql
def test_postgresql_reports_a_foreign_key_violation_as_not_found(postgresql_agents: SqlAgents) -> None:
    check_a_foreign_key_violation_is_not_found(postgresql_agents)


def test_mariadb_refuses_orphans(mariadb_agents: SqlAgents) -> None:
    check_the_database_refuses_orphans(mariadb_agents)


def test_mariadb_keeps_a_state_with_signals(mariadb_agents: SqlAgents) -> None:
    check_a_state_with_signals_cannot_be_deleted(mariadb_agents)


def test_mariadb_reports_a_foreign_key_violation_as_not_found(mariadb_agents: SqlAgents) -> None:
    check_a_foreign_key_violation_is_not_found(mariadb_agents)
