"""In-memory outbox: a writer and a relay store that behave like the SQL ones (for tests).

:class:`InMemoryOutboxWriter` writes into the ambient transaction of an
:class:`~hexalchemy.testing.InMemoryTransactionManager`: its messages are buffered with
the transaction's other writes, appear at commit and vanish on rollback.
:class:`InMemoryOutboxRelayStore` claims, acknowledges and retries them with the same
rules as :class:`~hexalchemy.sqlalchemy.outbox.SqlAlchemyOutboxRelayStore` (the contract
suite :mod:`hexalchemy.testing.contracts.outbox` keeps them honest), on a clock you can
fake::

    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    now = [datetime.now(UTC)]
    store = InMemoryOutboxRelayStore(transactions, clock=lambda: now[0])

Messages of one ordering key are delivered in commit order. Unlike the SQL writer, two
concurrent transactions adding the same idempotency key both commit their message (the
in-memory store cannot make the second one wait for the first).

All the logic is in the private synchronous classes of ``_outbox_core.py``; the public
classes are thin shells over them, the async ones written in ``_async/outbox.py`` and the
sync ones generated from them (``make generate``).
"""

from hexalchemy.testing._async.outbox import AsyncInMemoryOutboxRelayStore, AsyncInMemoryOutboxWriter
from hexalchemy.testing._outbox_core import RelayPolicy
from hexalchemy.testing._sync.outbox import InMemoryOutboxRelayStore, InMemoryOutboxWriter

__all__ = [
    "AsyncInMemoryOutboxRelayStore",
    "AsyncInMemoryOutboxWriter",
    "InMemoryOutboxRelayStore",
    "InMemoryOutboxWriter",
    "RelayPolicy",
]
