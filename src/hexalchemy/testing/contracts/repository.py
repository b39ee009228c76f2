"""The repository contract: what every ``Repository`` / ``AsyncRepository`` adapter does.

Subclass :class:`RepositoryContract` (or :class:`AsyncRepositoryContract`) in a test module
and provide a ``harness`` fixture; see :mod:`hexalchemy.testing.contracts`.

The tests are written once, async, in ``_async/repository.py``; the sync contract is
generated from them into ``_sync/repository.py`` by ``make generate``.
"""

from hexalchemy.testing.contracts._async.repository import LARGE_BATCH, AsyncRepositoryContract
from hexalchemy.testing.contracts._sync.repository import RepositoryContract

__all__ = ["LARGE_BATCH", "AsyncRepositoryContract", "RepositoryContract"]
