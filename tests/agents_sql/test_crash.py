"""Crash at every statement: an action boundary is committed whole or not at all.

The boundary saves the agent's state, consumes 3 signals, appends 2 evidence entries and
adds 1 outbox message, in one transaction. A ``before_cursor_execute`` hook raises at the
k-th statement, for every k; afterwards the database holds either the whole boundary or
none of it, and the same boundary then runs to the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
from sqlalchemy import Engine, event, func, select

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    Evidence,
    EvidenceKind,
    OutboxMessage,
    Signal,
    SignalKind,
)
from tests.agents_sql.conftest import OUTBOX, SqlAgents


class CrashError(Exception):
    """The simulated crash."""


@contextmanager
def crash_at(engine: Engine, k: int | None) -> Iterator[list[str]]:
    """Count the statements sent to the driver; raise CrashError at the k-th (never with None)."""
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)
        if len(statements) == k:
            raise CrashError(f"crash at statement {k}: {statement[:60]}")

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def prepare(agents: SqlAgents, agent_id: str) -> AgentState:
    with agents.transactions.begin():
        state = agents.states.save(AgentState.create(agent_id, "crash", status=AgentStatus.ACTIVE))
        for index in range(4):
            agents.signals.send(Signal.create(agent_id, SignalKind.USER_MESSAGE, {"n": index}))
    return state


def boundary(agents: SqlAgents, state: AgentState) -> None:
    with agents.transactions.begin():
        agents.states.save(attrs.evolve(state, current_activity="acted"))
        consumed = agents.signals.consume(state.id, [SignalKind.USER_MESSAGE], maximum=3)
        assert len(consumed) == 3
        agents.evidence.append_all(
            [
                Evidence.create(state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "started"}),
                Evidence.create(
                    state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "completed"}
                ),
            ]
        )
        agents.outbox.add(OutboxMessage.create(f"agent.{state.id}", b"acted"))


def snapshot(agents: SqlAgents, agent_id: str) -> tuple[int, int, int, int]:
    """(state version, pending signals, evidence entries, outbox messages) of the agent."""
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


def crash_everywhere(agents: SqlAgents) -> None:
    state = prepare(agents, "probe")
    with crash_at(agents.engine, None) as statements:
        boundary(agents, state)
    assert snapshot(agents, "probe") == AFTER
    count = len(statements)
    assert count >= 5
    for k in range(1, count + 1):
        agent_id = f"agent-{k}"
        state = prepare(agents, agent_id)
        with pytest.raises(CrashError), crash_at(agents.engine, k):
            boundary(agents, state)
        assert snapshot(agents, agent_id) == BEFORE, f"crash at statement {k} left part of the boundary"
        boundary(agents, state)  # the same boundary, run again, completes
        assert snapshot(agents, agent_id) == AFTER


def test_sqlite_boundary_is_all_or_nothing_at_every_statement(sqlite_agents: SqlAgents) -> None:
    crash_everywhere(sqlite_agents)


@pytest.mark.postgresql
def test_postgresql_boundary_is_all_or_nothing_at_every_statement(postgresql_agents: SqlAgents) -> None:
    crash_everywhere(postgresql_agents)
