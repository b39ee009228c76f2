# The async harnesses in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The in-memory harness of the agent-store contract, on a fake clock: :class:`AsyncMemoryAgentHarness`."""

from __future__ import annotations

import datetime as dt

from hexalchemy.testing import (
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemorySignalQueue,
    AsyncInMemoryTransactionManager,
    Tamper,
)
from tests.clock import FakeClock


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
