"""What only the in-memory agent stores do (the shared behaviour is in the contract)."""

from __future__ import annotations

import asyncio

import pytest

from hexalchemy.ports import (
    AgentStatus,
    DuplicateEntityError,
    EvidenceKind,
    Signal,
    SignalKind,
    VersionConflictError,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_signal
from hexalchemy.testing import (
    AsyncInMemoryAgentStateStore,
    AsyncInMemorySignalQueue,
    AsyncInMemoryTransactionManager,
    InMemoryAgentStateStore,
    InMemoryEvidenceLog,
    InMemorySignalQueue,
    InMemoryTransactionManager,
)


class BoomError(Exception):
    pass


async def saved_agent(transactions: AsyncInMemoryTransactionManager, agent_id: str = "a") -> None:
    """Save an agent's state: signals and evidence need one."""
    async with transactions.begin():
        await AsyncInMemoryAgentStateStore(transactions).save(new_agent_state(agent_id, "t"))


def saved_agent_sync(transactions: InMemoryTransactionManager, agent_id: str = "a") -> None:
    """Save an agent's state: signals and evidence need one."""
    with transactions.begin():
        InMemoryAgentStateStore(transactions).save(new_agent_state(agent_id, "t"))


async def test_overlapping_sends_to_one_agent_conflict_at_commit() -> None:
    # Both transactions number their signal 1; the second to commit fails (SQL would wait instead).
    transactions = AsyncInMemoryTransactionManager()
    queue = AsyncInMemorySignalQueue(transactions)
    await saved_agent(transactions)
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> Signal:
        async with transactions.begin():
            sent = await queue.send(new_signal("a", SignalKind.USER_MESSAGE))
            started.set()
            await release.wait()
        return sent

    async def fast() -> Signal:
        await started.wait()
        async with transactions.begin():
            sent = await queue.send(new_signal("a", SignalKind.USER_MESSAGE))
        release.set()
        return sent

    slow_outcome, fast_outcome = await asyncio.gather(slow(), fast(), return_exceptions=True)
    assert isinstance(fast_outcome, Signal) and fast_outcome.sequence == 1
    assert isinstance(slow_outcome, DuplicateEntityError)


async def test_overlapping_consumers_conflict_at_commit() -> None:
    transactions = AsyncInMemoryTransactionManager()
    queue = AsyncInMemorySignalQueue(transactions)
    await saved_agent(transactions)
    async with transactions.begin():
        await queue.send(new_signal("a", SignalKind.USER_MESSAGE))

    started = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> list[Signal]:
        async with transactions.begin():
            got = await queue.consume("a", [SignalKind.USER_MESSAGE])
            started.set()
            await release.wait()
        return got

    async def fast() -> list[Signal]:
        await started.wait()
        async with transactions.begin():
            got = await queue.consume("a", [SignalKind.USER_MESSAGE])
        release.set()
        return got

    slow_outcome, fast_outcome = await asyncio.gather(slow(), fast(), return_exceptions=True)
    assert isinstance(fast_outcome, list) and len(fast_outcome) == 1
    assert isinstance(slow_outcome, VersionConflictError)


def test_a_rolled_back_savepoint_undoes_only_its_consume() -> None:
    transactions = InMemoryTransactionManager()
    queue = InMemorySignalQueue(transactions)
    saved_agent_sync(transactions)
    with transactions.begin():
        queue.send(new_signal("a", SignalKind.USER_MESSAGE))
        queue.send(new_signal("a", SignalKind.USER_MESSAGE))
    with transactions.begin():
        assert len(queue.consume("a", [SignalKind.USER_MESSAGE], maximum=1)) == 1
        with pytest.raises(BoomError), transactions.begin():
            assert len(queue.consume("a", [SignalKind.USER_MESSAGE], maximum=1)) == 1
            raise BoomError
    with transactions.begin(read_only=True):
        assert [s.sequence for s in queue.list_pending("a")] == [2]


def test_a_failed_commit_applies_nothing() -> None:
    transactions = InMemoryTransactionManager()
    states = InMemoryAgentStateStore(transactions)
    log = InMemoryEvidenceLog(transactions)
    with pytest.raises(Exception, match="commit"), transactions.begin():
        states.save(new_agent_state("a", "t", status=AgentStatus.ACTIVE))
        log.append(new_evidence("a", EvidenceKind.NOTE))
        transactions.fail_next_commit()
    with transactions.begin(read_only=True):
        assert states.get_or_none("a") is None
        assert log.list_by_agent("a") == []


def test_a_duplicate_evidence_id_is_refused() -> None:
    transactions = InMemoryTransactionManager()
    log = InMemoryEvidenceLog(transactions)
    saved_agent_sync(transactions)
    entry = new_evidence("a", EvidenceKind.NOTE)
    with transactions.begin():
        log.append(entry)
        with pytest.raises(DuplicateEntityError):
            log.append(entry)
