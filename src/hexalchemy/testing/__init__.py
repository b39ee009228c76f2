"""Test support: in-memory adapters that behave like the SQL adapters.

Build :class:`InMemoryTransactionManager` and :class:`InMemoryRepository` (or their async
twins) from the same :class:`~hexalchemy.ports.EntitySpec` as the SQL adapters and use them
in unit tests of services written against the ports.
"""

from hexalchemy.testing.memory import (
    AsyncInMemoryRepository,
    AsyncInMemoryTransactionManager,
    InMemoryRepository,
    InMemoryTransactionManager,
)

__all__ = [
    "AsyncInMemoryRepository",
    "AsyncInMemoryTransactionManager",
    "InMemoryRepository",
    "InMemoryTransactionManager",
]

# -- the transactional outbox ------------------------------------------------------------------
from hexalchemy.testing.outbox import (
    AsyncInMemoryOutboxRelayStore,
    AsyncInMemoryOutboxWriter,
    InMemoryOutboxRelayStore,
    InMemoryOutboxWriter,
    RelayPolicy,
)

__all__ += [
    "AsyncInMemoryOutboxRelayStore",
    "AsyncInMemoryOutboxWriter",
    "InMemoryOutboxRelayStore",
    "InMemoryOutboxWriter",
    "RelayPolicy",
]

# -- publishers for relay tests ------------------------------------------------------------------
from hexalchemy.testing.publishers import AsyncCollectingPublisher, CollectingPublisher  # noqa: E402

__all__ += ["AsyncCollectingPublisher", "CollectingPublisher"]

# -- durable AI-agent persistence ----------------------------------------------------------------
from hexalchemy.testing.agents import (  # noqa: E402
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemorySignalQueue,
    InMemoryAgentStateStore,
    InMemoryEvidenceLog,
    InMemorySignalQueue,
    Tamper,
)

__all__ += [
    "AsyncInMemoryAgentStateStore",
    "AsyncInMemoryEvidenceLog",
    "AsyncInMemorySignalQueue",
    "InMemoryAgentStateStore",
    "InMemoryEvidenceLog",
    "InMemorySignalQueue",
    "Tamper",
]

# -- the inbox (idempotent consumer) -------------------------------------------------------------
from hexalchemy.testing.inbox import AsyncInMemoryInbox, InMemoryInbox  # noqa: E402

__all__ += ["AsyncInMemoryInbox", "InMemoryInbox"]
