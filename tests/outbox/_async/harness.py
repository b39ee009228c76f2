# The async harnesses in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The outbox harnesses: :class:`AsyncMemoryHarness` (a fake clock), :class:`AsyncSqlHarness` (time passes by sleeping).

Every harness is wired as the contract asks (``hexalchemy.testing.contracts.outbox``): a
writer with ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES`` and a relay store with the
contract's policy, built on the transaction manager.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.rules import OutboxPolicy
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyTransactionManager,
)
from hexalchemy.testing import (
    AsyncInMemoryOutboxRelayStore,
    AsyncInMemoryOutboxWriter,
    AsyncInMemoryTransactionManager,
)
from hexalchemy.testing.contracts.outbox import CONTRACT_MAX_PAYLOAD_BYTES
from tests.clock import FakeClock
from tests.outbox.tables import POLICY, TABLES


class AsyncMemoryHarness:
    def __init__(self, policy: OutboxPolicy = POLICY) -> None:
        self.clock = FakeClock()
        self.transactions = AsyncInMemoryTransactionManager()
        self.writer = AsyncInMemoryOutboxWriter(
            self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES
        )
        self.relay = AsyncInMemoryOutboxRelayStore(self.transactions, policy=policy, clock=self.clock)

    async def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)


class AsyncSqlHarness:
    def __init__(self, engine: AsyncEngine, policy: OutboxPolicy = POLICY) -> None:
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self.writer = AsyncSqlAlchemyOutboxWriter(
            TABLES, self.transactions, max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES
        )
        self.relay = AsyncSqlAlchemyOutboxRelayStore(TABLES, self.transactions, policy=policy)

    async def advance(self, delta: dt.timedelta) -> None:
        await asyncio.sleep(delta.total_seconds())
