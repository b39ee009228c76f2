"""Durable AI-agent persistence ports: agent state, signal queue and evidence log.

Three stores, each with a sync and an async twin, and the value types they speak:

- :class:`AgentStateStore` keeps one :class:`AgentState` per agent, written with
  compare-and-set on ``version`` (as a versioned repository), listed by status with keyset
  pagination (:class:`Page`), and *owned* by one runner at a time through a
  :class:`RunnerLease` (``claim_resumable`` / ``extend`` / ``release`` / ``save_owned``).
- :class:`SignalQueue` holds the :class:`Signal` values sent to an agent (user messages,
  approvals, cancel...), numbered per agent; ``consume`` takes the longest prefix of
  pending signals whose kinds the agent accepts now, each exactly once.
- :class:`EvidenceLog` is an append-only, hash-chained log of :class:`Evidence` per agent;
  ``verify`` detects an entry edited, deleted or reordered behind the library's back.

Transactions (decided here, the same for every adapter):

- Every method works in the *ambient* transaction of the store's transaction manager, as
  repositories do (``NoActiveTransactionError`` outside one, ``ReadOnlyTransactionError``
  for a write in a read-only one) -- except the three lease calls
  ``claim_resumable``, ``extend`` and ``release``, which run in their *own* transaction
  (so that other runners see a claim at once) and are refused with
  ``TransactionUsageError`` when called inside a transaction of the manager, as the outbox
  relay store's calls are.
- ``save_owned`` works in the ambient transaction and checks the lease when it is called
  (SQL: in the statement that writes the row).

Signals and evidence belong to an agent: sending or appending for an agent with no state
visible to the transaction raises ``EntityNotFoundError(AgentState, agent_id)`` and writes
nothing (the SQL tables have foreign keys to the states table).

Every value is validated before anything is written
(:class:`~hexalchemy.ports.InvalidAgentDataError`); the validation, the limits (the
``MAX_*`` constants) and the canonical encoding and hash of evidence live in
:mod:`hexalchemy.rules`, so that every adapter validates the same way and computes the
same chain.

The ports are split by capability: :class:`AgentStates`, :class:`AgentListing` and
:class:`AgentLeases` make :class:`AgentStateStore`; :class:`EvidenceWriter` and
:class:`EvidenceReader` make :class:`EvidenceLog`.

Standard library and attrs only.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, ForwardRef, Generic, Protocol, TypeAlias, TypeVar, Union

import attrs

__all__ = [
    "AgentLeases",
    "AgentListing",
    "AgentState",
    "AgentStateStore",
    "AgentStates",
    "AgentStatus",
    "AsyncAgentLeases",
    "AsyncAgentListing",
    "AsyncAgentStateStore",
    "AsyncAgentStates",
    "AsyncEvidenceLog",
    "AsyncEvidenceReader",
    "AsyncEvidenceWriter",
    "AsyncSignalQueue",
    "Evidence",
    "EvidenceKind",
    "EvidenceLog",
    "EvidenceReader",
    "EvidenceWriter",
    "JsonValue",
    "Page",
    "RunnerLease",
    "Signal",
    "SignalKind",
    "SignalQueue",
    "VerifyResult",
]

T = TypeVar("T")

if TYPE_CHECKING:
    JsonValue: TypeAlias = "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
else:  # the same union, resolvable from any module: its self-references name this module
    _JSON: Final = ForwardRef("JsonValue", module=__name__)
    JsonValue = Union[bool, int, float, str, Sequence[_JSON], Mapping[str, _JSON], None]  # noqa: UP007
"""A JSON-able value: stored values come back as ``dict`` / ``list`` (tuples become lists).

An annotation ``JsonValue`` resolves at run time wherever it is written (``typing.get_type_hints``
needs nothing else imported), so a field may be declared ``data: JsonValue`` with
``column(json=True)`` in any module.
"""


# -- agent state --------------------------------------------------------------------------------


class AgentStatus(enum.Enum):
    """Where an agent is in its life; stored as the lower-case value."""

    CREATED = "created"
    ACTIVE = "active"
    INTERRUPTED = "interrupted"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class AgentState:
    """The durable state of one agent; saved with compare-and-set on ``version``.

    A new state has ``version`` 0 (build it with :func:`hexalchemy.rules.new_agent_state`). The store sets
    ``created_at`` at the first save (and keeps it afterwards) and ``updated_at`` at every
    save, from its clock (at the first save both are the same instant); the values given
    are ignored. ``metadata`` is JSON-able.
    """

    id: str
    agent_type: str
    status: AgentStatus = AgentStatus.CREATED
    transition: str | None = None
    """The name of the last transition taken (free text)."""
    reason: str | None = None
    """Why the agent is in its status (a failure, a cancel reason...)."""
    current_activity: str | None = None
    input_ref: str | None = None
    output_ref: str | None = None
    last_event_cursor: str | None = None
    recovery_marker: str | None = None
    metadata: Mapping[str, JsonValue] = attrs.field(factory=dict[str, JsonValue])
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    version: int = 0


@attrs.frozen
class Page(Generic[T]):
    """One page of a keyset-paginated listing.

    ``next_cursor`` is None exactly when no item follows this page; otherwise pass it as
    ``after`` to get the next page. Cursors are opaque strings (today: the last item's id).
    """

    items: tuple[T, ...]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class RunnerLease:
    """One runner's ownership of one agent until ``expires_at``; ``token`` fences its writes.

    ``state`` is the agent's committed state when the lease was claimed.
    """

    agent_id: str
    runner: str
    token: uuid.UUID
    expires_at: dt.datetime
    state: AgentState


# -- signals ------------------------------------------------------------------------------------


class SignalKind(enum.Enum):
    """What a signal asks of an agent; stored as the lower-case value."""

    USER_MESSAGE = "user_message"
    APPROVAL_DECISION = "approval_decision"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    STEERING_INSTRUCTION = "steering_instruction"
    EXTERNAL_EVENT = "external_event"
    SCHEDULER_WAKE_UP = "scheduler_wake_up"


@attrs.frozen(kw_only=True)
class Signal:
    """A message to one agent, waiting in its queue until consumed.

    Build new signals with :func:`hexalchemy.rules.new_signal`. ``sequence`` (per agent, from 1) is assigned by
    the queue when the signal is sent; ``consumed_at`` is set by ``consume``.
    """

    id: uuid.UUID
    agent_id: str
    kind: SignalKind
    payload: JsonValue = None
    idempotency_key: str | None = None
    sequence: int = 0
    sent_at: dt.datetime
    consumed_at: dt.datetime | None = None


# -- evidence -----------------------------------------------------------------------------------


class EvidenceKind(enum.Enum):
    """Well-known evidence kinds; :attr:`Evidence.kind` is a free str, these are its usual values."""

    ACTION_BOUNDARY = "action_boundary"
    """Marks a phase of an action: payload ``{"action": str, "phase": "started" | "completed", "idempotent": bool}``."""
    OBSERVATION = "observation"
    DECISION = "decision"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    MESSAGE = "message"
    NOTE = "note"


@attrs.frozen(kw_only=True)
class Evidence:
    """One entry of an agent's append-only evidence log.

    Build new entries with :func:`hexalchemy.rules.new_evidence`. ``sequence`` (per agent, from 1),
    ``previous_hash`` (None for the first entry) and ``hash`` are set by the log at append:
    ``hash == hexalchemy.rules.evidence_hash(entry)``. ``kind`` is free text (see :class:`EvidenceKind`).
    """

    id: uuid.UUID
    agent_id: str
    kind: str
    payload: JsonValue = None
    summary: str | None = None
    digest: str | None = None
    """A digest of an artefact outside the log (e.g. ``sha256:...``), given by the caller."""
    manifest_ref: str | None = None
    reference: str | None = None
    sensitive_fields: tuple[str, ...] = ()
    """Payload keys the reader should treat as sensitive (the log stores them as given)."""
    created_at: dt.datetime
    sequence: int = 0
    previous_hash: str | None = None
    hash: str = ""


@attrs.frozen
class VerifyResult:
    """The outcome of verifying an agent's evidence chain.

    ``ok`` is True when every entry is intact; otherwise ``first_broken_sequence`` is the
    first sequence number where the chain breaks and ``reason`` says how.
    """

    ok: bool
    first_broken_sequence: int | None = None
    reason: str | None = None


# -- the ports ----------------------------------------------------------------------------------


class AgentStates(Protocol):
    """Agent states, read and written in the ambient transaction (compare-and-set on ``version``)."""

    def get(self, id: str, /) -> AgentState:
        """Return the agent's state; raise ``EntityNotFoundError`` if there is none."""
        ...

    def get_or_none(self, id: str, /) -> AgentState | None:
        """Return the agent's state, or None."""
        ...

    def save(self, state: AgentState, /) -> AgentState:
        """Create (``version`` 0) or update (compare-and-set on ``version``); return the stored state.

        ``DuplicateEntityError`` for a second create, ``VersionConflictError`` when the
        stored version differs, ``EntityNotFoundError`` to update a missing agent. It does
        not look at runner leases (use :meth:`save_owned` for that).
        """
        ...

    def save_owned(self, state: AgentState, lease: RunnerLease, /) -> AgentState:
        """:meth:`save`, only while ``lease`` still holds the agent; else ``LeaseLostError``."""
        ...


class AgentListing(Protocol):
    """Agent states listed by status, ordered by id, one page at a time, in the ambient transaction."""

    def list_by_status(
        self, status: AgentStatus, /, *, limit: int = 100, after: str | None = None
    ) -> Page[AgentState]:
        """The agents in ``status``, ordered by id, one page at a time."""
        ...

    def list_resume_candidates(self, *, limit: int = 100, after: str | None = None) -> Page[AgentState]:
        """The agents in :data:`~hexalchemy.rules.agent_limits.ACTIVE_STATUSES`, ordered by id, one page at a time."""
        ...


class AgentLeases(Protocol):
    """Runner leases: one runner owns an agent at a time; each call runs in its own transaction.

    The calls are refused with ``TransactionUsageError`` inside a transaction of the
    store's manager. A lease is used by :meth:`AgentStates.save_owned`.
    """

    def claim_resumable(self, runner: str, /, *, lease_for: dt.timedelta) -> RunnerLease | None:
        """Lease one resume candidate no live lease holds (least recently updated first), or None.

        Runs in its own transaction; of concurrent claimers of one agent exactly one wins.
        """
        ...

    def extend(self, lease: RunnerLease, /, *, lease_for: dt.timedelta) -> RunnerLease:
        """Extend a lease still held to now + ``lease_for``; else ``LeaseLostError``."""
        ...

    def release(self, lease: RunnerLease, /) -> bool:
        """Give the agent up; False when the lease was already lost (nothing changed)."""
        ...


class AgentStateStore(AgentStates, AgentListing, AgentLeases, Protocol):
    """The whole agent state store: states in the ambient transaction, listings, and runner leases."""


class AsyncAgentStates(Protocol):
    """Agent states, read and written in the ambient transaction (async; see :class:`AgentStates`)."""

    async def get(self, id: str, /) -> AgentState:
        """Return the agent's state; raise ``EntityNotFoundError`` if there is none."""
        ...

    async def get_or_none(self, id: str, /) -> AgentState | None:
        """Return the agent's state, or None."""
        ...

    async def save(self, state: AgentState, /) -> AgentState:
        """Create (``version`` 0) or update (compare-and-set on ``version``); return the stored state."""
        ...

    async def save_owned(self, state: AgentState, lease: RunnerLease, /) -> AgentState:
        """:meth:`save`, only while ``lease`` still holds the agent; else ``LeaseLostError``."""
        ...


class AsyncAgentListing(Protocol):
    """Agent states listed by status, one page at a time (async; see :class:`AgentListing`)."""

    async def list_by_status(
        self, status: AgentStatus, /, *, limit: int = 100, after: str | None = None
    ) -> Page[AgentState]:
        """The agents in ``status``, ordered by id, one page at a time."""
        ...

    async def list_resume_candidates(self, *, limit: int = 100, after: str | None = None) -> Page[AgentState]:
        """The agents in :data:`~hexalchemy.rules.agent_limits.ACTIVE_STATUSES`, ordered by id, one page at a time."""
        ...


class AsyncAgentLeases(Protocol):
    """Runner leases, each call in its own transaction (async; see :class:`AgentLeases`).

    The calls are refused with ``TransactionUsageError`` inside a transaction of the
    store's manager. A lease is used by :meth:`AgentStates.save_owned`.
    """

    async def claim_resumable(self, runner: str, /, *, lease_for: dt.timedelta) -> RunnerLease | None:
        """Lease one resume candidate no live lease holds, or None (own transaction)."""
        ...

    async def extend(self, lease: RunnerLease, /, *, lease_for: dt.timedelta) -> RunnerLease:
        """Extend a lease still held to now + ``lease_for``; else ``LeaseLostError``."""
        ...

    async def release(self, lease: RunnerLease, /) -> bool:
        """Give the agent up; False when the lease was already lost."""
        ...


class AsyncAgentStateStore(AsyncAgentStates, AsyncAgentListing, AsyncAgentLeases, Protocol):
    """The whole agent state store (async; see :class:`AgentStateStore`)."""


class SignalQueue(Protocol):
    """Each agent's queue of signals, in the ambient transaction."""

    def send(self, signal: Signal, /) -> Signal:
        """Queue a signal and return it with its sequence.

        When the agent already has a signal with the same ``idempotency_key`` (pending or
        consumed), nothing is queued and that signal is returned. ``EntityNotFoundError``
        (``AgentState``, the agent id) when the agent has no state the transaction sees
        (committed, or saved earlier in it); nothing is queued.
        """
        ...

    def list_pending(self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0) -> list[Signal]:
        """The agent's pending signals with a sequence above ``after_sequence``, in sequence order.

        The next page starts after the last signal's ``sequence``.
        """
        ...

    def consume(
        self, agent_id: str, accepted_kinds: Iterable[SignalKind], /, *, maximum: int = 100
    ) -> list[Signal]:
        """Consume the longest prefix of pending signals whose kinds are accepted, up to ``maximum``.

        The first pending signal of another kind stops the prefix. The signals returned
        carry their ``consumed_at``; each signal is consumed exactly once, even by
        concurrent consumers (one of two overlapping transactions waits or fails with a
        conflict at commit).
        """
        ...

    def pending_count(self, agent_id: str, /) -> int:
        """How many signals of the agent are pending."""
        ...


class AsyncSignalQueue(Protocol):
    """Each agent's queue of signals (async; see :class:`SignalQueue`)."""

    async def send(self, signal: Signal, /) -> Signal:
        """Queue a signal (or find it by its idempotency key) and return it with its sequence."""
        ...

    async def list_pending(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Signal]:
        """The agent's pending signals with a sequence above ``after_sequence``, in sequence order."""
        ...

    async def consume(
        self, agent_id: str, accepted_kinds: Iterable[SignalKind], /, *, maximum: int = 100
    ) -> list[Signal]:
        """Consume the longest prefix of pending signals whose kinds are accepted, up to ``maximum``."""
        ...

    async def pending_count(self, agent_id: str, /) -> int:
        """How many signals of the agent are pending."""
        ...


class EvidenceWriter(Protocol):
    """Appends to each agent's hash-chained evidence, in the ambient transaction."""

    def append(self, entry: Evidence, /) -> Evidence:
        """Append one entry; return it with its sequence, previous_hash and hash."""
        ...

    def append_all(self, entries: Iterable[Evidence], /) -> list[Evidence]:
        """Append entries in order (each agent's chain continues in that order); return them stored.

        All or nothing: ``DuplicateEntityError`` for an id already stored, and
        ``EntityNotFoundError`` (``AgentState``, the agent id) for the first entry, in the
        batch's order, whose agent has no state the transaction sees (committed, or saved
        earlier in it); either way no entry is written.
        """
        ...


class EvidenceReader(Protocol):
    """Reads and verifies each agent's evidence, in the ambient transaction."""

    def get(self, id: uuid.UUID, /) -> Evidence:
        """Return the entry with this id; raise ``EntityNotFoundError`` if there is none."""
        ...

    def list_by_agent(self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0) -> list[Evidence]:
        """The agent's entries with a sequence above ``after_sequence``, in append order."""
        ...

    def list_by_manifest_ref(
        self, manifest_ref: str, /, *, limit: int = 100, after: str | None = None
    ) -> Page[Evidence]:
        """The entries with this ``manifest_ref`` (any agent), ordered by id, one page at a time."""
        ...

    def last(self, agent_id: str, /, *, kind: str | EvidenceKind | None = None) -> Evidence | None:
        """The agent's entry with the highest sequence (of this ``kind``, when given), or None.

        One read, however long the log: what a resume needs (the last ``action_boundary``;
        see :func:`hexalchemy.agents.decide_from_log`).
        """
        ...

    def verify(self, agent_id: str, /) -> VerifyResult:
        """Check the agent's whole chain with :func:`hexalchemy.rules.verify_chain`, and that it ends at the last entry appended.

        The second check catches entries deleted from the end of the chain, which the chain
        alone cannot show.
        """
        ...


class EvidenceLog(EvidenceWriter, EvidenceReader, Protocol):
    """Each agent's append-only, hash-chained evidence, in the ambient transaction."""


class AsyncEvidenceWriter(Protocol):
    """Appends to each agent's hash-chained evidence (async; see :class:`EvidenceWriter`)."""

    async def append(self, entry: Evidence, /) -> Evidence:
        """Append one entry; return it with its sequence, previous_hash and hash."""
        ...

    async def append_all(self, entries: Iterable[Evidence], /) -> list[Evidence]:
        """Append entries in order; return them stored."""
        ...


class AsyncEvidenceReader(Protocol):
    """Reads and verifies each agent's evidence (async; see :class:`EvidenceReader`)."""

    async def get(self, id: uuid.UUID, /) -> Evidence:
        """Return the entry with this id; raise ``EntityNotFoundError`` if there is none."""
        ...

    async def list_by_agent(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Evidence]:
        """The agent's entries with a sequence above ``after_sequence``, in append order."""
        ...

    async def list_by_manifest_ref(
        self, manifest_ref: str, /, *, limit: int = 100, after: str | None = None
    ) -> Page[Evidence]:
        """The entries with this ``manifest_ref`` (any agent), ordered by id, one page at a time."""
        ...

    async def last(self, agent_id: str, /, *, kind: str | EvidenceKind | None = None) -> Evidence | None:
        """The agent's entry with the highest sequence (of this ``kind``, when given), or None."""
        ...

    async def verify(self, agent_id: str, /) -> VerifyResult:
        """Check the agent's whole chain, and that it ends at the last entry appended."""
        ...


class AsyncEvidenceLog(AsyncEvidenceWriter, AsyncEvidenceReader, Protocol):
    """Each agent's append-only, hash-chained evidence (async; see :class:`EvidenceLog`)."""
