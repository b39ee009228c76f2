# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The in-memory agent stores: :class:`AsyncInMemoryAgentStateStore`, :class:`AsyncInMemorySignalQueue`, :class:`AsyncInMemoryEvidenceLog`; see :mod:`hexalchemy.testing.agents`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    Evidence,
    EvidenceKind,
    Page,
    RunnerLease,
    Signal,
    SignalKind,
    VerifyResult,
)
from hexalchemy.testing._agents_core import Clock, EvidenceCore, SignalCore, StateCore, Tamper
from hexalchemy.testing._memory_core import core_of
from hexalchemy.testing.memory import AsyncInMemoryTransactionManager


class AsyncInMemoryAgentStateStore:
    """Agent states kept in memory (implements :class:`~hexalchemy.ports.AsyncAgentStateStore`).

    ``clock`` (default: the wall clock, UTC) stamps ``updated_at`` and times leases.
    """

    __slots__ = ("_core",)

    def __init__(self, transactions: AsyncInMemoryTransactionManager, *, clock: Clock | None = None) -> None:
        self._core = StateCore(core_of(transactions, AsyncInMemoryTransactionManager), clock)

    async def get(self, id: str, /) -> AgentState:
        """Return the agent's state; raise ``EntityNotFoundError`` if there is none."""
        return self._core.get(id)

    async def get_or_none(self, id: str, /) -> AgentState | None:
        """Return the agent's state, or None."""
        return self._core.get_or_none(id)

    async def save(self, state: AgentState, /) -> AgentState:
        """Create (version 0) or update (compare-and-set on version); return the stored state."""
        return self._core.save(state)

    async def save_owned(self, state: AgentState, lease: RunnerLease, /) -> AgentState:
        """Save while ``lease`` still holds the agent; else ``LeaseLostError``."""
        return self._core.save_owned(state, lease)

    async def list_by_status(
        self, status: AgentStatus, /, *, limit: int = 100, after: str | None = None
    ) -> Page[AgentState]:
        """The agents in ``status``, ordered by id, one page at a time."""
        return self._core.list_by_status(status, limit, after)

    async def list_resume_candidates(self, *, limit: int = 100, after: str | None = None) -> Page[AgentState]:
        """The active or interrupted agents, ordered by id, one page at a time."""
        return self._core.list_resume_candidates(limit, after)

    async def claim_resumable(self, runner: str, /, *, lease_for: dt.timedelta) -> RunnerLease | None:
        """Lease one resume candidate no live lease holds (least recently updated first), or None."""
        return self._core.claim_resumable(runner, lease_for)

    async def extend(self, lease: RunnerLease, /, *, lease_for: dt.timedelta) -> RunnerLease:
        """Extend a lease still held to now + ``lease_for``; else ``LeaseLostError``."""
        return self._core.extend(lease, lease_for)

    async def release(self, lease: RunnerLease, /) -> bool:
        """Give the agent up; False when the lease was already lost."""
        return self._core.release(lease)


class AsyncInMemorySignalQueue:
    """Signal queues kept in memory (implements :class:`~hexalchemy.ports.AsyncSignalQueue`).

    ``clock`` (default: the wall clock, UTC) stamps ``consumed_at``.
    """

    __slots__ = ("_core",)

    def __init__(self, transactions: AsyncInMemoryTransactionManager, *, clock: Clock | None = None) -> None:
        self._core = SignalCore(core_of(transactions, AsyncInMemoryTransactionManager), clock)

    async def send(self, signal: Signal, /) -> Signal:
        """Queue a signal (or find it by its idempotency key) and return it with its sequence."""
        return self._core.send(signal)

    async def list_pending(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Signal]:
        """The agent's pending signals with a sequence above ``after_sequence``, in sequence order."""
        return self._core.list_pending(agent_id, limit, after_sequence)

    async def consume(
        self, agent_id: str, accepted_kinds: Iterable[SignalKind], /, *, maximum: int = 100
    ) -> list[Signal]:
        """Consume the longest prefix of pending signals whose kinds are accepted, up to ``maximum``."""
        return self._core.consume(agent_id, accepted_kinds, maximum)

    async def pending_count(self, agent_id: str, /) -> int:
        """How many signals of the agent are pending."""
        return self._core.pending_count(agent_id)


class AsyncInMemoryEvidenceLog:
    """Evidence logs kept in memory (implements :class:`~hexalchemy.ports.AsyncEvidenceLog`)."""

    __slots__ = ("_core",)

    def __init__(self, transactions: AsyncInMemoryTransactionManager) -> None:
        self._core = EvidenceCore(core_of(transactions, AsyncInMemoryTransactionManager))

    async def append(self, entry: Evidence, /) -> Evidence:
        """Append one entry; return it with its sequence, previous_hash and hash."""
        return self._core.append_all((entry,))[0]

    async def append_all(self, entries: Iterable[Evidence], /) -> list[Evidence]:
        """Append entries in order; return them stored."""
        return self._core.append_all(entries)

    async def get(self, id: uuid.UUID, /) -> Evidence:
        """Return the entry with this id; raise ``EntityNotFoundError`` if there is none."""
        return self._core.get(id)

    async def list_by_agent(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Evidence]:
        """The agent's entries with a sequence above ``after_sequence``, in append order."""
        return self._core.list_by_agent(agent_id, limit, after_sequence)

    async def list_by_manifest_ref(
        self, manifest_ref: str, /, *, limit: int = 100, after: str | None = None
    ) -> Page[Evidence]:
        """The entries with this ``manifest_ref``, ordered by id, one page at a time."""
        return self._core.list_by_manifest_ref(manifest_ref, limit, after)

    async def last(self, agent_id: str, /, *, kind: str | EvidenceKind | None = None) -> Evidence | None:
        """The agent's entry with the highest sequence (of this ``kind``, when given), or None."""
        return self._core.last(agent_id, kind)

    async def verify(self, agent_id: str, /) -> VerifyResult:
        """Check the agent's whole chain, and that it ends at the last entry appended."""
        return self._core.verify(agent_id)

    def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        """Damage a committed entry behind the library's back (for tests of :meth:`verify`)."""
        self._core.tamper(agent_id, sequence, how)
