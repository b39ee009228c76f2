"""The pre-compiled psycopg path of the agent stores' hot statements (PostgreSQL).

The stores send their hot statements on the psycopg cursor directly (a cursor-execute
listener attached or not); with the fast paths turned off
(``FAST_PATHS_EXECUTION_OPTION``) they go through SQLAlchemy. Both paths must give the same
results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
from sqlalchemy import event

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    DuplicateEntityError,
    EntityNotFoundError,
    Evidence,
    EvidenceKind,
    Signal,
    SignalKind,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_signal
from hexalchemy.sqlalchemy import DatabaseConfig, create_engine
from tests.agents_sql._sync.harness import SqlAgents
from tests.postgresql import POSTGRESQL_URL
from tests.statements import counting_statements, sqlalchemy_path, sqlalchemy_statements


def boundary(agents: SqlAgents, agent_id: str) -> tuple[AgentState, list[Signal], list[Evidence]]:
    with agents.transactions.begin():
        state = agents.states.save(new_agent_state(agent_id, "t", status=AgentStatus.ACTIVE))
        for index in range(3):
            agents.signals.send(new_signal(agent_id, SignalKind.USER_MESSAGE, {"n": index}))
    with agents.transactions.begin():
        saved = agents.states.save(attrs.evolve(state, current_activity="acted", metadata={"k": [1, None]}))
        consumed = agents.signals.consume(agent_id, [SignalKind.USER_MESSAGE], maximum=2)
        stored = agents.evidence.append_all(
            [
                new_evidence(agent_id, EvidenceKind.TOOL_CALL, {"tool": "t", "x": None}),
                new_evidence(agent_id, EvidenceKind.ACTION_BOUNDARY, None, sensitive_fields=["a"]),
            ]
        )
    return saved, consumed, stored


def shape(result: tuple[AgentState, list[Signal], list[Evidence]]) -> Any:
    saved, consumed, stored = result
    return (
        (saved.version, saved.current_activity, saved.metadata, saved.created_at == saved.updated_at),
        [(s.sequence, s.kind, s.payload, s.sent_at < s.consumed_at) for s in consumed if s.consumed_at],
        [(e.sequence, e.kind, e.payload, e.sensitive_fields, e.previous_hash is None) for e in stored],
    )


@pytest.mark.postgresql
def test_postgresql_driver_and_sqlalchemy_paths_agree(postgresql_agents: SqlAgents) -> None:
    fast = boundary(postgresql_agents, "fast")
    with sqlalchemy_statements(postgresql_agents.engine) as statements:
        slow = boundary(postgresql_agents, "slow")
    assert statements  # the listener saw the statements: they went through SQLAlchemy
    assert shape(fast) == shape(slow)
    for saved, consumed, _ in (fast, slow):
        assert saved.created_at is not None and saved.created_at.tzinfo is dt.UTC
        assert all(s.consumed_at is not None and s.consumed_at.tzinfo is dt.UTC for s in consumed)
    with postgresql_agents.transactions.begin(read_only=True):
        for agent_id, (_, _, stored) in (("fast", fast), ("slow", slow)):
            assert postgresql_agents.evidence.verify(agent_id).ok
            assert postgresql_agents.evidence.list_by_agent(agent_id) == stored
            assert postgresql_agents.states.get(agent_id).metadata == {"k": [1, None]}


@pytest.mark.postgresql
def test_postgresql_append_for_one_agent_checks_ids_while_numbering(postgresql_agents: SqlAgents) -> None:
    agents = postgresql_agents
    with agents.transactions.begin():
        agents.states.save(new_agent_state("a", "t"))
        first = agents.evidence.append(new_evidence("a", "note"))
    entries = [new_evidence("a", "note"), new_evidence("a", "note")]
    with counting_statements(agents.engine) as statements, agents.transactions.begin():
        agents.evidence.append_all(entries)
    assert len(statements) == 2  # number (with the duplicate-id check), then insert and head in one
    for fast in (True, False):
        with sqlalchemy_path(agents.engine) if not fast else _nothing(), agents.transactions.begin():
            with pytest.raises(DuplicateEntityError):
                agents.evidence.append_all([new_evidence("a", "note"), first])
            with pytest.raises(EntityNotFoundError, match="'nobody'"):
                agents.evidence.append(new_evidence("nobody", "note"))
            # nothing written, and the transaction is still usable
            assert [e.sequence for e in agents.evidence.list_by_agent("a")] == [1, 2, 3]
    with agents.transactions.begin(read_only=True):
        assert agents.evidence.verify("a").ok


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@pytest.mark.parametrize("size", [1, 2, 32, 33, 40])
@pytest.mark.parametrize("dialect", [pytest.param("postgresql", marks=pytest.mark.postgresql), "sqlite"])
def test_an_append_refuses_a_taken_id_in_a_batch_of_any_size(
    request: pytest.FixtureRequest, dialect: str, size: int
) -> None:
    # Up to 32 ids are checked with one parameter each (a statement per count), more as one list.
    agents: SqlAgents = request.getfixturevalue(f"{dialect}_agents")
    with agents.transactions.begin():
        agents.states.save(new_agent_state("a", "t"))
        first = agents.evidence.append(new_evidence("a", "note"))
    for fast in (True, False):
        batch = [new_evidence("a", "note") for _ in range(size - 1)]
        with sqlalchemy_path(agents.engine) if not fast else _nothing(), agents.transactions.begin():
            with pytest.raises(DuplicateEntityError, match=str(first.id)):
                agents.evidence.append_all([*batch, first])
            assert [e.sequence for e in agents.evidence.list_by_agent("a")] == [1]
    fresh = [new_evidence("a", "note") for _ in range(size)]
    with agents.transactions.begin():
        stored = agents.evidence.append_all(fresh)
    assert [e.sequence for e in stored] == list(range(2, size + 2))
    with agents.transactions.begin(read_only=True):
        assert agents.evidence.verify("a").ok


@pytest.mark.postgresql
def test_postgresql_driver_path_reads_utc_in_any_session_time_zone(postgresql_agents: SqlAgents) -> None:
    engine = create_engine(DatabaseConfig(url=POSTGRESQL_URL))

    def tokyo(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET TIME ZONE 'Asia/Tokyo'")
        dbapi_connection.autocommit = False

    event.listen(engine, "connect", tokyo)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "Asia/Tokyo"
        saved, consumed, _ = boundary(SqlAgents(engine), "tokyo")
    finally:
        engine.dispose()
    assert saved.created_at is not None and saved.created_at.tzinfo is dt.UTC
    assert consumed and all(s.sent_at.tzinfo is dt.UTC for s in consumed)
    assert all(s.consumed_at is not None and s.consumed_at.tzinfo is dt.UTC for s in consumed)
