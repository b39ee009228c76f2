"""The inbox contract: what every inbox (idempotent consumer) must do, sync or async.

Subclass :class:`InboxContract` (or :class:`AsyncInboxContract`) and give it a ``harness``
fixture returning an :class:`InboxHarness` (or :class:`AsyncInboxHarness`) on an empty
inbox table::

    class TestMyInbox(InboxContract):
        @pytest.fixture
        def harness(self) -> InboxHarness:
            return MyInboxHarness(...)

The tests are written once, async, in ``_async/inbox.py``; the sync contract is generated
from them into ``_sync/inbox.py`` by ``make generate``.
"""

from hexalchemy.testing.contracts._async.inbox import AsyncInboxContract, AsyncInboxHarness
from hexalchemy.testing.contracts._sync.inbox import InboxContract, InboxHarness

__all__ = ["AsyncInboxContract", "AsyncInboxHarness", "InboxContract", "InboxHarness"]
