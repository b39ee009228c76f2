"""What a contract needs from the adapter under test: the harness protocols.

Implement :class:`Harness` (or :class:`AsyncHarness`) for your adapters and return it from
a ``harness`` fixture in a subclass of each contract::

    class TestMyRepository(RepositoryContract):
        @pytest.fixture
        def harness(self) -> Harness:
            return MyHarness(...)

Every test gets a fresh harness: the store must start empty (create the tables, or empty
them, in the fixture) and the harness must serve the specs of
:data:`hexalchemy.testing.contracts.domain.SPECS`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from hexalchemy.ports import (
    AsyncRepository,
    AsyncTransactionManager,
    EntitySpec,
    Repository,
    TransactionManager,
)

__all__ = ["AsyncHarness", "Harness"]

T = TypeVar("T")
K = TypeVar("K")


class Harness(Protocol):
    """The synchronous adapters under test, wired to an empty store."""

    @property
    def transactions(self) -> TransactionManager:
        """The transaction manager every repository of this harness uses."""
        ...

    def repository(self, spec: EntitySpec[T, K]) -> Repository[T, K]:
        """Return a repository of ``spec`` (one of the sample specs) on :attr:`transactions`."""
        ...

    def break_commit(self) -> None:
        """Make the commit of the open (outermost) transaction fail.

        Called inside an open transaction; the commit must then fail and roll back. The SQL
        harnesses insert a row that violates a deferred foreign key, the in-memory one calls
        ``fail_next_commit()``.
        """
        ...

    def checked_out_connections(self) -> int:
        """How many database connections are checked out of the pool now (0 without a pool)."""
        ...


class AsyncHarness(Protocol):
    """The asynchronous adapters under test, wired to an empty store (see :class:`Harness`)."""

    @property
    def transactions(self) -> AsyncTransactionManager:
        """The transaction manager every repository of this harness uses."""
        ...

    def repository(self, spec: EntitySpec[T, K]) -> AsyncRepository[T, K]:
        """Return an async repository of ``spec`` (one of the sample specs) on :attr:`transactions`."""
        ...

    async def break_commit(self) -> None:
        """Make the commit of the open (outermost) transaction fail (see :meth:`Harness.break_commit`)."""
        ...

    def checked_out_connections(self) -> int:
        """How many database connections are checked out of the pool now (0 without a pool)."""
        ...
