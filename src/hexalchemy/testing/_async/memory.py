# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The in-memory transaction manager and repository: :class:`AsyncInMemoryTransactionManager`, :class:`AsyncInMemoryRepository`; see :mod:`hexalchemy.testing.memory`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, TypeVar

from hexalchemy.ports import AsyncStream, Condition, EntitySpec, IsolationLevel, Page, Query
from hexalchemy.rules import ValueRule, check_begin
from hexalchemy.testing._memory_core import Block, RepositoryCore, core_of, core_per_task

T = TypeVar("T")
K = TypeVar("K")


class _AsyncBlock(AbstractAsyncContextManager[None]):
    __slots__ = ("_block",)

    def __init__(self, block: Block) -> None:
        self._block = block

    async def __aenter__(self) -> None:
        self._block.enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._block.exit(exc_type is not None)


class AsyncInMemoryTransactionManager:
    """A transaction manager over an in-memory store (for tests).

    Implements :class:`~hexalchemy.ports.AsyncTransactionManager`. One manager serves many
    callers at once, each with a transaction of its own: the asyncio task of an async
    manager, the thread of a sync one. Commits are serializable: first committer wins, a
    conflicting commit applies nothing.
    """

    def __init__(self) -> None:
        self._core = core_per_task()

    def begin(
        self, *, read_only: bool = False, isolation_level: IsolationLevel | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Open a transaction, or a savepoint when the caller (task or thread) is in one already."""
        read_only, isolation_level = check_begin(read_only, isolation_level)
        return _AsyncBlock(Block(self._core, read_only, isolation_level))

    @property
    def in_transaction(self) -> bool:
        """Whether the caller (task or thread) is inside a transaction of this manager."""
        return self._core.in_transaction()

    def fail_next_commit(self, error: Exception | None = None) -> None:
        """Make the next outermost commit fail with ``CommitError`` (chained from ``error``).

        Nothing of that transaction is applied. Without ``error`` the cause is a ``RuntimeError``.
        """
        self._core.fail_next_commit(error)


class AsyncInMemoryRepository(Generic[T, K]):
    """A repository of aggregates ``T`` keyed by ``K``, kept in memory.

    Implements :class:`~hexalchemy.ports.AsyncRepository`, :class:`~hexalchemy.ports.AsyncFinder`,
    :class:`~hexalchemy.ports.AsyncLister` and :class:`~hexalchemy.ports.AsyncBulkDeleter`; works inside the ambient transaction of
    ``transactions`` and stores and returns deep copies.

    ``types`` gives the rules of the types a SQL schema registers (pass
    ``schema.type_rules``), so a field of such a type is refused and read back as the SQL
    repository refuses and reads it back; without it such a value is stored as given.
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        spec: EntitySpec[T, K],
        transactions: AsyncInMemoryTransactionManager,
        *,
        types: Mapping[object, ValueRule] | None = None,
    ) -> None:
        self._core = RepositoryCore(spec, core_of(transactions, AsyncInMemoryTransactionManager), types)

    async def get(self, id: K, /) -> T:
        """Return the aggregate with this key; raise ``EntityNotFoundError`` if there is none."""
        return self._core.get(id)

    async def get_or_none(self, id: K, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        return self._core.get_or_none(id)

    async def contains(self, id: K, /) -> bool:
        """Return whether an aggregate with this key exists."""
        return self._core.contains(id)

    async def range(self, ids: Iterable[K], /) -> list[T]:
        """Return the aggregates with these keys in the order of ``ids``, leaving out missing ones."""
        return self._core.range(ids)

    async def save(self, aggregate: T, /) -> T:
        """Insert or update an aggregate; return it with its new version."""
        return self._core.save(aggregate)

    async def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates, all or nothing; return them in order with their new versions."""
        return self._core.save_all(aggregates)

    async def delete(self, aggregate: T, /) -> None:
        """Delete an aggregate, checking its version; ``EntityNotFoundError`` if it is gone."""
        self._core.delete(aggregate)

    async def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates, all or nothing."""
        self._core.delete_all(aggregates)

    # -- queries ------------------------------------------------------------------------------

    async def find(self, query: Query[T], /, *, limit: int | None = None) -> list[T]:
        """The aggregates matching ``query``, in its order (at most ``limit`` of them)."""
        return self._core.find(query, limit)

    async def first(self, query: Query[T], /) -> T | None:
        """The first aggregate matching ``query`` in its order, or None."""
        return self._core.first(query)

    async def count(self, query: Query[T], /) -> int:
        """How many aggregates match ``query``."""
        return self._core.count(query)

    async def exists(self, query: Query[T], /) -> bool:
        """Whether an aggregate matches ``query``."""
        return self._core.exists(query)

    async def page(self, query: Query[T], /, *, size: int, after: str | None = None) -> Page[T]:
        """The next ``size`` aggregates matching ``query`` after the cursor ``after``."""
        return self._core.page(query, size, after)

    def stream(self, query: Query[T], /, *, chunk_size: int = 1000) -> AsyncStream[T]:
        """Every aggregate matching ``query`` at the call, in its order, copied ``chunk_size`` at a time."""
        return self._stream(self._core.stream_chunks(query, chunk_size))

    async def _stream(self, chunks: list[list[T]]) -> AsyncGenerator[T, None]:
        for chunk in chunks:
            for aggregate in self._core.copies(chunk):
                yield aggregate

    async def delete_where(self, condition: Condition[T], /) -> int:
        """Delete every aggregate matching ``condition``, whatever its version; return how many."""
        return self._core.delete_where(condition)
