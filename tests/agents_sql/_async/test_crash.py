# The async crash tests in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""Crash at every statement: an action boundary is committed whole or not at all.

The boundary saves the agent's state, consumes 3 signals, appends 2 evidence entries and
adds 1 outbox message, in one transaction of an :class:`AsyncSqlAgents`' manager. It is
broken in several ways, on SQLite, PostgreSQL and MariaDB; afterwards the database holds either the
whole boundary or none of it (a snapshot of the agent is :data:`BEFORE` or :data:`AFTER`,
never anything between), and no connection is left checked out:

- a hook raises at the k-th statement, for every k, and the same boundary then runs to the
  end. The hooks are those of ``tests/agents_sql/crashing.py``: a ``before_cursor_execute``
  listener (SQLAlchemy's path: SQLite, and PostgreSQL with the fast path off) and, on
  PostgreSQL, a psycopg cursor set by the pool's ``connect`` event, which leaves on the
  driver fast path that production takes there; the test checks the boundary took it (MariaDB
  has no driver fast path: the listener sees every statement there);
- the commit fails before it reaches the database (a ``commit`` hook raises: COMMIT is not a
  cursor execute): nothing of the boundary remains, and the same boundary then runs to the end;
- the database commits but the client sees an error (the acknowledgement is lost): the whole
  boundary remains, and running it again is refused by the version check, not applied twice.

On PostgreSQL the commit cases run on the fast path, with the cursor hook watching. What
only async code meets, a cancellation, is in ``tests/agents_sql/test_crash_cancelled.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest
from sqlalchemy import Engine, QueuePool, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    CommitError,
    EvidenceKind,
    SignalKind,
    VersionConflictError,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_message, new_signal
from hexalchemy.sqlalchemy import DatabaseConfig, create_async_engine
from tests.agents_sql._async.harness import AsyncSqlAgents
from tests.agents_sql.crashing import (
    CrashError,
    CursorHook,
    Hook,
    ListenerHook,
    Sent,
    async_time_limit,
    commit_acknowledgement_lost,
    fail_on,
)
from tests.agents_sql.tables import OUTBOX
from tests.mariadb import MARIADB_URL
from tests.postgresql import POSTGRESQL_URL

BEFORE = (1, 4, 0, 0)
"""The snapshot of an agent prepared for the boundary."""
AFTER = (2, 1, 2, 1)
"""The snapshot of an agent once the boundary committed."""


async def prepare(agents: AsyncSqlAgents, agent_id: str) -> AgentState:
    """Save a new agent with 4 pending signals; return its state."""
    async with agents.transactions.begin():
        # the state first: signals and evidence refer to it
        state = await agents.states.save(new_agent_state(agent_id, "crash", status=AgentStatus.ACTIVE))
        for index in range(4):
            await agents.signals.send(new_signal(agent_id, SignalKind.USER_MESSAGE, {"n": index}))
    return state


async def boundary(agents: AsyncSqlAgents, state: AgentState) -> None:
    """The action boundary: state, 3 signals consumed, 2 evidence entries, 1 outbox message."""
    async with agents.transactions.begin():
        await agents.states.save(attrs.evolve(state, current_activity="acted"))
        consumed = await agents.signals.consume(state.id, [SignalKind.USER_MESSAGE], maximum=3)
        assert len(consumed) == 3
        await agents.evidence.append_all(
            [
                new_evidence(state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "started"}),
                new_evidence(state.id, EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "completed"}),
            ]
        )
        await agents.outbox.add(new_message(f"agent.{state.id}", b"acted"))


async def snapshot(agents: AsyncSqlAgents, agent_id: str) -> tuple[int, int, int, int]:
    """(state version, pending signals, evidence entries, outbox messages) of the agent.

    Also checks that the crash left no connection checked out and no transaction open.
    Bounded in time: a leaked transaction holding the agent's locks fails the test, not hangs it.
    """
    assert not agents.transactions.in_transaction
    pool = agents.engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedout() == 0, "the crash left a connection checked out"
    async with async_time_limit(10), agents.transactions.begin(read_only=True):
        version = (await agents.states.get(agent_id)).version
        pending = await agents.signals.pending_count(agent_id)
        entries = len(await agents.evidence.list_by_agent(agent_id))
        assert (await agents.evidence.verify(agent_id)).ok
        messages = OUTBOX.messages
        outbox = await agents.transactions.connection().execute(
            select(func.count()).select_from(messages).where(messages.c.topic == f"agent.{agent_id}")
        )
        return version, pending, entries, outbox.scalar_one()


async def boundary_statements(agents: AsyncSqlAgents, hook: Hook) -> list[Sent]:
    """The statements a boundary sends, seen by ``hook`` on a boundary that runs to the end."""
    state = await prepare(agents, "probe")
    with hook.fail_at(None) as statements:
        await boundary(agents, state)
    assert await snapshot(agents, "probe") == AFTER
    hook.check_path(statements)
    assert len(statements) >= 5
    return statements


async def crash_everywhere(agents: AsyncSqlAgents, hook: Hook) -> None:
    """A crash at each statement leaves nothing of the boundary; the same boundary then completes."""
    for k in range(1, len(await boundary_statements(agents, hook)) + 1):
        agent_id = f"agent-{k}"
        state = await prepare(agents, agent_id)
        with pytest.raises(CrashError), hook.fail_at(k):
            await boundary(agents, state)
        assert await snapshot(agents, agent_id) == BEFORE, f"crash at statement {k} left part of the boundary"
        await boundary(agents, state)  # the same boundary, run again, completes
        assert await snapshot(agents, agent_id) == AFTER


async def commit_fails(agents: AsyncSqlAgents, hook: Hook) -> None:
    """The commit fails before it reaches the database: nothing of the boundary remains."""
    state = await prepare(agents, "commit-fails")
    with (
        pytest.raises(CommitError) as raised,
        fail_on(agents.engine, "commit", CrashError("crash at commit")) as commits,
        hook.fail_at(None) as statements,
    ):
        await boundary(agents, state)
    assert len(commits) == 1
    hook.check_path(statements)
    assert isinstance(raised.value.__cause__, CrashError)
    assert await snapshot(agents, "commit-fails") == BEFORE, "a failed commit left part of the boundary"
    await boundary(agents, state)  # the same boundary, run again, completes
    assert await snapshot(agents, "commit-fails") == AFTER


async def acknowledgement_lost(agents: AsyncSqlAgents, hook: Hook) -> None:
    """The database commits, the client sees an error: the whole boundary remains, once."""
    state = await prepare(agents, "ack-lost")
    with (
        pytest.raises(CommitError) as raised,
        commit_acknowledgement_lost(agents.engine) as commits,
        hook.fail_at(None) as statements,
    ):
        await boundary(agents, state)
    assert len(commits) == 1
    hook.check_path(statements)
    assert isinstance(raised.value.__cause__, CrashError)
    # The database committed: the whole boundary is there (never a part of it).
    assert await snapshot(agents, "ack-lost") == AFTER
    # A blind retry of the same boundary is refused by the version check, and changes nothing.
    with pytest.raises(VersionConflictError):
        await boundary(agents, state)
    assert await snapshot(agents, "ack-lost") == AFTER


async def hooked_postgresql(
    make_hook: type[ListenerHook | CursorHook],
) -> AsyncIterator[tuple[AsyncSqlAgents, Hook]]:
    """For a fixture: the agents on a PostgreSQL engine of their own, its hook set before its first connection."""
    async for hooked in hooked_on(POSTGRESQL_URL, make_hook):
        yield hooked


async def hooked_on(
    url: str, make_hook: type[ListenerHook | CursorHook]
) -> AsyncIterator[tuple[AsyncSqlAgents, Hook]]:
    """For a fixture: the agents on an engine of their own at ``url``, its hook set before its first connection."""
    engine: AsyncEngine = create_async_engine(DatabaseConfig(url=url))
    try:
        hook = make_hook(engine)
        async with engine.connect():  # the dialect learns the server before the stores compile for it
            pass
        yield AsyncSqlAgents(engine), hook
    finally:
        await engine.dispose()


# -- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_hook(async_sqlite_agents: AsyncSqlAgents) -> Hook:
    return ListenerHook(async_sqlite_agents.engine)


async def test_sqlite_boundary_is_all_or_nothing_at_every_statement(
    async_sqlite_agents: AsyncSqlAgents, sqlite_hook: Hook
) -> None:
    await crash_everywhere(async_sqlite_agents, sqlite_hook)


async def test_sqlite_boundary_leaves_nothing_when_the_commit_fails(
    async_sqlite_agents: AsyncSqlAgents, sqlite_hook: Hook
) -> None:
    await commit_fails(async_sqlite_agents, sqlite_hook)


async def test_sqlite_boundary_is_whole_when_the_commit_acknowledgement_is_lost(
    async_sqlite_agents: AsyncSqlAgents, sqlite_hook: Hook
) -> None:
    await acknowledgement_lost(async_sqlite_agents, sqlite_hook)


# -- PostgreSQL (psycopg) -----------------------------------------------------------------------


@pytest.fixture(params=[ListenerHook, CursorHook], ids=["sqlalchemy-listener", "psycopg-cursor"])
async def postgresql_hooked(
    request: pytest.FixtureRequest, agents_postgresql: Engine
) -> AsyncIterator[tuple[AsyncSqlAgents, Hook]]:
    """The agents with each hook: on SQLAlchemy's path, and on the driver fast path."""
    async for hooked in hooked_postgresql(request.param):
        yield hooked


@pytest.fixture
async def postgresql_fast_path(agents_postgresql: Engine) -> AsyncIterator[tuple[AsyncSqlAgents, Hook]]:
    """The agents with the psycopg cursor hook: on the driver fast path, as in production."""
    async for hooked in hooked_postgresql(CursorHook):
        yield hooked


@pytest.mark.postgresql
async def test_postgresql_boundary_is_all_or_nothing_at_every_statement(
    postgresql_hooked: tuple[AsyncSqlAgents, Hook],
) -> None:
    await crash_everywhere(*postgresql_hooked)


@pytest.mark.postgresql
async def test_postgresql_boundary_leaves_nothing_when_the_commit_fails(
    postgresql_fast_path: tuple[AsyncSqlAgents, Hook],
) -> None:
    await commit_fails(*postgresql_fast_path)


@pytest.mark.postgresql
async def test_postgresql_boundary_is_whole_when_the_commit_acknowledgement_is_lost(
    postgresql_fast_path: tuple[AsyncSqlAgents, Hook],
) -> None:
    await acknowledgement_lost(*postgresql_fast_path)


# -- MariaDB (PyMySQL, aiomysql) ----------------------------------------------------------------


@pytest.fixture
async def mariadb_hooked(agents_mariadb: Engine) -> AsyncIterator[tuple[AsyncSqlAgents, Hook]]:
    """The agents with the listener hook: MariaDB has no driver fast path, every statement goes through SQLAlchemy."""
    async for hooked in hooked_on(MARIADB_URL, ListenerHook):
        yield hooked


async def test_mariadb_boundary_is_all_or_nothing_at_every_statement(
    mariadb_hooked: tuple[AsyncSqlAgents, Hook],
) -> None:
    await crash_everywhere(*mariadb_hooked)


async def test_mariadb_boundary_leaves_nothing_when_the_commit_fails(
    mariadb_hooked: tuple[AsyncSqlAgents, Hook],
) -> None:
    await commit_fails(*mariadb_hooked)


async def test_mariadb_boundary_is_whole_when_the_commit_acknowledgement_is_lost(
    mariadb_hooked: tuple[AsyncSqlAgents, Hook],
) -> None:
    await acknowledgement_lost(*mariadb_hooked)
