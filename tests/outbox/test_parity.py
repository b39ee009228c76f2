"""The outbox twins: sync and async classes have the same API, and every adapter matches its port."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import (
    AsyncLeasedDelivery,
    AsyncLockedDelivery,
    AsyncOutboxAdmin,
    AsyncOutboxDelivery,
    AsyncOutboxRelayStore,
    AsyncOutboxWriter,
    LeasedDelivery,
    LockedDelivery,
    OutboxAdmin,
    OutboxDelivery,
    OutboxRelayStore,
    OutboxWriter,
)
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyTransactionManager,
    OutboxTables,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    SqlAlchemyTransactionManager,
)
from hexalchemy.testing import (
    AsyncInMemoryOutboxRelayStore,
    AsyncInMemoryOutboxWriter,
    AsyncInMemoryTransactionManager,
    InMemoryOutboxRelayStore,
    InMemoryOutboxWriter,
    InMemoryTransactionManager,
)
from tests.test_sync_async_parity import describe, function_of, kind_of, public_members

TWINS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyOutboxWriter, AsyncSqlAlchemyOutboxWriter),
    (SqlAlchemyOutboxRelayStore, AsyncSqlAlchemyOutboxRelayStore),
    (InMemoryOutboxWriter, AsyncInMemoryOutboxWriter),
    (InMemoryOutboxRelayStore, AsyncInMemoryOutboxRelayStore),
    (OutboxWriter, AsyncOutboxWriter),
    (LeasedDelivery, AsyncLeasedDelivery),
    (LockedDelivery, AsyncLockedDelivery),
    (OutboxAdmin, AsyncOutboxAdmin),
    (OutboxDelivery, AsyncOutboxDelivery),
    (OutboxRelayStore, AsyncOutboxRelayStore),
]

IMPLEMENTS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyOutboxWriter, OutboxWriter),
    (AsyncSqlAlchemyOutboxWriter, AsyncOutboxWriter),
    (InMemoryOutboxWriter, OutboxWriter),
    (AsyncInMemoryOutboxWriter, AsyncOutboxWriter),
    (SqlAlchemyOutboxRelayStore, OutboxRelayStore),
    (AsyncSqlAlchemyOutboxRelayStore, AsyncOutboxRelayStore),
    (InMemoryOutboxRelayStore, OutboxRelayStore),
    (AsyncInMemoryOutboxRelayStore, AsyncOutboxRelayStore),
]


@pytest.mark.parametrize(("sync", "async_"), TWINS, ids=[sync.__name__ for sync, _ in TWINS])
def test_twins_have_the_same_members_and_signatures(sync: type[Any], async_: type[Any]) -> None:
    sync_members, async_members = public_members(sync), public_members(async_)
    assert sorted(sync_members) == sorted(async_members)
    for name, member in sync_members.items():
        assert kind_of(member) == kind_of(async_members[name]), name
        assert describe(function_of(member)) == describe(function_of(async_members[name])), name
        if kind_of(member) == "method" and name != "messages":
            assert not inspect.iscoroutinefunction(member), name
            assert inspect.iscoroutinefunction(async_members[name]), name
    if "__init__" in vars(sync):
        assert describe(sync.__init__) == describe(async_.__init__)


@pytest.mark.parametrize(("adapter", "port"), IMPLEMENTS, ids=[adapter.__name__ for adapter, _ in IMPLEMENTS])
def test_adapters_match_their_port(adapter: type[Any], port: type[Any]) -> None:
    adapter_members = public_members(adapter)
    for name, member in public_members(port).items():
        implementation = adapter_members[name]
        assert describe(function_of(implementation)) == describe(function_of(member)), name
        assert inspect.iscoroutinefunction(implementation) == inspect.iscoroutinefunction(member), name


def _static_checks(
    tables: OutboxTables,
    engine: Engine,
    async_engine: AsyncEngine,
    memory: InMemoryTransactionManager,
    async_memory: AsyncInMemoryTransactionManager,
) -> list[object]:
    """Never called: mypy checks here that every adapter implements its port."""
    sync = SqlAlchemyTransactionManager(engine)
    async_ = AsyncSqlAlchemyTransactionManager(async_engine)
    writers: list[OutboxWriter] = [SqlAlchemyOutboxWriter(tables, sync), InMemoryOutboxWriter(memory)]
    async_writers: list[AsyncOutboxWriter] = [
        AsyncSqlAlchemyOutboxWriter(tables, async_),
        AsyncInMemoryOutboxWriter(async_memory),
    ]
    stores: list[OutboxRelayStore] = [
        SqlAlchemyOutboxRelayStore(tables, engine),
        SqlAlchemyOutboxRelayStore(tables, sync),
        InMemoryOutboxRelayStore(memory),
    ]
    async_stores: list[AsyncOutboxRelayStore] = [
        AsyncSqlAlchemyOutboxRelayStore(tables, async_engine),
        AsyncSqlAlchemyOutboxRelayStore(tables, async_),
        AsyncInMemoryOutboxRelayStore(async_memory),
    ]
    return [*writers, *async_writers, *stores, *async_stores]
