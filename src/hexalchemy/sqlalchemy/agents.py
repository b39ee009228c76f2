"""Durable agent persistence on SQLAlchemy Core: agent states, signal queues, evidence logs.

Wire it in the composition root::

    tables = agent_tables(schema)  # adds the agent tables (and the evidence triggers) to schema.metadata
    states = SqlAlchemyAgentStateStore(tables, transactions)
    signals = SqlAlchemySignalQueue(tables, transactions)
    evidence = SqlAlchemyEvidenceLog(tables, transactions)

Every call works in the ambient transaction of ``transactions``, except the lease calls
``claim_resumable``, ``extend`` and ``release``, which run in a short transaction of their
own (``TransactionUsageError`` inside one of the manager's transactions). All the logic is
in :mod:`hexalchemy.sqlalchemy._agents_core`; the classes only drive its plans. The async
classes are written in ``_async/agents.py``; ``make generate`` writes the sync ones from them.

Guarantees:

- states are saved with compare-and-set on ``version``; ``save_owned`` also checks, in the
  statement that writes the row, that the runner's lease token still holds and has not
  expired (``LeaseLostError`` otherwise);
- ``claim_resumable`` picks one free or expired resume candidate with
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (``BEGIN IMMEDIATE`` on SQLite), so of
  concurrent claimers of one agent exactly one wins, with a fresh fencing token;
- signals and evidence are numbered per agent under a row lock held until commit:
  sequences are gapless and the evidence chain never forks; ``consume`` is one statement
  that locks the pending signals in order, so each signal is consumed exactly once;
- the database refuses UPDATE, DELETE and (PostgreSQL) TRUNCATE on the evidence table
  (triggers created with the table): ``ConstraintViolationError``.
"""

from hexalchemy.sqlalchemy._agents_tables import (
    DEFAULT_PREFIX,
    AgentTables,
    agent_tables,
    append_only_statements,
)
from hexalchemy.sqlalchemy._async.agents import (
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemySignalQueue,
)
from hexalchemy.sqlalchemy._sync.agents import (
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemySignalQueue,
)

__all__ = [
    "DEFAULT_PREFIX",
    "AgentTables",
    "AsyncSqlAlchemyAgentStateStore",
    "AsyncSqlAlchemyEvidenceLog",
    "AsyncSqlAlchemySignalQueue",
    "SqlAlchemyAgentStateStore",
    "SqlAlchemyEvidenceLog",
    "SqlAlchemySignalQueue",
    "agent_tables",
    "append_only_statements",
]
