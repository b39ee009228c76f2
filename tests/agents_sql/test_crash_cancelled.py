"""Cancelled at every statement: an async action boundary is committed whole or not at all.

What only async code meets: ``asyncio.CancelledError`` (a ``BaseException``: a timeout or a
shutdown). The boundary and its checks are those of ``_async/test_crash.py``; afterwards the
database holds either the whole boundary or none of it, and no connection is left checked out:

- ``CancelledError`` is raised at the k-th statement the boundary's code sends, for every k,
  by the hooks of ``tests/agents_sql/crashing.py`` (a ``before_cursor_execute`` listener,
  and on PostgreSQL the psycopg ``AsyncCursor`` of the driver fast path), on SQLite,
  PostgreSQL and MariaDB (aiomysql);
- the task is cancelled while the manager itself begins or commits the transaction: the
  connection is rolled back and closed, nothing of the boundary remains.

The crashes both sync and async code meet are in ``_async/test_crash.py`` and its generated
sync twin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine

from tests.agents_sql._async.harness import AsyncSqlAgents
from tests.agents_sql._async.test_crash import (
    AFTER,
    BEFORE,
    boundary,
    boundary_statements,
    hooked_on,
    hooked_postgresql,
    prepare,
    snapshot,
)
from tests.agents_sql.crashing import CursorHook, Hook, ListenerHook, fail_on
from tests.mariadb import MARIADB_URL


async def cancel_everywhere(agents: AsyncSqlAgents, hook: Hook) -> None:
    """CancelledError at each statement of the boundary's code (SQLite's BEGIN is the manager's)."""
    statements = await boundary_statements(agents, hook)
    ks = [k for k, statement in enumerate(statements, 1) if not statement.sql.startswith("BEGIN")]
    assert len(ks) >= 5
    for k in ks:
        agent_id = f"cancelled-{k}"
        state = await prepare(agents, agent_id)
        with pytest.raises(asyncio.CancelledError), hook.fail_at(k, asyncio.CancelledError):
            await boundary(agents, state)
        assert await snapshot(agents, agent_id) == BEFORE, (
            f"cancellation at statement {k} left part of the boundary"
        )
        await boundary(agents, state)  # the same boundary, run again, completes
        assert await snapshot(agents, agent_id) == AFTER


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


async def test_sqlite_boundary_is_all_or_nothing_when_cancelled_at_every_statement(
    async_sqlite_agents: AsyncSqlAgents,
) -> None:
    await cancel_everywhere(async_sqlite_agents, ListenerHook(async_sqlite_agents.engine))


@pytest.mark.parametrize("name", ["begin", "commit"])
async def test_sqlite_boundary_leaves_nothing_when_cancelled_in_the_manager(
    async_sqlite_agents: AsyncSqlAgents, name: str
) -> None:
    await cancelled_in_the_manager(async_sqlite_agents, name)


# -- PostgreSQL (psycopg async) -----------------------------------------------------------------


@pytest.fixture(params=[ListenerHook, CursorHook], ids=["sqlalchemy-listener", "psycopg-cursor"])
async def postgresql_hooked(
    request: pytest.FixtureRequest, agents_postgresql: Engine
) -> AsyncIterator[tuple[AsyncSqlAgents, Hook]]:
    """The agents with each hook: on SQLAlchemy's path, and on the driver fast path."""
    async for hooked in hooked_postgresql(request.param):
        yield hooked


@pytest.mark.postgresql
async def test_postgresql_boundary_is_all_or_nothing_when_cancelled_at_every_statement(
    postgresql_hooked: tuple[AsyncSqlAgents, Hook],
) -> None:
    await cancel_everywhere(*postgresql_hooked)


@pytest.mark.postgresql
@pytest.mark.parametrize("name", ["begin", "commit"])
async def test_postgresql_boundary_leaves_nothing_when_cancelled_in_the_manager(
    async_postgresql_agents: AsyncSqlAgents, name: str
) -> None:
    await cancelled_in_the_manager(async_postgresql_agents, name)


# -- MariaDB (aiomysql) -------------------------------------------------------------------------


async def test_mariadb_boundary_is_all_or_nothing_when_cancelled_at_every_statement(
    agents_mariadb: Engine,
) -> None:
    async for agents, hook in hooked_on(MARIADB_URL, ListenerHook):
        await cancel_everywhere(agents, hook)


@pytest.mark.parametrize("name", ["begin", "commit"])
async def test_mariadb_boundary_leaves_nothing_when_cancelled_in_the_manager(
    async_mariadb_agents: AsyncSqlAgents, name: str
) -> None:
    await cancelled_in_the_manager(async_mariadb_agents, name)
