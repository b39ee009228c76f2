"""In-memory harnesses for the agent-store contract, sync and async, on a fake clock."""

from __future__ import annotations

import datetime as dt

from hexalchemy.testing import (
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemorySignalQueue,
    AsyncInMemoryTransactionManager,
    InMemoryAgentStateStore,
    InMemoryEvidenceLog,
    InMemorySignalQueue,
    InMemoryTransactionManager,
    Tamper,
)


class FakeClock:
    """The wall clock plus an offset that tests move forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


class MemoryAgentHarness:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.transactions = InMemoryTransactionManager()
        self.states = InMemoryAgentStateStore(self.transactions, clock=self.clock)
        self.signals = InMemorySignalQueue(self.transactions, clock=self.clock)
        self.evidence = InMemoryEvidenceLog(self.transactions)

    def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)

    def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        self.evidence.tamper(agent_id, sequence, how)


class AsyncMemoryAgentHarness:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.transactions = AsyncInMemoryTransactionManager()
        self.states = AsyncInMemoryAgentStateStore(self.transactions, clock=self.clock)
        self.signals = AsyncInMemorySignalQueue(self.transactions, clock=self.clock)
        self.evidence = AsyncInMemoryEvidenceLog(self.transactions)

    async def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)

    async def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        self.evidence.tamper(agent_id, sequence, how)
