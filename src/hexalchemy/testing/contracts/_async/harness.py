# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The harness of the repository, transaction, concurrency, round-trip and value contracts: :class:`AsyncHarness`, and :func:`seed_async`; the query contract's :class:`AsyncQueryHarness`."""

from __future__ import annotations

from typing import Protocol, TypeVar

from hexalchemy.ports import (
    AsyncBulkDeleter,
    AsyncFinder,
    AsyncLister,
    AsyncRepository,
    AsyncTransactionManager,
    EntitySpec,
)
from hexalchemy.testing.contracts.domain import ACCOUNTS, Account

T = TypeVar("T")
K = TypeVar("K")
K_contra = TypeVar("K_contra", contravariant=True)


class AsyncHarness(Protocol):
    """The adapters under test, wired to an empty store: a transaction manager (:class:`AsyncTransactionManager`) and its repositories."""

    @property
    def transactions(self) -> AsyncTransactionManager:
        """The transaction manager every repository of this harness uses."""
        ...

    def repository(self, spec: EntitySpec[T, K]) -> AsyncRepository[T, K]:
        """Return a repository of ``spec`` (one of the sample specs) on :attr:`transactions`."""
        ...

    async def break_commit(self) -> None:
        """Make the commit of the open (outermost) transaction fail.

        Called inside an open transaction; the commit must then fail and roll back. The SQL
        harnesses insert a row that violates a deferred foreign key, the in-memory one calls
        ``fail_next_commit()``.
        """
        ...

    def checked_out_connections(self) -> int:
        """How many database connections are checked out of the pool now (0 without a pool)."""
        ...


async def seed_async(harness: AsyncHarness, *accounts: Account) -> list[Account]:
    """Save ``accounts`` in a committed transaction and return them as saved."""
    repository = harness.repository(ACCOUNTS)
    async with harness.transactions.begin():
        return await repository.save_all(accounts)


class AsyncQueryRepository(
    AsyncRepository[T, K_contra], AsyncFinder[T], AsyncLister[T], AsyncBulkDeleter[T], Protocol[T, K_contra]
):
    """A repository that also finds, lists and deletes by query: what the query contract tests."""


class AsyncQueryHarness(Protocol):
    """The adapters under test for the query contract, wired to an empty store (as :class:`AsyncHarness`)."""

    @property
    def transactions(self) -> AsyncTransactionManager:
        """The transaction manager every repository of this harness uses."""
        ...

    def repository(self, spec: EntitySpec[T, K]) -> AsyncQueryRepository[T, K]:
        """Return a repository of ``spec`` (one of the sample specs) that also implements the query ports."""
        ...
