# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The repository over SQLAlchemy Core: :class:`AsyncSqlAlchemyRepository`; see :mod:`hexalchemy.sqlalchemy.repository`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import Any, Generic, TypeVar

from hexalchemy.ports import AsyncStream, Condition, ConfigError, Page, Query
from hexalchemy.rules import check_instance
from hexalchemy.sqlalchemy._errors import translate_error
from hexalchemy.sqlalchemy._operations import run_plan_async
from hexalchemy.sqlalchemy._query_core import QueryCore, run_query_async, stream_rows_async
from hexalchemy.sqlalchemy._repository_core import DEFAULT_COPY_THRESHOLD, RepositoryCore
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.transaction import AsyncSqlAlchemyTransactionManager

T = TypeVar("T")
K = TypeVar("K")


class AsyncSqlAlchemyRepository(Generic[T, K]):
    """A repository over SQLAlchemy Core; implements ``AsyncRepository[T, K]``, ``AsyncFinder[T]``, ``AsyncLister[T]`` and ``AsyncBulkDeleter[T]``.

    ``copy_threshold``: on PostgreSQL, ``save_all`` inserts at least this many new
    aggregates with COPY, on MariaDB with the driver's multi-row ``INSERT`` (``None`` turns
    the bulk path off).
    """

    def __init__(
        self,
        mapping: TableMapping[T, K],
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        copy_threshold: int | None = DEFAULT_COPY_THRESHOLD,
    ) -> None:
        check_instance("mapping", mapping, TableMapping, error=ConfigError)
        self.mapping = mapping
        self.transactions = check_instance(
            "transactions", transactions, AsyncSqlAlchemyTransactionManager, error=ConfigError
        )
        self._core = RepositoryCore(mapping, transactions.core, copy_threshold)
        self._query_core: QueryCore[T, K] | None = None

    @property
    def _queries(self) -> QueryCore[T, K]:
        """The query statements and plans, built at the first query."""
        if self._query_core is None:
            self._query_core = QueryCore(self.mapping, self.transactions.core)
        return self._query_core

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

    # -- queries ------------------------------------------------------------------------------

    async def find(self, query: Query[T], /, *, limit: int | None = None) -> list[T]:
        """The aggregates matching ``query``, in its order (at most ``limit`` of them)."""
        return await run_query_async(self._queries.find(query, limit))

    async def first(self, query: Query[T], /) -> T | None:
        """The first aggregate matching ``query`` in its order, or None."""
        return await run_query_async(self._queries.first(query))

    async def count(self, query: Query[T], /) -> int:
        """How many aggregates match ``query``."""
        return await run_query_async(self._queries.count(query))

    async def exists(self, query: Query[T], /) -> bool:
        """Whether an aggregate matches ``query``."""
        return await run_query_async(self._queries.exists(query))

    async def page(self, query: Query[T], /, *, size: int, after: str | None = None) -> Page[T]:
        """The next ``size`` aggregates matching ``query`` after the cursor ``after``."""
        return await run_query_async(self._queries.page(query, size, after))

    def stream(self, query: Query[T], /, *, chunk_size: int = 1000) -> AsyncStream[T]:
        """Every aggregate matching ``query``, in its order, fetched ``chunk_size`` rows at a time.

        The query and the transaction are checked at the call; the rows are read as the
        iterator is consumed. On PostgreSQL they come through a server-side cursor of the
        transaction, so memory stays bounded by the chunk; consume the stream inside that
        transaction.
        """
        state, statement, parameters, chunk_size = self._queries.stream_statement(query, chunk_size)
        return self._stream(state, statement, parameters, chunk_size)

    async def _stream(
        self, state: Any, statement: Any, parameters: dict[str, Any], chunk_size: int
    ) -> AsyncGenerator[T, None]:
        read = self._queries.read
        try:
            result = await stream_rows_async(state, statement, parameters, chunk_size)
        except Exception as exc:
            raise translate_error(exc) from exc
        try:
            async for rows in result.partitions():
                for row in rows:
                    yield read(row)
        except Exception as exc:
            translated = translate_error(exc)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            await result.close()

    async def delete_where(self, condition: Condition[T], /) -> int:
        """Delete every aggregate matching ``condition``, whatever its version; return how many."""
        return await run_plan_async(self._queries.delete_where(condition))
