"""The contract suite: one set of tests every adapter of the ports must pass.

The same tests run against the in-memory adapters, SQLite and PostgreSQL (and against
adapters of your own), so a service tested against the in-memory adapters behaves the
same in production. Each contract is a class of pytest tests; its name has no ``Test``
prefix so pytest collects only your subclasses. Subclass it and give it a ``harness``
fixture that returns a :class:`Harness` (or :class:`AsyncHarness` for the ``Async*``
contracts) wired to an empty store::

    from hexalchemy.testing.contracts import Harness, RepositoryContract, TransactionContract

    class TestMyRepository(RepositoryContract):
        @pytest.fixture
        def harness(self, my_harness: Harness) -> Harness:
            return my_harness

    class TestMyTransactions(TransactionContract):
        ...  # the same fixture

Every contract takes its adapters from that one fixture, ``harness``: the repository,
transaction, concurrency, round-trip and value contracts a :class:`Harness`, the query
contract a :class:`QueryHarness` (its repositories also implement the query ports), the outbox contracts
an :class:`OutboxHarness` (:mod:`~.outbox`), the agent-store contracts an
:class:`AgentHarness` (:mod:`~.agents`), each with its ``Async*`` twin. The harness serves
the sample aggregates of :mod:`hexalchemy.testing.contracts.domain` (map every spec of
:data:`SPECS`). The sync contracts are plain pytest tests, with no event loop; the async
contracts are marked ``pytest.mark.asyncio`` and need pytest-asyncio (in strict mode,
declare async fixtures with ``pytest_asyncio.fixture``); the round-trip contracts need
Hypothesis. Both come with the ``testing`` extra.

Submodules, one job each: :mod:`~.harness` (the protocols), :mod:`~.domain` (the
samples), :mod:`~.strategies` (Hypothesis strategies), :mod:`~.repository`, :mod:`~.queries`,
:mod:`~.transactions`, :mod:`~.concurrency`, :mod:`~.roundtrip`, :mod:`~.values`,
:mod:`~.outbox` and :mod:`~.agents` (the contracts). Every contract is written once, async,
in ``_async`` (the concurrency contract's threads and tasks meet through ``_support``'s helpers);
``make generate`` writes its sync twin into ``_sync`` (unasyncd, configured in
``[tool.unasyncd]`` of ``pyproject.toml``). Edit ``_async``, never ``_sync``.
"""

# First: _rewrite registers the modules below for pytest's assertion rewriting before they are imported.
from hexalchemy.testing.contracts import _rewrite as _rewrite
from hexalchemy.testing.contracts.agents import (
    AgentHarness,
    AgentStoreContract,
    AsyncAgentHarness,
    AsyncAgentStoreContract,
)
from hexalchemy.testing.contracts.concurrency import AsyncConcurrencyContract, ConcurrencyContract
from hexalchemy.testing.contracts.domain import (
    ACCOUNTS,
    DRAFTS,
    MEMBERSHIPS,
    SPECIMENS,
    SPECS,
    Account,
    Draft,
    Level,
    Membership,
    Money,
    Part,
    Place,
    Shade,
    Specimen,
    Tier,
)
from hexalchemy.testing.contracts.harness import (
    AsyncHarness,
    AsyncQueryHarness,
    AsyncQueryRepository,
    Harness,
    QueryHarness,
    QueryRepository,
)
from hexalchemy.testing.contracts.inbox import (
    AsyncInboxContract,
    AsyncInboxHarness,
    InboxContract,
    InboxHarness,
)
from hexalchemy.testing.contracts.outbox import (
    AsyncOutboxContract,
    AsyncOutboxHarness,
    OutboxContract,
    OutboxHarness,
)
from hexalchemy.testing.contracts.queries import AsyncQueryContract, QueryContract
from hexalchemy.testing.contracts.repository import AsyncRepositoryContract, RepositoryContract
from hexalchemy.testing.contracts.roundtrip import AsyncRoundTripContract, RoundTripContract
from hexalchemy.testing.contracts.transactions import AsyncTransactionContract, TransactionContract
from hexalchemy.testing.contracts.values import AsyncValueContract, ValueContract

__all__ = [
    "ACCOUNTS",
    "DRAFTS",
    "MEMBERSHIPS",
    "SPECIMENS",
    "SPECS",
    "Account",
    "AgentHarness",
    "AgentStoreContract",
    "AsyncAgentHarness",
    "AsyncAgentStoreContract",
    "AsyncConcurrencyContract",
    "AsyncHarness",
    "AsyncInboxContract",
    "AsyncInboxHarness",
    "AsyncOutboxContract",
    "AsyncOutboxHarness",
    "AsyncQueryContract",
    "AsyncQueryHarness",
    "AsyncQueryRepository",
    "AsyncRepositoryContract",
    "AsyncRoundTripContract",
    "AsyncTransactionContract",
    "AsyncValueContract",
    "ConcurrencyContract",
    "Draft",
    "Harness",
    "InboxContract",
    "InboxHarness",
    "Level",
    "Membership",
    "Money",
    "OutboxContract",
    "OutboxHarness",
    "Part",
    "Place",
    "QueryContract",
    "QueryHarness",
    "QueryRepository",
    "RepositoryContract",
    "RoundTripContract",
    "Shade",
    "Specimen",
    "Tier",
    "TransactionContract",
    "ValueContract",
]
