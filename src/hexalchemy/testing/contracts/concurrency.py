"""The concurrency contract: concurrent transactions, optimistic locking and ambient state.

Writers run in threads (sync) or tasks (async), each in its own transaction, so on a real
database they hold separate connections at the same time. Subclass
:class:`ConcurrencyContract` (or :class:`AsyncConcurrencyContract`) and provide a ``harness``
fixture; see :mod:`hexalchemy.testing.contracts`.

The tests are written once, async, in ``_async/concurrency.py``; the sync contract is
generated from them into ``_sync/concurrency.py`` by ``make generate``, with threads where
the source has tasks (the ``_support`` helpers: a task started inside a transaction is, for
the sync contract, a thread running in a copy of its context).
"""

from hexalchemy.testing.contracts._async.concurrency import INCREMENTS, WORKERS, AsyncConcurrencyContract
from hexalchemy.testing.contracts._sync.concurrency import ConcurrencyContract

__all__ = ["INCREMENTS", "WORKERS", "AsyncConcurrencyContract", "ConcurrencyContract"]
