"""The database itself refuses to change the evidence log; bad input writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

import attrs
import pytest
from sqlalchemy import Executable, delete, text, update

from hexalchemy.ports import (
    ConstraintViolationError,
    DuplicateEntityError,
    Evidence,
    InvalidAgentDataError,
    InvalidArgumentError,
    SignalKind,
)
from hexalchemy.rules import chain_evidence, new_agent_state, new_evidence, new_signal
from tests.agents_sql._sync.harness import SqlAgents
from tests.agents_sql.tables import TABLES


def one_entry(agents: SqlAgents) -> Evidence:
    with agents.transactions.begin():
        agents.states.save(new_agent_state("a", "t"))
        return agents.evidence.append(new_evidence("a", "note", {"n": 1}))


def refuse(agents: SqlAgents, statement: Executable) -> None:
    with pytest.raises(ConstraintViolationError, match="append-only"), agents.transactions.begin():
        agents.transactions.connection().execute(statement)


def check_update_and_delete_are_refused(agents: SqlAgents) -> None:
    entry = one_entry(agents)
    e = TABLES.evidence
    refuse(agents, update(e).where(e.c.id == entry.id).values(summary="edited"))
    refuse(agents, delete(e).where(e.c.id == entry.id))
    with agents.transactions.begin(read_only=True):
        assert agents.evidence.get(entry.id) == entry
        assert agents.evidence.verify("a").ok


def test_sqlite_refuses_update_and_delete_of_evidence(sqlite_agents: SqlAgents) -> None:
    check_update_and_delete_are_refused(sqlite_agents)


@pytest.mark.postgresql
def test_postgresql_refuses_update_and_delete_of_evidence(postgresql_agents: SqlAgents) -> None:
    check_update_and_delete_are_refused(postgresql_agents)


def test_mariadb_refuses_update_and_delete_of_evidence(mariadb_agents: SqlAgents) -> None:
    check_update_and_delete_are_refused(mariadb_agents)


@pytest.mark.postgresql
def test_postgresql_refuses_truncate_of_evidence(postgresql_agents: SqlAgents) -> None:
    one_entry(postgresql_agents)
    refuse(postgresql_agents, text(f"TRUNCATE {TABLES.evidence.name}"))
    refuse(postgresql_agents, text(f"TRUNCATE {TABLES.evidence.name}, {TABLES.sequences.name}"))
    with postgresql_agents.transactions.begin(read_only=True):
        assert len(postgresql_agents.evidence.list_by_agent("a")) == 1


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_verify_catches_an_entry_added_past_the_recorded_head(
    database: str, request: pytest.FixtureRequest
) -> None:
    """An INSERT behind the library's back (the triggers allow inserts) that chains correctly."""
    agents: SqlAgents = request.getfixturevalue(f"{database}_agents")
    with agents.transactions.begin():
        agents.states.save(new_agent_state("a", "t"))
        stored = agents.evidence.append_all([new_evidence("a", "note", n) for n in range(3)])
    forged = chain_evidence(new_evidence("a", "note", "forged"), 4, stored[-1].hash)
    row = {name: getattr(forged, name) for name in ("id", "agent_id", "kind", "payload", "sequence")}
    row |= {"created_at": forged.created_at, "previous_hash": forged.previous_hash, "hash": forged.hash}
    with agents.engine.begin() as connection:
        connection.execute(TABLES.evidence.insert().values(row | {"sensitive_fields": []}))
    with agents.transactions.begin(read_only=True):
        verdict = agents.evidence.verify("a")
    assert (verdict.ok, verdict.first_broken_sequence) == (False, 4)
    assert verdict.reason is not None and "recorded head" in verdict.reason


def nothing_written(agents: SqlAgents) -> None:
    with agents.transactions.begin(read_only=True):
        assert agents.evidence.list_by_agent("a") == []
        assert agents.signals.pending_count("a") == 0
        assert agents.states.get_or_none("a") is None
    with agents.engine.connect() as connection:
        assert connection.execute(TABLES.sequences.select()).all() == []


@pytest.mark.parametrize(
    "bad",
    [
        attrs.evolve(new_evidence("a", "note"), kind=" "),
        attrs.evolve(new_evidence("a", "note"), payload={"x": float("nan")}),
        attrs.evolve(new_evidence("a", "note"), sensitive_fields=cast(Any, ["x"])),
        "not evidence",
    ],
)
def test_a_bad_entry_in_a_batch_writes_nothing(sqlite_agents: SqlAgents, bad: object) -> None:
    good = new_evidence("a", "note", {"n": 1})
    with pytest.raises(InvalidAgentDataError), sqlite_agents.transactions.begin():
        sqlite_agents.evidence.append_all([good, cast(Evidence, bad)])
    nothing_written(sqlite_agents)


def test_a_repeated_evidence_id_writes_nothing(sqlite_agents: SqlAgents) -> None:
    stored = one_entry(sqlite_agents)
    with pytest.raises(DuplicateEntityError), sqlite_agents.transactions.begin():
        sqlite_agents.evidence.append_all([new_evidence("a", "note"), attrs.evolve(stored, sequence=0)])
    with sqlite_agents.transactions.begin(read_only=True):
        assert len(sqlite_agents.evidence.list_by_agent("a")) == 1
        assert sqlite_agents.evidence.verify("a").ok


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda a: a.signals.send(
                attrs.evolve(new_signal("a", SignalKind.CANCEL), kind=cast(Any, "cancel"))
            ),
            "kind",
        ),
        (lambda a: a.signals.consume("a", ["cancel"]), "accepted_kinds"),
        (
            lambda a: a.states.save(attrs.evolve(new_agent_state("a", "t"), metadata={"x": float("inf")})),
            "metadata",
        ),
        (lambda a: a.states.list_by_status("active"), "status"),
        (lambda a: a.evidence.get(str(uuid.uuid4())), "id"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    sqlite_agents: SqlAgents, call: Callable[[SqlAgents], object], field: str
) -> None:
    with pytest.raises(InvalidAgentDataError) as raised, sqlite_agents.transactions.begin():
        call(sqlite_agents)
    assert raised.value.field == field
    nothing_written(sqlite_agents)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda a: a.signals.consume("a", [SignalKind.CANCEL], maximum=0), "maximum"),
        (lambda a: a.evidence.list_by_manifest_ref("m", after="not-a-cursor"), "after"),
        (lambda a: a.evidence.append_all(new_evidence("a", "note")), "entries"),
        (lambda a: a.signals.consume("a", "cancel"), "accepted_kinds"),
    ],
)
def test_a_bad_argument_is_a_clear_error_and_writes_nothing(
    sqlite_agents: SqlAgents, call: Callable[[SqlAgents], object], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError) as raised, sqlite_agents.transactions.begin():
        call(sqlite_agents)
    assert raised.value.argument == argument
    nothing_written(sqlite_agents)
