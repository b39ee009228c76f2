"""SQLAlchemy Core adapters: configuration, engines, mapping, transactions and repositories.

Wire them by hand in your composition root::

    config = DatabaseConfig.from_env()
    engine = create_engine(config)
    schema = Schema()
    users = schema.map(EntitySpec(User, key="id", version="version"), table="users")
    transactions = SqlAlchemyTransactionManager(engine)
    repository = SqlAlchemyRepository(users, transactions)
"""

from hexalchemy.sqlalchemy.backend import Backend, backend_for, backends
from hexalchemy.sqlalchemy.config import DatabaseConfig
from hexalchemy.sqlalchemy.engine import create_async_engine, create_engine
from hexalchemy.sqlalchemy.mapping import (
    ChangedColumns,
    Leaf,
    RowMapping,
    TableMapping,
    make_converter,
)
from hexalchemy.sqlalchemy.repository import AsyncSqlAlchemyRepository, SqlAlchemyRepository
from hexalchemy.sqlalchemy.schema import Schema
from hexalchemy.sqlalchemy.transaction import (
    AsyncSqlAlchemyTransactionManager,
    SqlAlchemyTransactionManager,
    TransactionCore,
    TransactionState,
)
from hexalchemy.sqlalchemy.types import ExactDecimal, UtcDateTime

__all__ = [
    "AsyncSqlAlchemyRepository",
    "AsyncSqlAlchemyTransactionManager",
    "Backend",
    "ChangedColumns",
    "DatabaseConfig",
    "ExactDecimal",
    "Leaf",
    "RowMapping",
    "Schema",
    "SqlAlchemyRepository",
    "SqlAlchemyTransactionManager",
    "TableMapping",
    "TransactionCore",
    "TransactionState",
    "UtcDateTime",
    "backend_for",
    "backends",
    "create_async_engine",
    "create_engine",
    "make_converter",
]

# -- the transactional outbox ------------------------------------------------------------------
from hexalchemy.sqlalchemy.outbox import (
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    OutboxTables,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    outbox_tables,
)

__all__ += [
    "AsyncSqlAlchemyOutboxRelayStore",
    "AsyncSqlAlchemyOutboxWriter",
    "OutboxTables",
    "SqlAlchemyOutboxRelayStore",
    "SqlAlchemyOutboxWriter",
    "outbox_tables",
]

# -- PostgreSQL LISTEN/NOTIFY wake-ups for outbox relays ---------------------------------------
from hexalchemy.sqlalchemy.outbox_notify import (  # noqa: E402 - grouped with the outbox above
    AsyncPostgresNotifyWakeUp,
    PostgresNotifyWakeUp,
    install_notify_trigger,
    notify_trigger_statements,
)

__all__ += [
    "AsyncPostgresNotifyWakeUp",
    "PostgresNotifyWakeUp",
    "install_notify_trigger",
    "notify_trigger_statements",
]

# -- durable agent persistence: states, signal queues, evidence logs -----------------------------
from hexalchemy.sqlalchemy.agents import (  # noqa: E402 - grouped with the agent stores
    AgentTables,
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemySignalQueue,
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemySignalQueue,
    agent_tables,
    append_only_statements,
)

__all__ += [
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

# -- the inbox (idempotent consumer) -------------------------------------------------------------
from hexalchemy.sqlalchemy.inbox import (  # noqa: E402 - grouped with the inbox
    AsyncSqlAlchemyInbox,
    SqlAlchemyInbox,
    inbox_mapping,
)

__all__ += ["AsyncSqlAlchemyInbox", "SqlAlchemyInbox", "inbox_mapping"]

# -- the fast paths' statements, reported: a hook per engine, OpenTelemetry spans ---------------
from hexalchemy.sqlalchemy.tracing import (  # noqa: E402 - grouped with the tracing hook
    FastPathStatement,
    OpenTelemetryHook,
    StatementHook,
    opentelemetry_hook,
    set_statement_hook,
    statement_hook,
)

__all__ += [
    "FastPathStatement",
    "OpenTelemetryHook",
    "StatementHook",
    "opentelemetry_hook",
    "set_statement_hook",
    "statement_hook",
]
