"""The query contract: what every adapter of the query ports (``Finder``, ``Lister``, ``BulkDeleter``) does.

Conditions (comparisons, ``in``, ``is None``, text matches, and/or/not, on fields of the
aggregate and of its value objects), the order made total by the key, NULLs, ties, unicode,
Decimals, datetimes, keyset pages and their cursors, streams, deletes by condition, and the
refusals. Two property-based tests draw random data (few values: many ties, NULLs, unicode)
and random queries, and compare every adapter with a reference written plainly in Python.

Subclass :class:`QueryContract` (or :class:`AsyncQueryContract`) and give it a ``harness``
fixture returning a :class:`~hexalchemy.testing.contracts.harness.QueryHarness` (an
``AsyncQueryHarness``); see :mod:`hexalchemy.testing.contracts`. The tests are written once,
async, in ``_async/queries.py``; the sync contract is generated from them by ``make generate``.
"""

from hexalchemy.testing.contracts._async.queries import EXAMPLES, AsyncQueryContract
from hexalchemy.testing.contracts._sync.queries import QueryContract

__all__ = ["EXAMPLES", "AsyncQueryContract", "QueryContract"]
