"""SQLAlchemy Core repositories, sync and async, driven from one shared core.

Both take a :class:`~hexalchemy.sqlalchemy.TableMapping` (from a
:class:`~hexalchemy.sqlalchemy.Schema`) and the transaction manager whose ambient
transaction they use. All logic is in :class:`~hexalchemy.sqlalchemy._repository_core.RepositoryCore`;
the methods here only drive its plans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from hexalchemy.sqlalchemy._operations import run_plan as _run
from hexalchemy.sqlalchemy._operations import run_plan_async as _run_async
from hexalchemy.sqlalchemy._repository_core import DEFAULT_COPY_THRESHOLD, RepositoryCore
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.transaction import AsyncSqlAlchemyTransactionManager, SqlAlchemyTransactionManager

__all__ = ["AsyncSqlAlchemyRepository", "SqlAlchemyRepository"]

T = TypeVar("T")
K = TypeVar("K")


class SqlAlchemyRepository(Generic[T, K]):
    """A synchronous repository over SQLAlchemy Core; implements ``Repository[T, K]``.

    ``copy_threshold``: on PostgreSQL, ``save_all`` inserts at least this many new
    aggregates with COPY (``None`` turns COPY off).
    """

    def __init__(
        self,
        mapping: TableMapping[T, K],
        transactions: SqlAlchemyTransactionManager,
        *,
        copy_threshold: int | None = DEFAULT_COPY_THRESHOLD,
    ) -> None:
        self.mapping = mapping
        self.transactions = transactions
        self._core = RepositoryCore(mapping, transactions.core, copy_threshold)

    def get(self, id: K, /) -> T:
        """Return the aggregate with this key; raise ``EntityNotFoundError`` if there is none."""
        return _run(self._core.get(id))

    def get_or_none(self, id: K, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        return _run(self._core.get_or_none(id))

    def contains(self, id: K, /) -> bool:
        """Return whether an aggregate with this key exists."""
        return _run(self._core.contains(id))

    def range(self, ids: Iterable[K], /) -> list[T]:
        """Return the aggregates with these keys in one query, in the order of ``ids``."""
        return _run(self._core.range(ids))

    def save(self, aggregate: T, /) -> T:
        """Insert (version 0), update (version-checked) or upsert (unversioned); return the saved aggregate."""
        return _run(self._core.save(aggregate))

    def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates in a constant number of round trips, all or nothing."""
        return _run(self._core.save_all(aggregates))

    def delete(self, aggregate: T, /) -> None:
        """Delete an aggregate, checking its version."""
        _run(self._core.delete(aggregate))

    def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates in a constant number of round trips, all or nothing."""
        _run(self._core.delete_all(aggregates))


class AsyncSqlAlchemyRepository(Generic[T, K]):
    """An asynchronous repository over SQLAlchemy Core; implements ``AsyncRepository[T, K]``."""

    def __init__(
        self,
        mapping: TableMapping[T, K],
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        copy_threshold: int | None = DEFAULT_COPY_THRESHOLD,
    ) -> None:
        self.mapping = mapping
        self.transactions = transactions
        self._core = RepositoryCore(mapping, transactions.core, copy_threshold)

    async def get(self, id: K, /) -> T:
        """Return the aggregate with this key; raise ``EntityNotFoundError`` if there is none."""
        return await _run_async(self._core.get(id))

    async def get_or_none(self, id: K, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        return await _run_async(self._core.get_or_none(id))

    async def contains(self, id: K, /) -> bool:
        """Return whether an aggregate with this key exists."""
        return await _run_async(self._core.contains(id))

    async def range(self, ids: Iterable[K], /) -> list[T]:
        """Return the aggregates with these keys in one query, in the order of ``ids``."""
        return await _run_async(self._core.range(ids))

    async def save(self, aggregate: T, /) -> T:
        """Insert (version 0), update (version-checked) or upsert (unversioned); return the saved aggregate."""
        return await _run_async(self._core.save(aggregate))

    async def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates in a constant number of round trips, all or nothing."""
        return await _run_async(self._core.save_all(aggregates))

    async def delete(self, aggregate: T, /) -> None:
        """Delete an aggregate, checking its version."""
        await _run_async(self._core.delete(aggregate))

    async def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates in a constant number of round trips, all or nothing."""
        await _run_async(self._core.delete_all(aggregates))
