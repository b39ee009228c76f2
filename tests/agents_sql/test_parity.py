"""The sync and async SQL agent stores expose the same API, and match their ports."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from hexalchemy.ports import (
    AgentStateStore,
    AsyncAgentStateStore,
    AsyncEvidenceLog,
    AsyncSignalQueue,
    EvidenceLog,
    SignalQueue,
)
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemySignalQueue,
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemySignalQueue,
)
from tests.test_sync_async_parity import describe, function_of, kind_of, public_members

TWINS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyAgentStateStore, AsyncSqlAlchemyAgentStateStore),
    (SqlAlchemySignalQueue, AsyncSqlAlchemySignalQueue),
    (SqlAlchemyEvidenceLog, AsyncSqlAlchemyEvidenceLog),
]
IMPLEMENTS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyAgentStateStore, AgentStateStore),
    (AsyncSqlAlchemyAgentStateStore, AsyncAgentStateStore),
    (SqlAlchemySignalQueue, SignalQueue),
    (AsyncSqlAlchemySignalQueue, AsyncSignalQueue),
    (SqlAlchemyEvidenceLog, EvidenceLog),
    (AsyncSqlAlchemyEvidenceLog, AsyncEvidenceLog),
]


@pytest.mark.parametrize(("sync", "async_"), TWINS, ids=[sync.__name__ for sync, _ in TWINS])
def test_twins_have_the_same_methods_and_signatures(sync: type[Any], async_: type[Any]) -> None:
    sync_members, async_members = public_members(sync), public_members(async_)
    assert sorted(sync_members) == sorted(async_members)
    assert describe(sync.__init__) == describe(async_.__init__)
    for name, member in sync_members.items():
        if kind_of(member) != "method":
            continue
        assert describe(function_of(member)) == describe(function_of(async_members[name])), name
        assert not inspect.iscoroutinefunction(member)
        assert inspect.iscoroutinefunction(async_members[name])


@pytest.mark.parametrize(("adapter", "protocol"), IMPLEMENTS, ids=[a.__name__ for a, _ in IMPLEMENTS])
def test_adapters_have_the_signatures_of_their_port(adapter: type[Any], protocol: type[Any]) -> None:
    members = public_members(adapter)
    for name, member in public_members(protocol).items():
        assert name in members, f"{adapter.__name__} lacks {name}"
        assert describe(function_of(members[name])) == describe(function_of(member)), name
