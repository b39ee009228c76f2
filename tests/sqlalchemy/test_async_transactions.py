"""The async manager's outermost transaction runs inside SQLAlchemy's greenlet bridge, on PostgreSQL.

It opens (connect, options, begin) in one crossing of the bridge and closes (commit or
roll back, close) in another; the transaction still hands out an ``AsyncConnection``, and
a cancellation while the bridge waits leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

import hexalchemy.sqlalchemy.transaction as transaction_module
from hexalchemy.sqlalchemy import AsyncSqlAlchemyTransactionManager, DatabaseConfig, create_async_engine
from tests.postgresql import POSTGRESQL_URL, unreachable_message, without_postgresql


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(DatabaseConfig(url=POSTGRESQL_URL, pool_size=1, max_overflow=0))
    try:
        async with engine.connect():
            pass
    except Exception as exc:
        await engine.dispose()
        without_postgresql(unreachable_message(exc))
    yield engine
    await engine.dispose()


def checked_out(engine: AsyncEngine) -> int:
    pool: Any = engine.sync_engine.pool
    count: int = pool.checkedout()
    return count


async def test_the_outermost_transaction_crosses_the_bridge_once_to_open_and_once_to_close(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    crossings: list[str] = []

    async def counting(function: Callable[..., Any], *arguments: Any, **options: Any) -> Any:
        crossings.append(getattr(function, "__name__", repr(function)))
        return await greenlet_spawn(function, *arguments, **options)

    monkeypatch.setattr(transaction_module, "greenlet_spawn", counting)
    transactions = AsyncSqlAlchemyTransactionManager(engine)
    async with transactions.begin():
        connection = transactions.connection()
        assert isinstance(connection, AsyncConnection)
        assert connection.in_transaction()
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
        async with transactions.begin():  # a savepoint: driven awaiting each step
            assert connection.in_nested_transaction()
    assert crossings == ["drive", "drive"]
    assert not transactions.in_transaction
    assert checked_out(engine) == 0


async def test_a_rollback_also_closes_in_one_crossing(engine: AsyncEngine) -> None:
    transactions = AsyncSqlAlchemyTransactionManager(engine)
    with pytest.raises(LookupError):
        async with transactions.begin():
            await transactions.connection().execute(text("SELECT 1"))
            raise LookupError("the body failed")
    assert not transactions.in_transaction
    assert checked_out(engine) == 0


async def test_a_task_cancelled_while_it_waits_for_a_connection_leaves_nothing(engine: AsyncEngine) -> None:
    transactions = AsyncSqlAlchemyTransactionManager(engine)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_only_connection() -> None:
        async with transactions.begin():
            await transactions.connection().execute(text("SELECT 1"))
            holding.set()
            await release.wait()

    async def wait_for_a_connection() -> None:
        async with transactions.begin():  # pragma: no cover - cancelled in the pool's queue
            raise AssertionError("the pool has no connection to give")

    holder = asyncio.create_task(hold_the_only_connection())
    await holding.wait()
    waiter = asyncio.create_task(wait_for_a_connection())
    await asyncio.sleep(0.05)  # the waiter is inside the bridge, in the pool's queue
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    assert checked_out(engine) == 0
    async with transactions.begin():  # the pool's one connection is usable
        assert (await transactions.connection().execute(text("SELECT 2"))).scalar_one() == 2
