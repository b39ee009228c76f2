# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The repository over SQLAlchemy Core: :class:`AsyncSqlAlchemyRepository`; see :mod:`hexalchemy.sqlalchemy.repository`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from hexalchemy.ports import ConfigError
from hexalchemy.rules import check_instance
from hexalchemy.sqlalchemy._operations import run_plan_async
from hexalchemy.sqlalchemy._repository_core import DEFAULT_COPY_THRESHOLD, RepositoryCore
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.transaction import AsyncSqlAlchemyTransactionManager

T = TypeVar("T")
K = TypeVar("K")


class AsyncSqlAlchemyRepository(Generic[T, K]):
    """A repository over SQLAlchemy Core; implements ``AsyncRepository[T, K]``.

    ``copy_threshold``: on PostgreSQL, ``save_all`` inserts at least this many new
    aggregates with COPY (``None`` turns COPY off).
    """

    def __init__(
        self,
        mapping: TableMapping[T, K],
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        copy_threshold: int | None = DEFAULT_COPY_THRESHOLD,
    ) -> None:
        self.mapping = check_instance("mapping", mapping, TableMapping, error=ConfigError)
        self.transactions = check_instance(
            "transactions", transactions, AsyncSqlAlchemyTransactionManager, error=ConfigError
        )
        self._core = RepositoryCore(mapping, transactions.core, copy_threshold)

    async def get(self, id: K, /) -> T:
        """Return the aggregate with this key; raise ``EntityNotFoundError`` if there is none."""
        return await run_plan_async(self._core.get(id))

    async def get_or_none(self, id: K, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        return await run_plan_async(self._core.get_or_none(id))

    async def contains(self, id: K, /) -> bool:
        """Return whether an aggregate with this key exists."""
        return await run_plan_async(self._core.contains(id))

    async def range(self, ids: Iterable[K], /) -> list[T]:
        """Return the aggregates with these keys in one query, in the order of ``ids``."""
        return await run_plan_async(self._core.range(ids))

    async def save(self, aggregate: T, /) -> T:
        """Insert (version 0), update (version-checked) or upsert (unversioned); return the saved aggregate."""
        return await run_plan_async(self._core.save(aggregate))

    async def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates in a constant number of round trips, all or nothing."""
        return await run_plan_async(self._core.save_all(aggregates))

    async def delete(self, aggregate: T, /) -> None:
        """Delete an aggregate, checking its version."""
        await run_plan_async(self._core.delete(aggregate))

    async def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates in a constant number of round trips, all or nothing."""
        await run_plan_async(self._core.delete_all(aggregates))
