"""The transaction contract: what every ``TransactionManager`` / ``AsyncTransactionManager`` does.

Subclass :class:`TransactionContract` (or :class:`AsyncTransactionContract`) in a test module
and provide a ``harness`` fixture; see :mod:`hexalchemy.testing.contracts`.

The tests are written once, async, in ``_async/transactions.py``; the sync contract is
generated from them into ``_sync/transactions.py`` by ``make generate``.
"""

from hexalchemy.testing.contracts._async.transactions import FAILING_TRANSACTIONS, AsyncTransactionContract
from hexalchemy.testing.contracts._sync.transactions import TransactionContract

__all__ = ["FAILING_TRANSACTIONS", "AsyncTransactionContract", "TransactionContract"]
