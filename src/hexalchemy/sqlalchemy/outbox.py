"""The transactional outbox on SQLAlchemy Core: its tables, writers and relay stores, sync and async.

Wire it in the composition root::

    tables = outbox_tables(schema)  # adds the outbox tables to schema.metadata
    writer = SqlAlchemyOutboxWriter(tables, transactions)
    store = SqlAlchemyOutboxRelayStore(tables, transactions, policy=OutboxPolicy(max_attempts=5))

A service adds messages with ``writer.add(...)`` inside the transaction of its business
data; a relay claims, publishes and acknowledges them through ``store``, each call in a
short transaction of its own. All the logic is in
:mod:`hexalchemy.sqlalchemy._outbox_core`; the classes only drive its plans. The async
classes are written in ``_async/outbox.py``; ``make generate`` writes the sync ones from them.

Guarantees:

- a message is stored exactly when the transaction that added it commits;
- a repeated idempotency key of a topic, or a repeated message id, is dropped while the
  first message is in the outbox (not yet acknowledged or dead-lettered);
- messages sharing an ``ordering_key`` are numbered in commit order (the producers of one
  key serialise on its row in the sequences table) and delivered one at a time: only the
  first message of a key is claimable, and the key is held while it is leased or waiting
  for a retry; other keys flow;
- a claim leases each message to one relay; acknowledgements and rejections are fenced by
  the lease token, so a relay whose lease expired changes nothing (its calls report the
  messages as stale);
- an attempt is counted at claim time: after ``max_attempts`` claims a message is
  dead-lettered, by the rejection or by the next claim;
- a locked delivery (``deliver``) deletes the due messages it takes in its transaction
  (which locks them: on PostgreSQL other relays skip them, on SQLite no other writer
  runs), publishes them, puts the failed ones back with an attempt counted (or buries
  them at the limit) and commits; if it does not commit, the messages are back, and the
  record of the delivery it wrote first (``{prefix}_deliveries``) counts the attempt: the
  next deliveries publish them one at a time and bury one past the attempt limit.
"""

from hexalchemy.sqlalchemy._async.outbox import AsyncSqlAlchemyOutboxRelayStore, AsyncSqlAlchemyOutboxWriter
from hexalchemy.sqlalchemy._outbox_tables import DEFAULT_PREFIX, OutboxTables, outbox_tables
from hexalchemy.sqlalchemy._sync.outbox import SqlAlchemyOutboxRelayStore, SqlAlchemyOutboxWriter

__all__ = [
    "DEFAULT_PREFIX",
    "AsyncSqlAlchemyOutboxRelayStore",
    "AsyncSqlAlchemyOutboxWriter",
    "OutboxTables",
    "SqlAlchemyOutboxRelayStore",
    "SqlAlchemyOutboxWriter",
    "outbox_tables",
]
