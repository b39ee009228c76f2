# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The agent stores on SQLAlchemy Core: :class:`AsyncSqlAlchemyAgentStateStore`, :class:`AsyncSqlAlchemySignalQueue`, :class:`AsyncSqlAlchemyEvidenceLog`; see :mod:`hexalchemy.sqlalchemy.agents`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    ConfigError,
    Evidence,
    EvidenceKind,
    Page,
    RunnerLease,
    Signal,
    SignalKind,
    VerifyResult,
)
from hexalchemy.rules import check_callable, check_instance
from hexalchemy.sqlalchemy._agents_core import (
    AgentStateCore,
    Clock,
    EvidenceLogCore,
    SignalQueueCore,
    utcnow,
)
from hexalchemy.sqlalchemy._agents_tables import AgentTables
from hexalchemy.sqlalchemy._bridge import plan_engine_async, run_own_plan_async
from hexalchemy.sqlalchemy._operations import run_plan_async
from hexalchemy.sqlalchemy.transaction import AsyncSqlAlchemyTransactionManager


def _clock(clock: object) -> Clock:
    """The store's clock: ``clock`` if callable, UTC now for None; else ``ConfigError``."""
    return utcnow if clock is None else check_callable("clock", clock, error=ConfigError)


class AsyncSqlAlchemyAgentStateStore:
    """Agent states and runner leases; implements ``AsyncAgentStateStore``.

    ``clock`` (UTC now by default) gives ``updated_at`` and every lease time.
    """

    def __init__(
        self,
        tables: AgentTables,
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.tables = check_instance("tables", tables, AgentTables, error=ConfigError)
        self.transactions = check_instance(
            "transactions", transactions, AsyncSqlAlchemyTransactionManager, error=ConfigError
        )
        self._core = AgentStateCore(
            tables, transactions.core, plan_engine_async(transactions.engine), _clock(clock)
        )

    async def get(self, id: str, /) -> AgentState:
        """Return the agent's state; raise ``EntityNotFoundError`` if there is none."""
        return await run_plan_async(self._core.get(id))

    async def get_or_none(self, id: str, /) -> AgentState | None:
        """Return the agent's state, or None."""
        return await run_plan_async(self._core.get_or_none(id))

    async def save(self, state: AgentState, /) -> AgentState:
        """Create (``version`` 0) or compare-and-set update; return the stored state."""
        return await run_plan_async(self._core.save(state))

    async def save_owned(self, state: AgentState, lease: RunnerLease, /) -> AgentState:
        """Save, only while ``lease`` still holds the agent; else ``LeaseLostError``."""
        return await run_plan_async(self._core.save(state, lease))

    async def list_by_status(
        self, status: AgentStatus, /, *, limit: int = 100, after: str | None = None
    ) -> Page[AgentState]:
        """The agents in ``status``, ordered by id, one page at a time."""
        return await run_plan_async(self._core.list_by_status(status, limit, after))

    async def list_resume_candidates(self, *, limit: int = 100, after: str | None = None) -> Page[AgentState]:
        """The agents in ``ACTIVE_STATUSES``, ordered by id, one page at a time."""
        return await run_plan_async(self._core.list_resume_candidates(limit, after))

    async def claim_resumable(self, runner: str, /, *, lease_for: dt.timedelta) -> RunnerLease | None:
        """Lease one resume candidate no live lease holds (least recently updated first), or None."""
        lease: RunnerLease | None = await run_own_plan_async(self._core.claim_resumable(runner, lease_for))
        return lease

    async def extend(self, lease: RunnerLease, /, *, lease_for: dt.timedelta) -> RunnerLease:
        """Extend a lease still held to now + ``lease_for``; else ``LeaseLostError``."""
        extended: RunnerLease = await run_own_plan_async(self._core.extend(lease, lease_for))
        return extended

    async def release(self, lease: RunnerLease, /) -> bool:
        """Give the agent up; False when the lease was already lost."""
        released: bool = await run_own_plan_async(self._core.release(lease))
        return released


class AsyncSqlAlchemySignalQueue:
    """Each agent's signal queue, in the ambient transaction; implements ``AsyncSignalQueue``."""

    def __init__(
        self,
        tables: AgentTables,
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.tables = check_instance("tables", tables, AgentTables, error=ConfigError)
        self.transactions = check_instance(
            "transactions", transactions, AsyncSqlAlchemyTransactionManager, error=ConfigError
        )
        self._core = SignalQueueCore(tables, transactions.core, _clock(clock))

    async def send(self, signal: Signal, /) -> Signal:
        """Queue a signal (or find it by its idempotency key) and return it with its sequence."""
        return await run_plan_async(self._core.send(signal))

    async def list_pending(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Signal]:
        """The agent's pending signals with a sequence above ``after_sequence``, in sequence order."""
        return await run_plan_async(self._core.list_pending(agent_id, limit, after_sequence))

    async def consume(
        self, agent_id: str, accepted_kinds: Iterable[SignalKind], /, *, maximum: int = 100
    ) -> list[Signal]:
        """Consume the longest prefix of pending signals whose kinds are accepted, up to ``maximum``."""
        return await run_plan_async(self._core.consume(agent_id, accepted_kinds, maximum))

    async def pending_count(self, agent_id: str, /) -> int:
        """How many signals of the agent are pending."""
        return await run_plan_async(self._core.pending_count(agent_id))


class AsyncSqlAlchemyEvidenceLog:
    """Each agent's append-only, hash-chained evidence, in the ambient transaction; implements ``AsyncEvidenceLog``."""

    def __init__(self, tables: AgentTables, transactions: AsyncSqlAlchemyTransactionManager) -> None:
        self.tables = check_instance("tables", tables, AgentTables, error=ConfigError)
        self.transactions = check_instance(
            "transactions", transactions, AsyncSqlAlchemyTransactionManager, error=ConfigError
        )
        self._core = EvidenceLogCore(tables, transactions.core)

    async def append(self, entry: Evidence, /) -> Evidence:
        """Append one entry; return it with its sequence, previous_hash and hash."""
        return await run_plan_async(self._core.append(entry))

    async def append_all(self, entries: Iterable[Evidence], /) -> list[Evidence]:
        """Append entries in order (each agent's chain continues in that order); return them stored."""
        return await run_plan_async(self._core.append_all(entries))

    async def get(self, id: uuid.UUID, /) -> Evidence:
        """Return the entry with this id; raise ``EntityNotFoundError`` if there is none."""
        return await run_plan_async(self._core.get(id))

    async def list_by_agent(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Evidence]:
        """The agent's entries with a sequence above ``after_sequence``, in append order."""
        return await run_plan_async(self._core.list_by_agent(agent_id, limit, after_sequence))

    async def list_by_manifest_ref(
        self, manifest_ref: str, /, *, limit: int = 100, after: str | None = None
    ) -> Page[Evidence]:
        """The entries with this ``manifest_ref`` (any agent), ordered by id, one page at a time."""
        return await run_plan_async(self._core.list_by_manifest_ref(manifest_ref, limit, after))

    async def last(self, agent_id: str, /, *, kind: str | EvidenceKind | None = None) -> Evidence | None:
        """The agent's entry with the highest sequence (of this ``kind``, when given), or None."""
        return await run_plan_async(self._core.last(agent_id, kind))

    async def verify(self, agent_id: str, /) -> VerifyResult:
        """Check the agent's whole chain, and that it ends at the agent's recorded head."""
        return await run_plan_async(self._core.verify(agent_id))
