"""What a contract needs from the adapter under test: the harness protocols.

Implement :class:`Harness` (or :class:`AsyncHarness`) for your adapters and return it from
a ``harness`` fixture in a subclass of each contract::

    class TestMyRepository(RepositoryContract):
        @pytest.fixture
        def harness(self) -> Harness:
            return MyHarness(...)

Every test gets a fresh harness: the store must start empty (create the tables, or empty
them, in the fixture) and the harness must serve the specs of
:data:`hexalchemy.testing.contracts.domain.SPECS`. The outbox and agent-store contracts
take their own harnesses from the same fixture name: :class:`~.outbox.OutboxHarness` and
:class:`~.agents.AgentHarness`.

The query contract takes a :class:`QueryHarness` (:class:`AsyncQueryHarness`): the same,
but its repositories also implement the query ports (:class:`QueryRepository`).

:class:`AsyncHarness` is written in ``_async/harness.py``; ``make generate`` writes
:class:`Harness` from it into ``_sync/harness.py``.
"""

from hexalchemy.testing.contracts._async.harness import AsyncHarness, AsyncQueryHarness, AsyncQueryRepository
from hexalchemy.testing.contracts._sync.harness import Harness, QueryHarness, QueryRepository

__all__ = [
    "AsyncHarness",
    "AsyncQueryHarness",
    "AsyncQueryRepository",
    "Harness",
    "QueryHarness",
    "QueryRepository",
]
