"""The sync and async agent ports and in-memory stores stay twins, and the stores implement the ports."""

from __future__ import annotations

from typing import Any

import pytest

from hexalchemy.ports import (
    AgentLeases,
    AgentListing,
    AgentStates,
    AgentStateStore,
    AsyncAgentLeases,
    AsyncAgentListing,
    AsyncAgentStates,
    AsyncAgentStateStore,
    AsyncEvidenceLog,
    AsyncEvidenceReader,
    AsyncEvidenceWriter,
    AsyncSignalQueue,
    EvidenceLog,
    EvidenceReader,
    EvidenceWriter,
    SignalQueue,
)
from hexalchemy.testing import (
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemorySignalQueue,
    AsyncInMemoryTransactionManager,
    InMemoryAgentStateStore,
    InMemoryEvidenceLog,
    InMemorySignalQueue,
    InMemoryTransactionManager,
)
from tests.test_sync_async_parity import describe, function_of, kind_of, public_members

TWINS: list[tuple[type[Any], type[Any]]] = [
    (AgentStates, AsyncAgentStates),
    (AgentListing, AsyncAgentListing),
    (AgentLeases, AsyncAgentLeases),
    (EvidenceWriter, AsyncEvidenceWriter),
    (EvidenceReader, AsyncEvidenceReader),
    (AgentStateStore, AsyncAgentStateStore),
    (SignalQueue, AsyncSignalQueue),
    (EvidenceLog, AsyncEvidenceLog),
    (InMemoryAgentStateStore, AsyncInMemoryAgentStateStore),
    (InMemorySignalQueue, AsyncInMemorySignalQueue),
    (InMemoryEvidenceLog, AsyncInMemoryEvidenceLog),
]
IDS = [sync.__name__ for sync, _ in TWINS]


@pytest.mark.parametrize(("sync", "async_"), TWINS, ids=IDS)
def test_twins_have_the_same_members_and_signatures(sync: type[Any], async_: type[Any]) -> None:
    sync_members = public_members(sync)
    async_members = public_members(async_)
    assert sorted(sync_members) == sorted(async_members)
    for name, member in sync_members.items():
        assert kind_of(member) == kind_of(async_members[name]), f"{sync.__name__}.{name}"
        assert describe(function_of(member)) == describe(function_of(async_members[name])), name


@pytest.mark.parametrize(
    ("adapter", "port"),
    [
        (InMemoryAgentStateStore, AgentStateStore),
        (InMemorySignalQueue, SignalQueue),
        (InMemoryEvidenceLog, EvidenceLog),
        (AsyncInMemoryAgentStateStore, AsyncAgentStateStore),
        (AsyncInMemorySignalQueue, AsyncSignalQueue),
        (AsyncInMemoryEvidenceLog, AsyncEvidenceLog),
    ],
)
def test_the_stores_have_the_signatures_of_their_ports(adapter: type[Any], port: type[Any]) -> None:
    for name, member in public_members(port).items():
        assert describe(function_of(member)) == describe(function_of(getattr(adapter, name))), name


def test_the_stores_implement_the_ports_statically() -> None:
    transactions = InMemoryTransactionManager()
    async_transactions = AsyncInMemoryTransactionManager()
    states: AgentStateStore = InMemoryAgentStateStore(transactions)
    signals: SignalQueue = InMemorySignalQueue(transactions)
    evidence: EvidenceLog = InMemoryEvidenceLog(transactions)
    async_states: AsyncAgentStateStore = AsyncInMemoryAgentStateStore(async_transactions)
    async_signals: AsyncSignalQueue = AsyncInMemorySignalQueue(async_transactions)
    async_evidence: AsyncEvidenceLog = AsyncInMemoryEvidenceLog(async_transactions)
    assert all((states, signals, evidence, async_states, async_signals, async_evidence))
