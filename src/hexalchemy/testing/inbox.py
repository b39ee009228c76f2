"""In-memory inbox: :class:`InMemoryInbox` and its async twin behave like the SQL inboxes (for tests).

    transactions = InMemoryTransactionManager()
    inbox = InMemoryInbox(transactions, consumer="billing")
    with transactions.begin():
        if inbox.record(message_id):
            ...  # apply the effects

Unlike the SQL inbox, two concurrent transactions recording the same id both get True; the
second one's commit then fails with ``DuplicateEntityError`` (the contract
:mod:`hexalchemy.testing.contracts.inbox` accepts either: the effects commit once).
The async class is written in ``_async/inbox.py`` and the sync one generated from it.
"""

from hexalchemy.testing._async.inbox import AsyncInMemoryInbox
from hexalchemy.testing._sync.inbox import InMemoryInbox

__all__ = ["AsyncInMemoryInbox", "InMemoryInbox"]
