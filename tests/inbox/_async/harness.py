# The async harnesses in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The inbox harnesses: :class:`AsyncMemoryInboxHarness` and :class:`AsyncSqlInboxHarness`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.sqlalchemy import AsyncSqlAlchemyInbox, AsyncSqlAlchemyTransactionManager
from hexalchemy.testing import AsyncInMemoryInbox, AsyncInMemoryTransactionManager
from tests.inbox.tables import ENTRIES


class AsyncMemoryInboxHarness:
    def __init__(self) -> None:
        self.transactions = AsyncInMemoryTransactionManager()

    def inbox(self, consumer: str) -> AsyncInMemoryInbox:
        return AsyncInMemoryInbox(self.transactions, consumer=consumer)


class AsyncSqlInboxHarness:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)

    def inbox(self, consumer: str) -> AsyncSqlAlchemyInbox:
        return AsyncSqlAlchemyInbox(ENTRIES, self.transactions, consumer=consumer)
