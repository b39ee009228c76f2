"""An interrupt (``KeyboardInterrupt``, a cancelled task) inside BEGIN or COMMIT leaks nothing.

The transaction plan is given the interrupt like any other error: it rolls back, closes
its connection (back to the pool, with no transaction open) and lets the interrupt go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event, text

from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    SqlAlchemyTransactionManager,
    create_async_engine,
    create_engine,
)


class Interrupt(BaseException):
    """Stands for ``KeyboardInterrupt`` (which pytest itself would act on)."""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "interrupts.db"
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{path}"))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    engine.dispose()
    yield str(path)


def interrupt_on(engine: sqlalchemy.Engine, name: str) -> None:
    def raise_once(*_args: Any) -> None:
        event.remove(engine, name, raise_once)
        raise Interrupt(name)

    event.listen(engine, name, raise_once)


def count(engine: sqlalchemy.Engine) -> int:
    with engine.connect() as connection:
        value: int = connection.execute(text("SELECT count(*) FROM t")).scalar_one()
    return value


@pytest.mark.parametrize("name", ["begin", "commit"])
def test_an_interrupt_in_begin_or_commit_rolls_back_and_frees_the_connection(
    database: str, name: str
) -> None:
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{database}"))
    transactions = SqlAlchemyTransactionManager(engine)
    interrupt_on(engine, name)
    with pytest.raises(Interrupt), transactions.begin():
        transactions.connection().execute(text("INSERT INTO t VALUES (1)"))
    assert not transactions.in_transaction
    pool: Any = engine.pool
    assert pool.checkedout() == 0
    with transactions.begin():  # the write lock is free: the interrupted transaction is gone
        transactions.connection().execute(text("INSERT INTO t VALUES (2)"))
    assert count(engine) == 1
    engine.dispose()


@pytest.mark.parametrize("name", ["begin", "commit"])
async def test_a_cancellation_in_begin_or_commit_rolls_back_and_frees_the_connection(
    database: str, name: str
) -> None:
    engine = create_async_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{database}"))
    transactions = AsyncSqlAlchemyTransactionManager(engine)

    def cancel_once(*_args: Any) -> None:
        event.remove(engine.sync_engine, name, cancel_once)
        raise asyncio.CancelledError(name)

    event.listen(engine.sync_engine, name, cancel_once)
    with pytest.raises(asyncio.CancelledError):
        async with transactions.begin():
            await transactions.connection().execute(text("INSERT INTO t VALUES (1)"))
    assert not transactions.in_transaction
    pool: Any = engine.sync_engine.pool
    assert pool.checkedout() == 0
    async with transactions.begin():
        await transactions.connection().execute(text("INSERT INTO t VALUES (2)"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    await engine.dispose()
