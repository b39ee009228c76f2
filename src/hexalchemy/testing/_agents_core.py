"""The in-memory agent stores' logic (private): :class:`StateCore`, :class:`SignalCore`, :class:`EvidenceCore`.

Synchronous classes over the in-memory transaction machinery of
:mod:`hexalchemy.testing.memory`; the public stores (:mod:`hexalchemy.testing.agents`)
are thin shells over them, written once, async, in ``_async/agents.py`` and generated
into ``_sync/agents.py``. :class:`Tamper` is public (re-exported by
:mod:`hexalchemy.testing.agents`).
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import uuid
from collections.abc import Callable, Iterable
from typing import Final, TypeVar, cast

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    ConfigError,
    DuplicateEntityError,
    EntityNotFoundError,
    EntitySpec,
    Evidence,
    EvidenceKind,
    InvalidAgentDataError,
    LeaseLostError,
    Page,
    RunnerLease,
    Signal,
    SignalKind,
    TransactionUsageError,
    VerifyResult,
    VersionConflictError,
)
from hexalchemy.rules import (
    chain_evidence,
    check_after_sequence,
    check_agent_id,
    check_callable,
    check_cursor,
    check_evidence_kind,
    check_instance,
    check_lease_for,
    check_limit,
    check_maximum,
    check_positive_int,
    check_runner,
    check_runner_lease,
    check_signal_kinds,
    check_uuid,
    clock_time,
    prepare_entries,
    validate_agent_state,
    validate_signal,
    verify_chain,
)
from hexalchemy.rules.agent_limits import ACTIVE_STATUSES
from hexalchemy.rules.arguments import MAX_BIGINT
from hexalchemy.testing._memory_core import MISSING, TransactionCore, TxState

__all__ = ["Clock", "Tamper"]

R = TypeVar("R")

Clock = Callable[[], dt.datetime]


class Tamper(enum.Enum):
    """How :meth:`InMemoryEvidenceLog.tamper` damages a committed entry."""

    EDIT = "edit"
    """Change the entry's payload, keeping its hash."""
    DELETE = "delete"
    """Remove the entry."""
    REORDER = "reorder"
    """Swap the entry with the next one (their sequence numbers are swapped)."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _now(clock: Clock) -> dt.datetime:
    return clock_time(clock)


def _clock(clock: object) -> Clock:
    """The store's clock: ``clock`` if callable, the UTC wall clock for None; else ``ConfigError``."""
    return _utcnow if clock is None else check_callable("clock", clock, error=ConfigError)


# -- stored rows ------------------------------------------------------------------------------


@attrs.frozen
class _StateRow:
    id: str
    version: int
    state: AgentState


@attrs.frozen
class _LeaseRow:
    agent_id: str
    runner: str
    token: uuid.UUID
    expires_at: dt.datetime


@attrs.frozen
class _SignalRow:
    key: tuple[str, int]
    version: int
    signal: Signal


@attrs.frozen
class _EvidenceRow:
    key: tuple[str, int]
    version: int
    entry: Evidence


@attrs.frozen
class _ChainHeadRow:
    """The last entry an agent's log appended, kept apart from the entries (as the SQL counters row)."""

    agent_id: str
    version: int
    sequence: int
    hash: str


_STATES: Final = EntitySpec(_StateRow, key="id", version="version", key_type=str)
_SIGNALS: Final = EntitySpec(_SignalRow, key="key", version="version", key_type=tuple[str, int])
_EVIDENCE: Final = EntitySpec(_EvidenceRow, key="key", version="version", key_type=tuple[str, int])
_CHAIN_HEADS: Final = EntitySpec(_ChainHeadRow, key="agent_id", version="version", key_type=str)


def _visible(core: TransactionCore, state: TxState | None, cls: type[R]) -> dict[object, R]:
    """The rows of ``cls`` as the transaction sees them (its writes over committed); lock held."""
    rows = dict(core.committed.get(cls, {}))
    if state is not None:
        for layer in state.layers:
            for (entity_type, key), value in layer.writes.items():
                if entity_type is not cls:
                    continue
                if value is MISSING:
                    rows.pop(key, None)
                else:
                    rows[key] = value
    return cast(dict[object, R], rows)


def _require_agents(core: TransactionCore, state: TxState, agent_ids: Iterable[str]) -> None:
    """Raise ``EntityNotFoundError(AgentState, id)`` for the first agent with no state the transaction sees.

    The in-memory twin of the SQL tables' foreign keys to the states table (lock held).
    """
    states = _visible(core, state, _StateRow)
    for agent_id in agent_ids:
        if agent_id not in states:
            raise EntityNotFoundError(AgentState, agent_id)


def _page(items: list[R], limit: int, cursor: Callable[[R], str]) -> Page[R]:
    """The first ``limit`` of ``items`` (sorted, after the cursor), with the next cursor if more follow."""
    shown = items[:limit]
    more = len(items) > limit
    return Page(tuple(shown), cursor(shown[-1]) if more and shown else None)


# -- agent states -------------------------------------------------------------------------------


class StateCore:
    __slots__ = ("_core", "_clock")

    def __init__(self, core: TransactionCore, clock: Clock | None) -> None:
        self._core = core
        self._clock: Clock = _clock(clock)

    def get_or_none(self, id: str) -> AgentState | None:
        check_agent_id(id, "id")
        state = self._core.require(AgentState, write=False)
        with self._core.lock:
            row = _visible(self._core, state, _StateRow).get(id)
        return None if row is None else copy.deepcopy(row.state)

    def get(self, id: str) -> AgentState:
        found = self.get_or_none(id)
        if found is None:
            raise EntityNotFoundError(AgentState, id)
        return found

    def _save(self, given: AgentState, lease: RunnerLease | None) -> AgentState:
        validated = validate_agent_state(given)
        state = self._core.require(AgentState, write=True)
        now = _now(self._clock)
        with self._core.lock:
            if lease is not None:
                self._check_lease(lease, now)
                if lease.agent_id != validated.id:
                    raise InvalidAgentDataError(
                        "lease", lease.agent_id, f"holds another agent than {validated.id!r}"
                    )
            current = _visible(self._core, state, _StateRow).get(validated.id)
            if validated.version == 0:
                if current is not None:
                    raise DuplicateEntityError(AgentState, validated.id)
                created_at = now
            else:
                if current is None:
                    raise EntityNotFoundError(AgentState, validated.id)
                if current.version != validated.version:
                    raise VersionConflictError(AgentState, validated.id, validated.version, current.version)
                created_at = cast(dt.datetime, current.state.created_at)
            stored = attrs.evolve(
                validated, created_at=created_at, updated_at=now, version=validated.version + 1
            )
            self._core.write(state, _STATES, stored.id, _StateRow(stored.id, stored.version, stored))
        return copy.deepcopy(stored)

    def save(self, given: AgentState) -> AgentState:
        return self._save(given, None)

    def save_owned(self, given: AgentState, lease: RunnerLease) -> AgentState:
        return self._save(given, check_runner_lease(lease))

    def _list(self, statuses: frozenset[AgentStatus], limit: int, after: str | None) -> Page[AgentState]:
        check_limit(limit)
        check_cursor(after)
        state = self._core.require(AgentState, write=False)
        with self._core.lock:
            rows = _visible(self._core, state, _StateRow)
        items = sorted(
            (
                row.state
                for row in rows.values()
                if row.state.status in statuses and (after is None or row.id > after)
            ),
            key=lambda item: item.id,
        )
        page = _page(items, limit, lambda item: item.id)
        return Page(tuple(copy.deepcopy(item) for item in page.items), page.next_cursor)

    def list_by_status(self, status: AgentStatus, limit: int, after: str | None) -> Page[AgentState]:
        if not is_instance(status, AgentStatus):
            raise InvalidAgentDataError("status", status, "must be an AgentStatus")
        return self._list(frozenset({status}), limit, after)

    def list_resume_candidates(self, limit: int, after: str | None) -> Page[AgentState]:
        return self._list(ACTIVE_STATUSES, limit, after)

    # -- leases (each call is its own transaction) ------------------------------------------------

    def _start(self) -> dt.datetime:
        if self._core.in_transaction():
            raise TransactionUsageError(
                "claim_resumable, extend and release run in their own transaction; "
                "call them outside the transactions of the store's manager"
            )
        return _now(self._clock)

    def _leases(self) -> dict[str, _LeaseRow]:
        return cast(dict[str, _LeaseRow], self._core.committed.setdefault(_LeaseRow, {}))

    def _check_lease(self, lease: RunnerLease, now: dt.datetime) -> None:
        """Raise LeaseLostError unless ``lease`` still holds its agent (lock held)."""
        row = self._leases().get(lease.agent_id)
        if row is None or row.token != lease.token:
            raise LeaseLostError(
                lease.agent_id, lease.runner, "another runner claimed the agent, or it was released"
            )
        if row.expires_at <= now:
            raise LeaseLostError(lease.agent_id, lease.runner, "the lease expired")

    def claim_resumable(self, runner: str, lease_for: dt.timedelta) -> RunnerLease | None:
        check_runner(runner)
        lease_for = check_lease_for(lease_for)
        now = self._start()
        with self._core.lock:
            leases = self._leases()
            candidates = sorted(
                (
                    row.state
                    for row in cast(dict[str, _StateRow], self._core.committed.get(_StateRow, {})).values()
                    if row.state.status in ACTIVE_STATUSES
                    and (row.id not in leases or leases[row.id].expires_at <= now)
                ),
                key=lambda item: (cast(dt.datetime, item.updated_at), item.id),
            )
            if not candidates:
                return None
            chosen = candidates[0]
            row = _LeaseRow(chosen.id, runner, uuid.uuid4(), now + lease_for)
            leases[chosen.id] = row
        return RunnerLease(
            agent_id=row.agent_id,
            runner=row.runner,
            token=row.token,
            expires_at=row.expires_at,
            state=copy.deepcopy(chosen),
        )

    def extend(self, lease: RunnerLease, lease_for: dt.timedelta) -> RunnerLease:
        lease, lease_for = check_runner_lease(lease), check_lease_for(lease_for)
        now = self._start()
        with self._core.lock:
            self._check_lease(lease, now)
            leases = self._leases()
            leases[lease.agent_id] = attrs.evolve(leases[lease.agent_id], expires_at=now + lease_for)
        return attrs.evolve(lease, expires_at=now + lease_for)

    def release(self, lease: RunnerLease) -> bool:
        lease = check_runner_lease(lease)
        now = self._start()
        with self._core.lock:
            try:
                self._check_lease(lease, now)
            except LeaseLostError:
                return False
            del self._leases()[lease.agent_id]
        return True


# -- signals --------------------------------------------------------------------------------------


class SignalCore:
    __slots__ = ("_core", "_clock")

    def __init__(self, core: TransactionCore, clock: Clock | None) -> None:
        self._core = core
        self._clock: Clock = _clock(clock)

    def _rows(self, state: TxState, agent_id: str) -> list[_SignalRow]:
        """The agent's signals in sequence order (lock held)."""
        rows = _visible(self._core, state, _SignalRow)
        return sorted((row for row in rows.values() if row.key[0] == agent_id), key=lambda row: row.key[1])

    def send(self, given: Signal) -> Signal:
        if not is_instance(given, Signal):
            raise InvalidAgentDataError("signal", given, "must be a Signal")
        signal = validate_signal(given)
        state = self._core.require(Signal, write=True)
        with self._core.lock:
            _require_agents(self._core, state, (signal.agent_id,))
            rows = self._rows(state, signal.agent_id)
            for row in rows:
                if (
                    signal.idempotency_key is not None
                    and row.signal.idempotency_key == signal.idempotency_key
                ):
                    return copy.deepcopy(row.signal)
            if any(row.signal.id == signal.id for row in _visible(self._core, state, _SignalRow).values()):
                raise DuplicateEntityError(Signal, signal.id)
            sequence = rows[-1].key[1] + 1 if rows else 1
            stored = attrs.evolve(signal, sequence=sequence)
            key = (signal.agent_id, sequence)
            self._core.write(state, _SIGNALS, key, _SignalRow(key, 1, stored))
        return copy.deepcopy(stored)

    def _pending(self, agent_id: str, write: bool) -> tuple[TxState, list[_SignalRow]]:
        check_agent_id(agent_id)
        state = self._core.require(Signal, write=write)
        return state, [row for row in self._rows(state, agent_id) if row.signal.consumed_at is None]

    def list_pending(self, agent_id: str, limit: int, after_sequence: int) -> list[Signal]:
        check_limit(limit)
        check_after_sequence(after_sequence)
        with self._core.lock:
            _, rows = self._pending(agent_id, False)
        shown = [row.signal for row in rows if row.signal.sequence > after_sequence][:limit]
        return copy.deepcopy(shown)

    def pending_count(self, agent_id: str) -> int:
        with self._core.lock:
            _, rows = self._pending(agent_id, False)
        return len(rows)

    def consume(self, agent_id: str, accepted_kinds: Iterable[SignalKind], maximum: int) -> list[Signal]:
        check_maximum(maximum)
        check_agent_id(agent_id)
        accepted = frozenset(check_signal_kinds(accepted_kinds))
        state = self._core.require(Signal, write=True)
        now = _now(self._clock)
        consumed: list[Signal] = []
        with self._core.lock:
            _, rows = self._pending(agent_id, True)
            for row in rows:
                if len(consumed) >= maximum or row.signal.kind not in accepted:
                    break
                signal = attrs.evolve(row.signal, consumed_at=now)
                self._core.write(state, _SIGNALS, row.key, _SignalRow(row.key, row.version + 1, signal))
                consumed.append(signal)
        return copy.deepcopy(consumed)


# -- evidence -------------------------------------------------------------------------------------


class EvidenceCore:
    __slots__ = ("_core",)

    def __init__(self, core: TransactionCore) -> None:
        self._core = core

    def _entries(self, state: TxState, agent_id: str) -> list[Evidence]:
        rows = _visible(self._core, state, _EvidenceRow)
        return [
            row.entry
            for row in sorted(
                (row for row in rows.values() if row.key[0] == agent_id), key=lambda row: row.key[1]
            )
        ]

    def append_all(self, given: Iterable[Evidence]) -> list[Evidence]:
        entries = prepare_entries(given)
        state = self._core.require(Evidence, write=True)
        stored: list[Evidence] = []
        with self._core.lock:
            existing = {row.entry.id for row in _visible(self._core, state, _EvidenceRow).values()}
            for entry in entries:
                if entry.id in existing:
                    raise DuplicateEntityError(Evidence, entry.id)
            _require_agents(self._core, state, (entry.agent_id for entry in entries))
            heads: dict[str, tuple[int, str | None]] = {}
            for entry in entries:
                if entry.agent_id not in heads:
                    chain = self._entries(state, entry.agent_id)
                    heads[entry.agent_id] = (chain[-1].sequence, chain[-1].hash) if chain else (0, None)
                sequence, previous = heads[entry.agent_id]
                chained = chain_evidence(entry, sequence + 1, previous)
                heads[entry.agent_id] = (chained.sequence, chained.hash)
                stored.append(chained)
            for entry in stored:
                key = (entry.agent_id, entry.sequence)
                self._core.write(state, _EVIDENCE, key, _EvidenceRow(key, 1, entry))
            # after the entries: two overlapping appenders fail at commit on the first entry's
            # key (DuplicateEntityError), before the head's version is compared
            for agent_id, (sequence, head) in heads.items():
                assert head is not None
                known = self._core.visible(state, _ChainHeadRow, agent_id)
                version = known.version + 1 if isinstance(known, _ChainHeadRow) else 1
                self._core.write(
                    state, _CHAIN_HEADS, agent_id, _ChainHeadRow(agent_id, version, sequence, head)
                )
        return copy.deepcopy(stored)

    def get(self, id: uuid.UUID) -> Evidence:
        check_uuid("id", id, error=InvalidAgentDataError)
        state = self._core.require(Evidence, write=False)
        with self._core.lock:
            for row in _visible(self._core, state, _EvidenceRow).values():
                if row.entry.id == id:
                    return copy.deepcopy(row.entry)
        raise EntityNotFoundError(Evidence, id)

    def list_by_agent(self, agent_id: str, limit: int, after_sequence: int) -> list[Evidence]:
        check_agent_id(agent_id)
        check_limit(limit)
        check_after_sequence(after_sequence)
        state = self._core.require(Evidence, write=False)
        with self._core.lock:
            entries = self._entries(state, agent_id)
        return copy.deepcopy([entry for entry in entries if entry.sequence > after_sequence][:limit])

    def last(self, agent_id: str, kind: str | EvidenceKind | None) -> Evidence | None:
        check_agent_id(agent_id)
        wanted = None if kind is None else check_evidence_kind(kind)
        state = self._core.require(Evidence, write=False)
        with self._core.lock:
            entries = self._entries(state, agent_id)
        for entry in reversed(entries):
            if wanted is None or entry.kind == wanted:
                return copy.deepcopy(entry)
        return None

    def list_by_manifest_ref(self, manifest_ref: str, limit: int, after: str | None) -> Page[Evidence]:
        check_agent_id(manifest_ref, "manifest_ref")
        check_limit(limit)
        cursor = check_cursor(after, uuid.UUID)
        after_id = None if cursor is None else uuid.UUID(cursor)
        state = self._core.require(Evidence, write=False)
        with self._core.lock:
            rows = _visible(self._core, state, _EvidenceRow)
        items = sorted(
            (
                row.entry
                for row in rows.values()
                if row.entry.manifest_ref == manifest_ref and (after_id is None or row.entry.id > after_id)
            ),
            key=lambda entry: entry.id,
        )
        page = _page(items, limit, lambda entry: str(entry.id))
        return Page(tuple(copy.deepcopy(item) for item in page.items), page.next_cursor)

    def verify(self, agent_id: str) -> VerifyResult:
        check_agent_id(agent_id)
        state = self._core.require(Evidence, write=False)
        with self._core.lock:
            entries = self._entries(state, agent_id)
            known = self._core.visible(state, _ChainHeadRow, agent_id)
        recorded = (known.sequence, known.hash) if isinstance(known, _ChainHeadRow) else (0, None)
        return verify_chain(entries, recorded_head=recorded)

    def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        check_agent_id(agent_id)
        check_positive_int("sequence", sequence, maximum=MAX_BIGINT - 1)
        check_instance("how", how, Tamper)
        with self._core.lock:
            table = cast(dict[object, _EvidenceRow], self._core.committed.setdefault(_EvidenceRow, {}))
            key = (agent_id, sequence)
            row = table.get(key)
            following = (agent_id, sequence + 1)
            if row is None or (how is Tamper.REORDER and following not in table):
                missing = key if row is None else following
                raise EntityNotFoundError(Evidence, missing)
            if how is Tamper.EDIT:
                table[key] = attrs.evolve(row, entry=attrs.evolve(row.entry, payload={"tampered": True}))
            elif how is Tamper.DELETE:
                del table[key]
            else:
                other = table[following]
                table[key] = attrs.evolve(other, key=key, entry=attrs.evolve(other.entry, sequence=sequence))
                table[following] = attrs.evolve(
                    row, key=following, entry=attrs.evolve(row.entry, sequence=sequence + 1)
                )
