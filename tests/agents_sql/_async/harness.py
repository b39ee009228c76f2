# The async harnesses in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The SQL agent stores and an outbox writer on one transaction manager, on a fake clock: :class:`AsyncSqlAgents`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.sqlalchemy import AsyncSqlAlchemyOutboxWriter, AsyncSqlAlchemyTransactionManager
from hexalchemy.sqlalchemy.agents import (
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemySignalQueue,
)
from hexalchemy.testing import Tamper
from tests.agents_sql.tables import OUTBOX, TABLES, tamper_async
from tests.clock import FakeClock


class AsyncSqlAgents:
    """The SQL agent stores and an outbox writer on one transaction manager, on a fake clock."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self.states = AsyncSqlAlchemyAgentStateStore(TABLES, self.transactions, clock=self.clock)
        self.signals = AsyncSqlAlchemySignalQueue(TABLES, self.transactions, clock=self.clock)
        self.evidence = AsyncSqlAlchemyEvidenceLog(TABLES, self.transactions)
        self.outbox = AsyncSqlAlchemyOutboxWriter(OUTBOX, self.transactions)

    async def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)

    async def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        await tamper_async(self.engine, agent_id, sequence, how)
