"""Crash at every statement, async: an action boundary is committed whole or not at all.

The async twin of ``test_crash.py``, on aiosqlite and psycopg's async driver. The boundary
saves the agent's state, consumes 3 signals, appends 2 evidence entries and adds 1 outbox
message, in one transaction of the async manager. Events of an ``AsyncEngine`` go on its
``sync_engine``. The boundary is broken in several ways; afterwards the database holds
either the whole boundary or none of it, and no connection is left checked out:

- a ``before_cursor_execute`` hook raises at the k-th statement, for every k;
- ``asyncio.CancelledError`` (a ``BaseException``: a timeout or a shutdown, the crash only
  async code has) is raised at the k-th statement the boundary's code sends, for every k;
- the commit fails before it reaches the database (a ``commit`` hook raises: COMMIT is not a
  cursor execute): nothing of the boundary remains, and the same boundary then runs to the end;
- the database commits but the client sees an error (the acknowledgement is lost): the whole
  boundary remains, and running it again is refused by the version check, not applied twice;
- the task is cancelled while the manager itself begins or commits the transaction: the
  connection is rolled back and closed, nothing of the boundary remains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
from sqlalchemy import QueuePool, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    CommitError,
    Evidence,
    EvidenceKind,
    OutboxMessage,
    Signal,
    SignalKind,
    VersionConflictError,
)
from tests.agents_sql.conftest import OUTBOX, AsyncSqlAgents


class CrashError(Exception):
    """The simulated crash."""


@contextmanager
def fail_at(
    engine: AsyncEngine, k: int | None, error: type[BaseException] = CrashError
) -> Iterator[list[str]]:
    """Count the statements sent to the driver; raise ``error`` at the k-th (never with None)."""
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)
        if len(statements) == k:
            raise error(f"{error.__name__} at statement {k}: {statement[:60]}")

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


@contextmanager
def fail_on(engine: AsyncEngine, name: str, error: BaseException) -> Iterator[list[object]]:
    """Raise ``error`` from the engine's ``name`` event (``begin``, ``commit``), before the driver acts."""
    calls: list[object] = []

    def hook(connection: Any) -> None:
        calls.append(connection)
        raise error

    event.listen(engine.sync_engine, name, hook)
    try:
        yield calls
    finally:
        event.remove(engine.sync_engine, name, hook)


@contextmanager
def commit_acknowledgement_lost(engine: AsyncEngine) -> Iterator[list[object]]:
    """Let the database commit, then raise CrashError as if the connection dropped before the reply."""
    dialect = engine.sync_engine.dialect
    commit = dialect.do_commit
    commits: list[object] = []

    def do_commit(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        commits.append(dbapi_connection)
        raise CrashError("connection lost after the commit")

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    try:
        yield commits
    finally:
        del dialect.do_commit


async def prepare(agents: AsyncSqlAgents, agent_id: str) -> AgentState:
    async with agents.transactions.begin():
        # the state first: signals and evidence refer to it
        state = await agents.states.save(AgentState.create(agent_id, "crash", status=AgentStatus.ACTIVE))
        for index in range(4):
            await agents.signals.send(Signal.create(agent_id, SignalKind.USER_MESSAGE, {"n": index}))
    return state


async def boundary(agents: AsyncSqlAgents, state: AgentState) -> None:
    async with agents.transactions.begin():
        await agents.states.save(attrs.evolve(state, current_activity="acted"))
        consumed = await agents.signals.consume(state.id, [SignalKind.USER_MESSAGE], maximum=3)
        assert len(consumed) == 3
        await agents.evidence.append_all(
            [
                Evidence.create(state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "started"}),
                Evidence.create(
                    state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "completed"}
                ),
            ]
        )
        await agents.outbox.add(OutboxMessage.create(f"agent.{state.id}", b"acted"))


async def snapshot(agents: AsyncSqlAgents, agent_id: str) -> tuple[int, int, int, int]:
    """(state version, pending signals, evidence entries, outbox messages) of the agent.

    Also checks that the crash left no connection checked out and no transaction in the task.
    Bounded in time: a leaked transaction holding the agent's locks fails the test, not hangs it.
    """
    assert not agents.transactions.in_transaction
    pool = agents.engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedout() == 0, "the crash left a connection checked out"
    async with asyncio.timeout(10), agents.transactions.begin(read_only=True):
        version = (await agents.states.get(agent_id)).version
        pending = await agents.signals.pending_count(agent_id)
        entries = len(await agents.evidence.list_by_agent(agent_id))
        assert (await agents.evidence.verify(agent_id)).ok
        messages = OUTBOX.messages
        outbox = await agents.transactions.connection().execute(
            select(func.count()).select_from(messages).where(messages.c.topic == f"agent.{agent_id}")
        )
        return version, pending, entries, outbox.scalar_one()


BEFORE = (1, 4, 0, 0)
AFTER = (2, 1, 2, 1)


async def boundary_statements(agents: AsyncSqlAgents) -> list[str]:
    """The statements a boundary sends, recorded on a boundary that runs to the end."""
    state = await prepare(agents, "probe")
    with fail_at(agents.engine, None) as statements:
        await boundary(agents, state)
    assert await snapshot(agents, "probe") == AFTER
    assert len(statements) >= 5
    return statements


async def crash_everywhere(agents: AsyncSqlAgents) -> None:
    for k in range(1, len(await boundary_statements(agents)) + 1):
        agent_id = f"agent-{k}"
        state = await prepare(agents, agent_id)
        with pytest.raises(CrashError), fail_at(agents.engine, k):
            await boundary(agents, state)
        assert await snapshot(agents, agent_id) == BEFORE, f"crash at statement {k} left part of the boundary"
        await boundary(agents, state)  # the same boundary, run again, completes
        assert await snapshot(agents, agent_id) == AFTER


async def cancel_everywhere(agents: AsyncSqlAgents) -> None:
    """CancelledError at each statement of the boundary's code (SQLite's BEGIN is the manager's)."""
    statements = await boundary_statements(agents)
    ks = [k for k, statement in enumerate(statements, 1) if not statement.startswith("BEGIN")]
    assert len(ks) >= 5
    for k in ks:
        agent_id = f"cancelled-{k}"
        state = await prepare(agents, agent_id)
        with pytest.raises(asyncio.CancelledError), fail_at(agents.engine, k, asyncio.CancelledError):
            await boundary(agents, state)
        assert await snapshot(agents, agent_id) == BEFORE, (
            f"cancellation at statement {k} left part of the boundary"
        )
        await boundary(agents, state)  # the same boundary, run again, completes
        assert await snapshot(agents, agent_id) == AFTER


async def commit_fails(agents: AsyncSqlAgents) -> None:
    state = await prepare(agents, "commit-fails")
    with (
        pytest.raises(CommitError) as raised,
        fail_on(agents.engine, "commit", CrashError("crash at commit")) as commits,
    ):
        await boundary(agents, state)
    assert len(commits) == 1
    assert isinstance(raised.value.__cause__, CrashError)
    assert await snapshot(agents, "commit-fails") == BEFORE, "a failed commit left part of the boundary"
    await boundary(agents, state)  # the same boundary, run again, completes
    assert await snapshot(agents, "commit-fails") == AFTER


async def acknowledgement_lost(agents: AsyncSqlAgents) -> None:
    state = await prepare(agents, "ack-lost")
    with pytest.raises(CommitError) as raised, commit_acknowledgement_lost(agents.engine) as commits:
        await boundary(agents, state)
    assert len(commits) == 1
    assert isinstance(raised.value.__cause__, CrashError)
    # The database committed: the whole boundary is there (never a part of it).
    assert await snapshot(agents, "ack-lost") == AFTER
    # A blind retry of the same boundary is refused by the version check, and changes nothing.
    with pytest.raises(VersionConflictError):
        await boundary(agents, state)
    assert await snapshot(agents, "ack-lost") == AFTER


async def cancelled_in_the_manager(agents: AsyncSqlAgents, name: str) -> None:
    """CancelledError while the manager begins or commits: nothing remains, nothing leaks."""
    agent_id = f"cancelled-at-{name}"
    state = await prepare(agents, agent_id)
    with (
        pytest.raises(asyncio.CancelledError),
        fail_on(agents.engine, name, asyncio.CancelledError(f"cancelled at {name}")) as calls,
    ):
        await boundary(agents, state)
    assert len(calls) == 1
    assert await snapshot(agents, agent_id) == BEFORE
    async with asyncio.timeout(10):
        await boundary(agents, state)  # the same task carries on: the same boundary completes
    assert await snapshot(agents, agent_id) == AFTER


# -- SQLite (aiosqlite) -------------------------------------------------------------------------


async def test_sqlite_boundary_is_all_or_nothing_at_every_statement(
    async_sqlite_agents: AsyncSqlAgents,
) -> None:
    await crash_everywhere(async_sqlite_agents)


async def test_sqlite_boundary_is_all_or_nothing_when_cancelled_at_every_statement(
    async_sqlite_agents: AsyncSqlAgents,
) -> None:
    await cancel_everywhere(async_sqlite_agents)


async def test_sqlite_boundary_leaves_nothing_when_the_commit_fails(
    async_sqlite_agents: AsyncSqlAgents,
) -> None:
    await commit_fails(async_sqlite_agents)


async def test_sqlite_boundary_is_whole_when_the_commit_acknowledgement_is_lost(
    async_sqlite_agents: AsyncSqlAgents,
) -> None:
    await acknowledgement_lost(async_sqlite_agents)


@pytest.mark.parametrize("name", ["begin", "commit"])
async def test_sqlite_boundary_leaves_nothing_when_cancelled_in_the_manager(
    async_sqlite_agents: AsyncSqlAgents, name: str
) -> None:
    await cancelled_in_the_manager(async_sqlite_agents, name)


# -- PostgreSQL (psycopg async) -----------------------------------------------------------------


@pytest.mark.postgresql
async def test_postgresql_boundary_is_all_or_nothing_at_every_statement(
    async_postgresql_agents: AsyncSqlAgents,
) -> None:
    await crash_everywhere(async_postgresql_agents)


@pytest.mark.postgresql
async def test_postgresql_boundary_is_all_or_nothing_when_cancelled_at_every_statement(
    async_postgresql_agents: AsyncSqlAgents,
) -> None:
    await cancel_everywhere(async_postgresql_agents)


@pytest.mark.postgresql
async def test_postgresql_boundary_leaves_nothing_when_the_commit_fails(
    async_postgresql_agents: AsyncSqlAgents,
) -> None:
    await commit_fails(async_postgresql_agents)


@pytest.mark.postgresql
async def test_postgresql_boundary_is_whole_when_the_commit_acknowledgement_is_lost(
    async_postgresql_agents: AsyncSqlAgents,
) -> None:
    await acknowledgement_lost(async_postgresql_agents)


@pytest.mark.postgresql
@pytest.mark.parametrize("name", ["begin", "commit"])
async def test_postgresql_boundary_leaves_nothing_when_cancelled_in_the_manager(
    async_postgresql_agents: AsyncSqlAgents, name: str
) -> None:
    await cancelled_in_the_manager(async_postgresql_agents, name)
