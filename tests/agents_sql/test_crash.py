"""Crash at every statement: an action boundary is committed whole or not at all.

The boundary saves the agent's state, consumes 3 signals, appends 2 evidence entries and
adds 1 outbox message, in one transaction. It is broken in several ways; afterwards the
database holds either the whole boundary or none of it:

- a hook raises at the k-th statement, for every k, and the same boundary then runs to the
  end. The hooks are those of ``tests/agents_sql/crashing.py``: a ``before_cursor_execute``
  listener (SQLAlchemy's path: SQLite, and PostgreSQL with the fast path off) and, on
  PostgreSQL, a psycopg cursor set by the pool's ``connect`` event, which leaves on the
  driver fast path that production takes there; the test checks the boundary took it;
- the commit fails before it reaches the database (a ``commit`` hook raises: COMMIT is not a
  cursor execute): nothing of the boundary remains, and the same boundary then runs to the end;
- the database commits but the client sees an error (the acknowledgement is lost): the whole
  boundary remains, and running it again is refused by the version check, not applied twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest
from sqlalchemy import Engine, func, select

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    CommitError,
    EvidenceKind,
    SignalKind,
    VersionConflictError,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_message, new_signal
from hexalchemy.sqlalchemy import DatabaseConfig, create_engine
from tests.agents_sql.conftest import OUTBOX, SqlAgents
from tests.agents_sql.crashing import (
    CrashError,
    CursorHook,
    Hook,
    ListenerHook,
    Sent,
    commit_acknowledgement_lost,
    fail_on,
)
from tests.postgresql import POSTGRESQL_URL


def prepare(agents: SqlAgents, agent_id: str) -> AgentState:
    with agents.transactions.begin():
        state = agents.states.save(new_agent_state(agent_id, "crash", status=AgentStatus.ACTIVE))
        for index in range(4):
            agents.signals.send(new_signal(agent_id, SignalKind.USER_MESSAGE, {"n": index}))
    return state


def boundary(agents: SqlAgents, state: AgentState) -> None:
    with agents.transactions.begin():
        agents.states.save(attrs.evolve(state, current_activity="acted"))
        consumed = agents.signals.consume(state.id, [SignalKind.USER_MESSAGE], maximum=3)
        assert len(consumed) == 3
        agents.evidence.append_all(
            [
                new_evidence(state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "started"}),
                new_evidence(state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "completed"}),
            ]
        )
        agents.outbox.add(new_message(f"agent.{state.id}", b"acted"))


def snapshot(agents: SqlAgents, agent_id: str) -> tuple[int, int, int, int]:
    """(state version, pending signals, evidence entries, outbox messages) of the agent."""
    assert not agents.transactions.in_transaction
    with agents.transactions.begin(read_only=True):
        version = agents.states.get(agent_id).version
        pending = agents.signals.pending_count(agent_id)
        entries = len(agents.evidence.list_by_agent(agent_id))
        assert agents.evidence.verify(agent_id).ok
        messages = OUTBOX.messages
        outbox = agents.transactions.connection().execute(
            select(func.count()).select_from(messages).where(messages.c.topic == f"agent.{agent_id}")
        )
        return version, pending, entries, outbox.scalar_one()


BEFORE = (1, 4, 0, 0)
AFTER = (2, 1, 2, 1)


def boundary_statements(agents: SqlAgents, hook: Hook, agent_id: str = "probe") -> list[Sent]:
    """The statements a boundary sends, seen by ``hook`` on a boundary that runs to the end."""
    state = prepare(agents, agent_id)
    with hook.fail_at(None) as statements:
        boundary(agents, state)
    assert snapshot(agents, agent_id) == AFTER
    hook.check_path(statements)
    assert len(statements) >= 5
    return statements


def crash_everywhere(agents: SqlAgents, hook: Hook) -> None:
    for k in range(1, len(boundary_statements(agents, hook)) + 1):
        agent_id = f"agent-{k}"
        state = prepare(agents, agent_id)
        with pytest.raises(CrashError), hook.fail_at(k):
            boundary(agents, state)
        assert snapshot(agents, agent_id) == BEFORE, f"crash at statement {k} left part of the boundary"
        boundary(agents, state)  # the same boundary, run again, completes
        assert snapshot(agents, agent_id) == AFTER


def commit_fails(agents: SqlAgents, hook: Hook) -> None:
    """The commit fails before it reaches the database: nothing of the boundary remains."""
    state = prepare(agents, "commit-fails")
    with (
        pytest.raises(CommitError) as raised,
        fail_on(agents.engine, "commit", CrashError("crash at commit")) as commits,
        hook.fail_at(None) as statements,
    ):
        boundary(agents, state)
    assert len(commits) == 1
    hook.check_path(statements)
    assert isinstance(raised.value.__cause__, CrashError)
    assert snapshot(agents, "commit-fails") == BEFORE, "a failed commit left part of the boundary"
    boundary(agents, state)  # the same boundary, run again, completes
    assert snapshot(agents, "commit-fails") == AFTER


def acknowledgement_lost(agents: SqlAgents, hook: Hook) -> None:
    """The database commits, the client sees an error: the whole boundary remains, once."""
    state = prepare(agents, "ack-lost")
    with (
        pytest.raises(CommitError) as raised,
        commit_acknowledgement_lost(agents.engine) as commits,
        hook.fail_at(None) as statements,
    ):
        boundary(agents, state)
    assert len(commits) == 1
    hook.check_path(statements)
    assert isinstance(raised.value.__cause__, CrashError)
    # The database committed: the whole boundary is there (never a part of it).
    assert snapshot(agents, "ack-lost") == AFTER
    # A blind retry of the same boundary is refused by the version check, and changes nothing.
    with pytest.raises(VersionConflictError):
        boundary(agents, state)
    assert snapshot(agents, "ack-lost") == AFTER


# -- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_hook(sqlite_agents: SqlAgents) -> Hook:
    return ListenerHook(sqlite_agents.engine)


def test_sqlite_boundary_is_all_or_nothing_at_every_statement(
    sqlite_agents: SqlAgents, sqlite_hook: Hook
) -> None:
    crash_everywhere(sqlite_agents, sqlite_hook)


def test_sqlite_boundary_leaves_nothing_when_the_commit_fails(
    sqlite_agents: SqlAgents, sqlite_hook: Hook
) -> None:
    commit_fails(sqlite_agents, sqlite_hook)


def test_sqlite_boundary_is_whole_when_the_commit_acknowledgement_is_lost(
    sqlite_agents: SqlAgents, sqlite_hook: Hook
) -> None:
    acknowledgement_lost(sqlite_agents, sqlite_hook)


# -- PostgreSQL (psycopg) -----------------------------------------------------------------------


def hooked_postgresql(make_hook: type[ListenerHook | CursorHook]) -> Iterator[tuple[SqlAgents, Hook]]:
    """For a fixture: the agents on an engine of their own, its hook set before its first connection."""
    engine = create_engine(DatabaseConfig(url=POSTGRESQL_URL))
    try:
        hook = make_hook(engine)
        with engine.connect():  # the dialect learns the server before the stores compile for it
            pass
        yield SqlAgents(engine), hook
    finally:
        engine.dispose()


@pytest.fixture(params=[ListenerHook, CursorHook], ids=["sqlalchemy-listener", "psycopg-cursor"])
def postgresql_hooked(
    request: pytest.FixtureRequest, agents_postgresql: Engine
) -> Iterator[tuple[SqlAgents, Hook]]:
    """The agents with each hook: on SQLAlchemy's path, and on the driver fast path."""
    yield from hooked_postgresql(request.param)


@pytest.fixture
def postgresql_fast_path(agents_postgresql: Engine) -> Iterator[tuple[SqlAgents, Hook]]:
    """The agents with the psycopg cursor hook: on the driver fast path, as in production."""
    yield from hooked_postgresql(CursorHook)


@pytest.mark.postgresql
def test_postgresql_boundary_is_all_or_nothing_at_every_statement(
    postgresql_hooked: tuple[SqlAgents, Hook],
) -> None:
    crash_everywhere(*postgresql_hooked)


@pytest.mark.postgresql
def test_postgresql_boundary_leaves_nothing_when_the_commit_fails(
    postgresql_fast_path: tuple[SqlAgents, Hook],
) -> None:
    commit_fails(*postgresql_fast_path)


@pytest.mark.postgresql
def test_postgresql_boundary_is_whole_when_the_commit_acknowledgement_is_lost(
    postgresql_fast_path: tuple[SqlAgents, Hook],
) -> None:
    acknowledgement_lost(*postgresql_fast_path)
