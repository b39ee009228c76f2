"""The agent-store contract: what every agent state store, signal queue and evidence log must do.

Subclass :class:`AgentStoreContract` (or :class:`AsyncAgentStoreContract`) and give it a
``harness`` fixture returning an :class:`AgentHarness` (or :class:`AsyncAgentHarness`) on
empty stores::

    from hexalchemy.testing.contracts.agents import AgentHarness, AgentStoreContract

    class TestMyAgentStores(AgentStoreContract):
        @pytest.fixture
        def harness(self) -> AgentHarness:
            return MyAgentHarness(...)

The three stores share the harness's transaction manager. ``advance(delta)`` lets at
least ``delta`` pass on the stores' clock (move a fake clock, or sleep: the contract only
advances by fractions of a second); ``tamper(agent_id, sequence, how)`` damages a
committed evidence entry behind the library's back (:class:`~hexalchemy.testing.Tamper`).

The tests are written once, async, in ``_async/agents.py``; the sync contract is generated
from them into ``_sync/agents.py`` by ``make generate``. The sync contract calls the sync
stores directly (its concurrent tests use threads) and needs no event loop; the async one
(tasks) is marked ``pytest.mark.asyncio``.
"""

from hexalchemy.testing.contracts._async.agents import AsyncAgentHarness, AsyncAgentStoreContract
from hexalchemy.testing.contracts._sync.agents import AgentHarness, AgentStoreContract

__all__ = ["AgentHarness", "AgentStoreContract", "AsyncAgentHarness", "AsyncAgentStoreContract"]
