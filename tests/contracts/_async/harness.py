# The async harnesses in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The contract harnesses on hexalchemy's own adapters: :class:`AsyncMemoryHarness`, :class:`AsyncSqlHarness`."""

from __future__ import annotations

import itertools
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import AsyncSqlAlchemyRepository, AsyncSqlAlchemyTransactionManager
from hexalchemy.testing import AsyncInMemoryRepository, AsyncInMemoryTransactionManager
from tests.contracts.schema import COMMIT_BREAKER, checked_out, mapping_of

T = TypeVar("T")
K = TypeVar("K")


class AsyncMemoryHarness:
    """The in-memory adapters on a fresh store."""

    def __init__(self) -> None:
        self.transactions = AsyncInMemoryTransactionManager()

    def repository(self, spec: EntitySpec[T, K]) -> AsyncInMemoryRepository[T, K]:
        return AsyncInMemoryRepository(spec, self.transactions)

    async def break_commit(self) -> None:
        self.transactions.fail_next_commit()

    def checked_out_connections(self) -> int:
        return 0


class AsyncSqlHarness:
    """The SQLAlchemy adapters on an engine whose tables exist and are empty."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self._orphans = itertools.count(1)

    def repository(self, spec: EntitySpec[T, K]) -> AsyncSqlAlchemyRepository[T, K]:
        return AsyncSqlAlchemyRepository(mapping_of(spec), self.transactions)

    async def break_commit(self) -> None:
        orphan = COMMIT_BREAKER.insert().values(id=next(self._orphans), parent=-1)
        await self.transactions.connection().execute(orphan)

    def checked_out_connections(self) -> int:
        return checked_out(self.engine.pool)
