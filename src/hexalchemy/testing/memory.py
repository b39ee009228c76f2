"""In-memory adapters: transaction managers and repositories that keep aggregates in dicts.

They implement the same ports as the SQL adapters and behave the same way, so a service's
unit tests can run against them: writes are buffered in the ambient transaction and
applied atomically at commit, nested ``begin()`` blocks are savepoints, versioned
aggregates are checked optimistically (first committer wins), and every aggregate is
stored and returned as a deep copy.

All the logic lives in the synchronous private classes of ``_memory_core.py``
(``TransactionCore``, ``Block``, ``RepositoryCore``); the public classes are thin shells
over them, the async ones written in ``_async/memory.py`` and the sync ones generated from
them (``make generate``).
"""

from hexalchemy.testing._async.memory import AsyncInMemoryRepository, AsyncInMemoryTransactionManager
from hexalchemy.testing._sync.memory import InMemoryRepository, InMemoryTransactionManager

__all__ = [
    "AsyncInMemoryRepository",
    "AsyncInMemoryTransactionManager",
    "InMemoryRepository",
    "InMemoryTransactionManager",
]
