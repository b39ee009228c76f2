"""Transaction (unit of work) ports, sync and async.

One transaction manager is built in the composition root and serves every thread and
every asyncio task at once: each thread or task that enters ``begin()`` gets its own
transaction, found by the repositories built on the same manager.

- ``with transactions.begin():`` commits when the block ends normally and rolls back when
  it raises.
- Entering ``begin()`` while a transaction is active in the same thread or task opens a
  SAVEPOINT: an exception inside the inner block undoes only the inner block.
- ``read_only=True`` refuses writes (``ReadOnlyTransactionError``) and, where the database
  supports it, starts a read-only database transaction.
- ``isolation_level`` applies to the outermost transaction; a nested block cannot change it.
"""

from __future__ import annotations

import enum
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol

__all__ = ["AsyncTransactionManager", "IsolationLevel", "TransactionManager"]


class IsolationLevel(enum.Enum):
    """SQL transaction isolation levels."""

    READ_COMMITTED = "READ COMMITTED"
    REPEATABLE_READ = "REPEATABLE READ"
    SERIALIZABLE = "SERIALIZABLE"


class TransactionManager(Protocol):
    """Begins synchronous transactions; repositories find the active one."""

    def begin(
        self, *, read_only: bool = False, isolation_level: IsolationLevel | None = None
    ) -> AbstractContextManager[None]:
        """Open a transaction, or a savepoint when one is already active here."""
        ...

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread or task is inside a transaction of this manager."""
        ...


class AsyncTransactionManager(Protocol):
    """Begins asynchronous transactions; async repositories find the active one."""

    def begin(
        self, *, read_only: bool = False, isolation_level: IsolationLevel | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Open a transaction, or a savepoint when one is already active in this task."""
        ...

    @property
    def in_transaction(self) -> bool:
        """Whether the calling task is inside a transaction of this manager."""
        ...
