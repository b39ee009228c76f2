"""In-memory agent stores: state, signal queue and evidence log that behave like the SQL ones.

They write into the ambient transaction of an
:class:`~hexalchemy.testing.InMemoryTransactionManager` (or its async twin), reusing its
machinery: writes are buffered, appear at commit and vanish on rollback, nested blocks
are savepoints, and overlapping transactions that wrote the same row conflict at commit
(first committer wins: ``VersionConflictError`` or ``DuplicateEntityError``)::

    transactions = InMemoryTransactionManager()
    states = InMemoryAgentStateStore(transactions, clock=clock)
    signals = InMemorySignalQueue(transactions, clock=clock)
    evidence = InMemoryEvidenceLog(transactions)

As the SQL tables' foreign keys do, ``send`` and ``append``/``append_all`` refuse an agent
with no state visible to the transaction (committed, or saved earlier in it) with
``EntityNotFoundError(AgentState, agent_id)``, writing nothing.

Runner leases (``claim_resumable``, ``extend``, ``release``) are applied at once, each in
its own (implicit) transaction, and refused inside a transaction of the manager.

Differences from SQL, by construction: two overlapping transactions that send to, or
append to, the same agent get the same sequence, and the second fails at commit with
``DuplicateEntityError`` (SQL waits for the first); two concurrent consumers of one queue
both see the same pending signals, and the second fails at commit with
``VersionConflictError`` (SQL makes it wait, then see them consumed); a runner can claim an
agent whose lease expired while another transaction has saved it and not yet committed,
and its first save then fails with ``VersionConflictError`` (SQL keeps the saved row
locked, so the claim passes it by).

All the logic is in the private synchronous classes of ``_agents_core.py``; the public
classes are thin shells over them, the async ones written in ``_async/agents.py`` and the
sync ones generated from them (``make generate``). :meth:`InMemoryEvidenceLog.tamper`
edits the committed log behind the library's back, for tests of ``verify``.
"""

from hexalchemy.testing._agents_core import Tamper
from hexalchemy.testing._async.agents import (
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemorySignalQueue,
)
from hexalchemy.testing._sync.agents import InMemoryAgentStateStore, InMemoryEvidenceLog, InMemorySignalQueue

__all__ = [
    "AsyncInMemoryAgentStateStore",
    "AsyncInMemoryEvidenceLog",
    "AsyncInMemorySignalQueue",
    "InMemoryAgentStateStore",
    "InMemoryEvidenceLog",
    "InMemorySignalQueue",
    "Tamper",
]
