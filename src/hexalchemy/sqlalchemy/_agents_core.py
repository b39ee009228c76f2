"""The agent stores' logic, as sans-I/O plans shared by the sync and async adapters.

Statements are built once per store, by its database's backend. Each operation is a
generator yielding :class:`~hexalchemy.sqlalchemy._operations.Call` steps; the public
classes in :mod:`hexalchemy.sqlalchemy.agents` only drive them. The hot statements of an
action boundary (the state's compare-and-set, consume, the numbering, the evidence insert
and head) are prepared by the backend (``Backend.prepare``): on psycopg they are compiled
once to driver SQL and sent on the psycopg cursor directly, skipping SQLAlchemy's
per-execution work; the same statements, with the same named parameters, go through
SQLAlchemy on SQLite, when the engine echoes, or while a cursor-execute listener watches.

Clock: every time written or compared (``updated_at``, lease expiries, ``consumed_at``)
comes from the store's ``clock`` (Python's UTC clock unless one is given), the same on
PostgreSQL and SQLite, so a lease check and the lease it checks use one clock.

Numbering: a writer of signals or evidence first upserts the agent's row in the sequences
table (``ON CONFLICT DO UPDATE ... RETURNING``), which locks that row until the writer's
transaction ends. Writers of one agent therefore number and chain one after the other, in
commit order: sequences have no gaps and the evidence chain never forks.

Agents with no state: the signals, evidence and sequences tables have foreign keys to the
states table. A write for an agent with no state is refused *before* it reaches them, as
duplicates are, so that the caller's transaction stays usable (a failed statement aborts a
PostgreSQL transaction): the numbering upsert selects its row from the states table
(``INSERT ... SELECT ... WHERE id = :agent``), so it returns nothing and writes nothing for
such an agent, and the plan raises ``EntityNotFoundError(AgentState, agent_id)``. A batch
of evidence for several agents checks them all with one SELECT first. Should a foreign key
refuse a write all the same (a state deleted behind the library's back), the violation is
reported as the same ``EntityNotFoundError``.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

import attrs
from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    String,
    Uuid,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)

from hexalchemy._guards import is_instance
from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    ConstraintViolationError,
    DuplicateEntityError,
    EntityNotFoundError,
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
    canonical_json,
    chain_evidence,
    check_after_sequence,
    check_agent_id,
    check_cursor,
    check_evidence_kind,
    check_lease_for,
    check_limit,
    check_maximum,
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
from hexalchemy.sqlalchemy._agents_tables import AgentTables, agent_mappings
from hexalchemy.sqlalchemy._operations import Call, Plan
from hexalchemy.sqlalchemy._own_transaction import own_transaction
from hexalchemy.sqlalchemy._precompiled import JsonText, OwnConnection, Statement, statement_reader, utc
from hexalchemy.sqlalchemy.backend import Backend
from hexalchemy.sqlalchemy.transaction import TransactionCore, TransactionState
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = ["AgentStateCore", "Clock", "EvidenceLogCore", "SignalQueueCore", "utcnow"]

Clock = Callable[[], dt.datetime]

_RESUMABLE: Final = sorted(status.value for status in ACTIVE_STATUSES)
_MAX_INSERT_ROWS: Final = 32
"""An agent's entries in a batch are inserted by one multi-row ``INSERT`` up to this many, else by ``executemany``;
their ids are checked by one parameter each up to this many, else by one list (see ``_Sequences``)."""
_VERIFY_PAGE: Final = 500
"""Entries read per statement by ``verify``."""

R = TypeVar("R")


def utcnow() -> dt.datetime:
    """The default clock: now, in UTC."""
    return dt.datetime.now(dt.UTC)


def _now(clock: Clock) -> dt.datetime:
    return clock_time(clock)


@functools.cache
def _row_keys(index: int, names: tuple[str, ...]) -> tuple[str, ...]:
    """The parameter names of the ``index``-th row of a multi-row evidence ``INSERT`` of columns ``names``."""
    return tuple(f"hx_{index}_{name}" for name in names)


@functools.lru_cache(maxsize=256)
def _json_list(values: tuple[str, ...]) -> JsonText:
    """A tuple of str (an entry's ``sensitive_fields``, most often empty) as a JSON list."""
    return JsonText(canonical_json(values))


def _write(backend: Backend, plan: Plan[R], agent_id: str) -> Plan[R]:
    """Plan: run ``plan``, a write of ``agent_id``'s rows; a foreign key violation means it has no state."""
    try:
        return (yield from plan)
    except ConstraintViolationError as exc:
        if backend.is_foreign_key_violation(exc):
            raise EntityNotFoundError(AgentState, agent_id) from exc
        raise


class AgentStateCore:
    """The state store's statements and plans."""

    def __init__(self, tables: AgentTables, transactions: TransactionCore, engine: Any, clock: Clock) -> None:
        self.transactions = transactions
        self.engine = engine
        self.clock = clock
        backend = transactions.backend
        s = tables.states
        self.mapping = mapping = agent_mappings(tables).states
        # The mapping's generated conversion, without its value rules: validate_agent_state
        # checked the state first with the store's own, stricter ones.
        self.to_row = mapping.to_row_trusted
        columns = list(mapping.columns)
        by_id = s.c.id == bindparam("hx_id", type_=String())
        self.get_statement = select(*columns).where(by_id)
        self.insert_statement = backend.ignore_conflicts(backend.insert(s)).returning(s.c.id)
        cas = (by_id, s.c.version == bindparam("hx_expected", type_=Integer()))
        now = bindparam("hx_now", type_=UtcDateTime())
        token = bindparam("hx_token", type_=Uuid(as_uuid=True))
        held = (s.c.lease_token == token, s.c.lease_expires_at > now)
        dialect = transactions.dialect
        keys = [name for name in mapping.column_keys if name not in ("id", "created_at")]
        created_at = [s.c.created_at]
        self.update = backend.update_returning(s, cas, {}, created_at, dialect, keys)
        self.owned_update = backend.update_returning(s, (*cas, *held), {}, created_at, dialect, keys)
        # read after the compare-and-set met another version or lease: what it saw, not the snapshot
        self.lookup_statement = backend.read_latest(
            select(s.c.version, s.c.lease_token, s.c.lease_expires_at).where(by_id)
        )
        statuses: BindParameter[Any] = bindparam("hx_statuses", expanding=True)
        self.list_statement = (
            select(*columns)
            .where(s.c.status.in_(statuses), s.c.id > bindparam("hx_after", type_=String()))
            .order_by(s.c.id)
            .limit(bindparam("hx_limit", type_=Integer()))
        )
        candidate = (
            select(s.c.id)
            .where(s.c.status.in_(_RESUMABLE), or_(s.c.lease_token.is_(None), s.c.lease_expires_at <= now))
            .order_by(s.c.updated_at, s.c.id)
            .limit(1)
            # FOR NO KEY UPDATE (PostgreSQL): claimers exclude each other, but not the
            # writers of the agent's signals and evidence, whose foreign key checks hold a
            # KEY SHARE lock on the state until they commit.
            .with_for_update(skip_locked=True, key_share=True)
            .scalar_subquery()
        )
        until = bindparam("hx_until", type_=UtcDateTime())
        leasing = {
            "lease_owner": bindparam("hx_runner", type_=String()),
            "lease_token": token,
            "lease_expires_at": until,
        }
        # run on the store's own connection, through SQLAlchemy (no driver path)
        self.claim = backend.update_returning(
            s, [s.c.id == candidate], leasing, columns, dialect, driver_path=False
        )
        self.extend_ = backend.update_returning(
            s, [by_id, *held], {"lease_expires_at": until}, [s.c.lease_expires_at], dialect, driver_path=False
        )
        self.release_statement = (
            update(s).where(by_id, *held).values(lease_owner=None, lease_token=None, lease_expires_at=None)
        )

    # ------------------------------------------------------------------------------ reads
    def get_or_none(self, id: str) -> Plan[AgentState | None]:
        """Plan: the agent's state, or None."""
        state = self.transactions.require(AgentState)
        check_agent_id(id, "id")
        result = yield Call(state.connection.execute, (self.get_statement, {"hx_id": id}))
        row = result.first()
        return None if row is None else self.mapping.from_row(row)

    def get(self, id: str) -> Plan[AgentState]:
        """Plan: the agent's state, or ``EntityNotFoundError``."""
        found = yield from self.get_or_none(id)
        if found is None:
            raise EntityNotFoundError(AgentState, id)
        return found

    def list(self, statuses: Sequence[AgentStatus], limit: int, after: str | None) -> Plan[Page[AgentState]]:
        """Plan: one page of the agents in ``statuses``, ordered by id."""
        state = self.transactions.require(AgentState)
        check_limit(limit)
        start = check_cursor(after)
        parameters = {
            "hx_statuses": [status.value for status in statuses],
            "hx_after": "" if start is None else start,
            "hx_limit": limit + 1,
        }
        result = yield Call(state.connection.execute, (self.list_statement, parameters))
        states = self.mapping.from_rows(result.all())
        if len(states) > limit:
            return Page(tuple(states[:limit]), states[limit - 1].id)
        return Page(tuple(states), None)

    def list_by_status(self, status: AgentStatus, limit: int, after: str | None) -> Plan[Page[AgentState]]:
        """Plan: one page of the agents in ``status``."""
        if not is_instance(status, AgentStatus):
            raise InvalidAgentDataError("status", status, "must be an AgentStatus")
        return self.list([status], limit, after)

    def list_resume_candidates(self, limit: int, after: str | None) -> Plan[Page[AgentState]]:
        """Plan: one page of the resume candidates."""
        return self.list(sorted(ACTIVE_STATUSES, key=lambda status: status.value), limit, after)

    # ----------------------------------------------------------------------------- writes
    def _values(self, state: AgentState, now: dt.datetime) -> dict[str, Any]:
        """The state's row as saved now: the mapping's row, with ``updated_at`` now and the next version."""
        values = self.to_row(state)
        del values["created_at"]  # set at the first save, kept afterwards
        values["updated_at"] = now
        values["version"] = state.version + 1
        return values

    def save(self, state: AgentState, lease: RunnerLease | None = None) -> Plan[AgentState]:
        """Plan: insert (version 0) or compare-and-set update; with ``lease``, only while it holds."""
        transaction = self.transactions.require(AgentState, write=True)
        if not is_instance(state, AgentState):
            raise InvalidAgentDataError("state", state, "must be an AgentState")
        checked = validate_agent_state(state)
        if lease is not None:
            lease = check_runner_lease(lease)
            if lease.agent_id != checked.id:
                raise InvalidAgentDataError(
                    "lease", lease.agent_id, f"is a lease on another agent than {checked.id!r}"
                )
        now = _now(self.clock)
        values = self._values(checked, now)
        execute = transaction.connection.execute
        if checked.version == 0 and lease is None:
            values["created_at"] = now
            result = yield Call(execute, (self.insert_statement, values))
            if not result.all():
                raise DuplicateEntityError(AgentState, checked.id)
            return attrs.evolve(checked, created_at=now, updated_at=now, version=1)
        parameters = {**values, "hx_id": checked.id, "hx_expected": checked.version}
        del parameters["id"]
        if lease is None:
            rows = yield from self.update.run(transaction, parameters)
        else:
            parameters.update(hx_token=lease.token, hx_now=now)
            rows = yield from self.owned_update.run(transaction, parameters)
        if rows:
            return attrs.evolve(
                checked, created_at=utc(rows[0][0]), updated_at=now, version=checked.version + 1
            )
        found = yield Call(execute, (self.lookup_statement, {"hx_id": checked.id}))
        stored = found.all()
        if not stored:
            raise EntityNotFoundError(AgentState, checked.id)
        version, token, expires_at = stored[0]
        if lease is not None and (token != lease.token or expires_at is None or expires_at <= now):
            raise LeaseLostError(checked.id, lease.runner, _lost_reason(token, lease))
        if checked.version == 0:
            raise DuplicateEntityError(AgentState, checked.id)
        raise VersionConflictError(AgentState, checked.id, checked.version, version)

    # ----------------------------------------------------------------------------- leases
    def _own(self, work: Callable[[Any], Plan[Any]]) -> Plan[Any]:
        """Plan: run ``work(connection)`` in its own transaction (see :func:`own_transaction`)."""
        if self.transactions.state_or_none() is not None:
            raise TransactionUsageError(
                "claim_resumable, extend and release run in their own transaction; "
                "call them outside the transactions of the store's manager"
            )
        options = self.transactions.backend.own_transaction_options()
        return (yield from own_transaction(self.engine, options, work, label="agent state store"))

    def claim_resumable(self, runner: str, lease_for: dt.timedelta) -> Plan[RunnerLease | None]:
        """Plan: lease the least recently updated resume candidate whose lease is free or expired."""
        check_runner(runner)
        lease_for = check_lease_for(lease_for)
        return self._own(functools.partial(self._claim, runner=runner, lease_for=lease_for))

    def _claim(self, connection: Any, *, runner: str, lease_for: dt.timedelta) -> Plan[RunnerLease | None]:
        now = _now(self.clock)
        token = uuid.uuid4()
        parameters = {"hx_now": now, "hx_token": token, "hx_until": now + lease_for, "hx_runner": runner}
        rows = yield from self.claim.run(OwnConnection(connection), parameters)
        if not rows:
            return None
        state = self.mapping.from_row(rows[0])
        return RunnerLease(
            agent_id=state.id, runner=runner, token=token, expires_at=now + lease_for, state=state
        )

    def extend(self, lease: RunnerLease, lease_for: dt.timedelta) -> Plan[RunnerLease]:
        """Plan: move a held lease's expiry to now + ``lease_for``."""
        lease, lease_for = check_runner_lease(lease), check_lease_for(lease_for)
        return self._own(functools.partial(self._extend, lease=lease, lease_for=lease_for))

    def _extend(self, connection: Any, *, lease: RunnerLease, lease_for: dt.timedelta) -> Plan[RunnerLease]:
        now = _now(self.clock)
        parameters = {
            "hx_id": lease.agent_id,
            "hx_token": lease.token,
            "hx_now": now,
            "hx_until": now + lease_for,
        }
        rows = yield from self.extend_.run(OwnConnection(connection), parameters)
        if not rows:
            raise LeaseLostError(lease.agent_id, lease.runner, "the lease expired or another runner took it")
        return attrs.evolve(lease, expires_at=now + lease_for)

    def release(self, lease: RunnerLease) -> Plan[bool]:
        """Plan: clear a held lease; False when it was already lost."""
        lease = check_runner_lease(lease)
        return self._own(functools.partial(self._release, lease=lease))

    def _release(self, connection: Any, *, lease: RunnerLease) -> Plan[bool]:
        parameters = {"hx_id": lease.agent_id, "hx_token": lease.token, "hx_now": _now(self.clock)}
        result = yield Call(connection.execute, (self.release_statement, parameters))
        released: bool = result.rowcount == 1
        return released


def _lost_reason(token: uuid.UUID | None, lease: RunnerLease) -> str:
    if token is None:
        return "the agent is not leased"
    if token != lease.token:
        return "another runner holds the agent"
    return "the lease expired"


class _Sequences:
    """The per-agent counters: an upsert that locks the agent's row and numbers ``n`` items.

    The row is selected from the states table (``INSERT ... SELECT ... WHERE id = :agent
    ON CONFLICT DO UPDATE ... RETURNING``): for an agent with no state the statement
    writes nothing and returns no row (see :meth:`take`). Given evidence ids, it also writes
    nothing and returns no row when one of them is already in the evidence table, so one
    statement checks the ids and numbers them.

    The ids are checked by one bound parameter each (``id IN (:hx_id_0, ...)``, one
    statement per number of ids, up to :data:`_MAX_INSERT_ROWS`), not by one array
    parameter: PostgreSQL plans a prepared statement once for all values, and an array
    parameter of unknown length is costed as ten lookups, which makes its generic plan
    scan the whole evidence table instead of probing its primary key. More ids than that
    go as one list (an array on PostgreSQL).
    """

    def __init__(self, tables: AgentTables, transactions: TransactionCore, column: str) -> None:
        self.tables = tables
        self.column = column
        self.backend = transactions.backend
        self.dialect = transactions.dialect
        self.next = self._statement(None)
        self.checking: dict[int, Statement] = {}
        """Per number of ids (0: more than :data:`_MAX_INSERT_ROWS`, as one list), the upsert that also checks them."""

    def _statement(self, taken: Any) -> Statement:
        """The numbering upsert; given ``taken`` (a condition on evidence rows), it writes nothing when a row meets it."""
        backend = self.backend
        s, q = self.tables.states, self.tables.sequences
        count = bindparam("hx_count", type_=BigInteger())
        counters = [
            count if name == self.column else literal(0, BigInteger())
            for name in ("signal_sequence", "evidence_sequence")
        ]
        conditions = [s.c.id == bindparam("hx_agent", type_=String())]
        if taken is not None:
            conditions.append(~exists().where(taken))
        row = select(s.c.id, *counters, null()).where(*conditions)
        column = self.column
        statement = backend.upsert(
            backend.insert(q).from_select(
                [q.c.agent_id, q.c.signal_sequence, q.c.evidence_sequence, q.c.evidence_head], row
            ),
            [q.c.agent_id],
            lambda proposed: {column: q.c[column] + proposed[column]},
        ).returning(q.c[column], q.c.evidence_head)
        return backend.prepare(statement, self.dialect)

    def _checking(self, ids: Sequence[uuid.UUID]) -> tuple[Statement, dict[str, Any]]:
        """The upsert that also checks ``ids``, and the parameters that give them."""
        each = len(ids) <= _MAX_INSERT_ROWS
        key = len(ids) if each else 0
        statement = self.checking.get(key)
        if statement is None:
            evidence = self.tables.evidence
            if each:
                names = [bindparam(f"hx_id_{index}", type_=Uuid(as_uuid=True)) for index in range(key)]
                statement = self._statement(evidence.c.id.in_(names))
            else:
                statement = self._statement(self.backend.one_of(evidence.c.id, "hx_ids"))
            self.checking[key] = statement
        if each:
            return statement, {f"hx_id_{index}": id for index, id in enumerate(ids)}
        return statement, {"hx_ids": list(ids)}

    def take(
        self, state: TransactionState, agent_id: str, count: int, ids: Sequence[uuid.UUID] = ()
    ) -> Plan[tuple[int, str | None] | None]:
        """Plan: take ``count`` numbers for the agent; return (the last one, the evidence head).

        None when nothing was written: the agent has no state, or one of ``ids`` (evidence
        ids) is taken.
        """
        statement = self.next
        parameters: dict[str, Any] = {"hx_agent": agent_id, "hx_count": count}
        if ids:
            statement, given = self._checking(ids)
            parameters.update(given)
        rows = yield from _write(self.backend, statement.run(state, parameters), agent_id)
        if not rows:
            return None
        last, head = rows[0]
        return last, head


class SignalQueueCore:
    """The signal queue's statements and plans (ambient transaction)."""

    def __init__(self, tables: AgentTables, transactions: TransactionCore, clock: Clock) -> None:
        self.transactions = transactions
        self.clock = clock
        self.backend = backend = transactions.backend
        g, q = tables.signals, tables.sequences
        self.mapping = mapping = agent_mappings(tables).signals
        # validate_signal checked the signal first, with the store's own stricter rules
        self.to_row = mapping.to_row_trusted
        self.read = statement_reader(mapping)
        self.sequences = _Sequences(tables, transactions, "signal_sequence")
        dialect = transactions.dialect
        agent = bindparam("hx_agent", type_=String())
        self.give_back_statement = (
            update(q).where(q.c.agent_id == agent).values(signal_sequence=q.c.signal_sequence - 1)
        )
        columns = list(mapping.columns)
        self.insert_statement = backend.ignore_conflicts(backend.insert(g)).returning(g.c.id)
        self.insert = backend.prepare(self.insert_statement, dialect, mapping.column_keys)
        self.by_key_statement = select(*columns).where(
            g.c.agent_id == agent, g.c.idempotency_key == bindparam("hx_key", type_=String())
        )
        # after the insert skipped a conflict: the signal another sender committed meanwhile
        self.by_key_latest_statement = backend.read_latest(self.by_key_statement)
        pending = (g.c.agent_id == agent, g.c.consumed_at.is_(None))
        self.pending_statement = (
            select(*columns)
            .where(*pending, g.c.sequence > bindparam("hx_after", type_=Integer()))
            .order_by(g.c.sequence)
            .limit(bindparam("hx_limit", type_=Integer()))
        )
        self.count_statement = select(func.count()).select_from(g).where(*pending)
        # consume, in one statement: lock the first pending signals in sequence order (a
        # consumer that waits re-checks them and skips those consumed meanwhile), keep the
        # prefix before the first signal of a kind not accepted, and mark it consumed.
        accepted = case((backend.one_of(g.c.kind, "hx_kinds"), 1), else_=0)
        locked = (
            select(g.c.id, g.c.sequence, accepted.label("accepted"))
            .where(*pending)
            .order_by(g.c.sequence)
            .limit(bindparam("hx_maximum", type_=Integer()))
            .with_for_update(of=g)
            .cte("hx_pending")
        )
        locked = backend.materialized(locked)
        prefix = select(
            locked.c.id, func.min(locked.c.accepted).over(order_by=locked.c.sequence).label("in_prefix")
        ).subquery("hx_prefix")
        self.consume_ = backend.update_returning(
            g,
            [g.c.id == prefix.c.id, prefix.c.in_prefix == 1],
            {"consumed_at": bindparam("hx_now", type_=UtcDateTime())},
            columns,
            dialect,
        )

    def send(self, signal: Signal) -> Plan[Signal]:
        """Plan: number and queue a signal, or return the agent's signal with the same idempotency key.

        ``EntityNotFoundError(AgentState, agent_id)`` when the agent has no state.
        """
        state = self.transactions.require(Signal, write=True)
        if not is_instance(signal, Signal):
            raise InvalidAgentDataError("signal", signal, "must be a Signal")
        checked = validate_signal(signal)
        execute = state.connection.execute
        if checked.idempotency_key is not None:
            existing = yield from self._existing(state, checked)
            if existing is not None:
                return existing
        numbered = yield from self.sequences.take(state, checked.agent_id, 1)
        if numbered is None:
            raise EntityNotFoundError(AgentState, checked.agent_id)
        sequence = numbered[0]
        row = self.to_row(checked)
        row["sequence"] = sequence
        inserted = yield from _write(self.backend, self.insert.run(state, row), checked.agent_id)
        if inserted:
            return attrs.evolve(checked, sequence=sequence)
        yield from _write(
            self.backend,
            self.backend.skipped_rows(state.connection, primary_key_only=False),
            checked.agent_id,
        )
        # A concurrent sender committed the same idempotency key (or this id) first.
        yield Call(execute, (self.give_back_statement, {"hx_agent": checked.agent_id}))
        existing = yield from self._existing(state, checked, latest=True)
        if existing is None:
            raise DuplicateEntityError(Signal, checked.id)
        return existing

    def _existing(
        self, state: TransactionState, signal: Signal, *, latest: bool = False
    ) -> Plan[Signal | None]:
        if signal.idempotency_key is None:
            return None
        parameters = {"hx_agent": signal.agent_id, "hx_key": signal.idempotency_key}
        statement = self.by_key_latest_statement if latest else self.by_key_statement
        result = yield Call(state.connection.execute, (statement, parameters))
        row = result.first()
        return None if row is None else self.mapping.from_row(row)

    def list_pending(self, agent_id: str, limit: int, after_sequence: int) -> Plan[list[Signal]]:
        """Plan: the agent's pending signals after ``after_sequence``, in sequence order."""
        state = self.transactions.require(Signal)
        check_agent_id(agent_id)
        check_limit(limit)
        check_after_sequence(after_sequence)
        parameters = {"hx_agent": agent_id, "hx_after": after_sequence, "hx_limit": limit}
        result = yield Call(state.connection.execute, (self.pending_statement, parameters))
        return self.mapping.from_rows(result.all())

    def pending_count(self, agent_id: str) -> Plan[int]:
        """Plan: how many signals of the agent are pending."""
        state = self.transactions.require(Signal)
        check_agent_id(agent_id)
        result = yield Call(state.connection.execute, (self.count_statement, {"hx_agent": agent_id}))
        count: int = result.scalar_one()
        return count

    def consume(
        self, agent_id: str, accepted_kinds: Iterable[SignalKind], maximum: int
    ) -> Plan[list[Signal]]:
        """Plan: consume the longest accepted prefix of the agent's pending signals, in one statement."""
        state = self.transactions.require(Signal, write=True)
        check_agent_id(agent_id)
        kinds = check_signal_kinds(accepted_kinds)
        check_maximum(maximum)
        if not kinds:
            return []
        parameters = {
            "hx_agent": agent_id,
            "hx_kinds": sorted({kind.value for kind in kinds}),
            "hx_maximum": maximum,
            "hx_now": _now(self.clock),
        }
        rows = yield from self.consume_.run(state, parameters)
        read = self.read
        return sorted([read(row) for row in rows], key=lambda signal: signal.sequence)


class EvidenceLogCore:
    """The evidence log's statements and plans (ambient transaction)."""

    def __init__(self, tables: AgentTables, transactions: TransactionCore) -> None:
        self.transactions = transactions
        e, q, s = tables.evidence, tables.sequences, tables.states
        self.tables = tables
        self.backend = backend = transactions.backend
        self.dialect = transactions.dialect
        self.mapping = mapping = agent_mappings(tables).evidence
        # prepare_entries checked every entry first, with the log's own stricter rules
        self.to_row = mapping.to_row_trusted
        self.names: tuple[str, ...] = mapping.column_keys
        self.payload = self.names.index("payload")
        self.sensitive_fields = self.names.index("sensitive_fields")
        self.sequences = _Sequences(tables, transactions, "evidence_sequence")
        self.inserts: dict[int, Statement] = {}
        """Per number of rows (up to :data:`_MAX_INSERT_ROWS`), the statement that inserts them."""
        self.known_statement = select(s.c.id).where(s.c.id.in_(bindparam("hx_agents", expanding=True)))
        agent = bindparam("hx_agent", type_=String())
        self.head_statement = (
            update(q).where(q.c.agent_id == agent).values(evidence_head=bindparam("hx_head", type_=String()))
        )
        self.head = backend.prepare(self.head_statement, self.dialect)
        columns = list(mapping.columns)
        self.insert_statement = insert(e)
        self.taken_statement = select(e.c.id).where(e.c.id.in_(bindparam("hx_ids", expanding=True)))
        self.get_statement = select(*columns).where(e.c.id == bindparam("hx_id", type_=Uuid(as_uuid=True)))
        limit = bindparam("hx_limit", type_=Integer())
        self.by_agent_statement = (
            select(*columns)
            .where(e.c.agent_id == agent, e.c.sequence > bindparam("hx_after", type_=Integer()))
            .order_by(e.c.sequence)
            .limit(limit)
        )
        # the chain's recorded head and the highest sequence stored, read in one snapshot
        self.recorded_statement = select(
            select(q.c.evidence_sequence).where(q.c.agent_id == agent).scalar_subquery(),
            select(q.c.evidence_head).where(q.c.agent_id == agent).scalar_subquery(),
            select(func.max(e.c.sequence)).where(e.c.agent_id == agent).scalar_subquery(),
        )
        self.chain_page_statement = (
            select(*columns)
            .where(
                e.c.agent_id == agent,
                e.c.sequence > bindparam("hx_after", type_=Integer()),
                e.c.sequence <= bindparam("hx_upto", type_=Integer()),
            )
            .order_by(e.c.sequence)
            .limit(limit)
        )
        last = select(*columns).where(e.c.agent_id == agent).order_by(e.c.sequence.desc()).limit(1)
        self.last_statement = last
        self.last_of_kind_statement = last.where(e.c.kind == bindparam("hx_kind", type_=String()))
        after_id = bindparam("hx_after", type_=Uuid(as_uuid=True))
        manifest = e.c.manifest_ref == bindparam("hx_manifest", type_=String())
        self.by_manifest_statement = select(*columns).where(manifest).order_by(e.c.id).limit(limit)
        self.by_manifest_after_statement = (
            select(*columns).where(manifest, e.c.id > after_id).order_by(e.c.id).limit(limit)
        )

    def append_all(self, entries: Iterable[Evidence]) -> Plan[list[Evidence]]:
        """Plan: validate every entry, then chain each agent's entries under its sequences row lock.

        Agents are taken in sorted order, so two appenders cannot deadlock on their rows.
        For one agent, the numbering (which locks the agent's counters) also checks that
        the ids are new and that the agent has a state: when it writes nothing, one more
        statement tells which (``DuplicateEntityError`` first, else
        ``EntityNotFoundError(AgentState, agent_id)``; nothing written). For a batch of
        several agents, one statement checks the ids first, one more that each agent has
        a state (the first without one, in the batch's order), then each is numbered. Where
        a write locks what its subqueries read (``Backend.write_reads_lock``: MariaDB), the
        ids are checked by a read of their own first for one agent too: checked inside the
        numbering, two appenders' gap locks on the evidence table would deadlock.
        Then per agent, the insert and the move of the chain's head: one statement on
        PostgreSQL (the insert in a data-modifying CTE), two on SQLite.
        """
        state = self.transactions.require(Evidence, write=True)
        checked = prepare_entries(entries)
        ids = [entry.id for entry in checked]
        if not checked:
            return []
        execute = state.connection.execute
        by_agent: dict[str, list[int]] = {}
        for index, entry in enumerate(checked):
            by_agent.setdefault(entry.agent_id, []).append(index)
        numbered: dict[str, tuple[int, str | None]] = {}
        if len(by_agent) == 1 and not self.backend.write_reads_lock:
            agent_id = checked[0].agent_id
            taken = yield from self.sequences.take(state, agent_id, len(ids), ids)
            if taken is None:
                yield from self._refuse_taken(execute, ids)
                raise EntityNotFoundError(AgentState, agent_id)
            numbered[agent_id] = taken
        else:
            yield from self._refuse_taken(execute, ids)
            if len(by_agent) > 1:  # one agent: its numbering below finds it has no state
                result = yield Call(execute, (self.known_statement, {"hx_agents": sorted(by_agent)}))
                known = {row[0] for row in result.all()}
                for agent_id in by_agent:
                    if agent_id not in known:
                        raise EntityNotFoundError(AgentState, agent_id)
        stored: list[Evidence] = list(checked)
        for agent_id in sorted(by_agent):
            indexes = by_agent[agent_id]
            if agent_id not in numbered:
                taken = yield from self.sequences.take(state, agent_id, len(indexes))
                if taken is None:
                    raise EntityNotFoundError(AgentState, agent_id)
                numbered[agent_id] = taken
            last, previous = numbered[agent_id]
            sequence = last - len(indexes)
            chained: list[tuple[Evidence, JsonText]] = []
            for index in indexes:
                sequence += 1
                payload_json = JsonText(canonical_json(checked[index].payload))
                entry = chain_evidence(checked[index], sequence, previous, payload_json=payload_json)
                previous = entry.hash
                stored[index] = entry
                chained.append((entry, payload_json))
            assert previous is not None
            yield from _write(
                self.backend, self._insert_chained(state, agent_id, chained, previous), agent_id
            )
        return stored

    def _refuse_taken(self, execute: Callable[..., Any], ids: list[uuid.UUID]) -> Plan[None]:
        """Plan: ``DuplicateEntityError`` for the first of ``ids`` already in the log."""
        result = yield Call(execute, (self.taken_statement, {"hx_ids": ids}))
        taken = result.all()
        if taken:
            raise DuplicateEntityError(Evidence, taken[0][0])

    def _insert_chained(
        self, state: TransactionState, agent_id: str, chained: list[tuple[Evidence, JsonText]], head: str
    ) -> Plan[None]:
        """Plan: insert one agent's chained entries (one multi-row ``INSERT``), then move its chain's head.

        ``chained``: each entry with its payload's JSON, which goes to the driver as it is.
        """
        to_row = self.to_row
        if len(chained) > _MAX_INSERT_ROWS:
            rows = [to_row(entry) for entry, _ in chained]
            yield Call(state.connection.execute, (self.insert_statement, rows))
        else:
            statement = self.inserts.get(len(chained))
            if statement is None:
                statement = self.inserts[len(chained)] = self._insert_rows_statement(len(chained))
            parameters: dict[str, Any] = {"hx_agent": agent_id, "hx_head": head}
            encoded: dict[str, JsonText] = {}
            names = self.names
            for index, (entry, payload_json) in enumerate(chained):
                keys = _row_keys(index, names)
                parameters.update(zip(keys, to_row(entry).values(), strict=True))
                encoded[keys[self.payload]] = payload_json
                encoded[keys[self.sensitive_fields]] = _json_list(entry.sensitive_fields)
            yield from statement.run(state, parameters, encoded)
            if self.backend.writes_in_cte:
                return  # the statement moved the head too
        yield from self.head.run(state, {"hx_agent": agent_id, "hx_head": head})

    def _insert_rows_statement(self, count: int) -> Statement:
        """The ``INSERT`` of ``count`` entries in one statement (with the head's ``UPDATE``, where a CTE may write)."""
        e = self.tables.evidence
        values = [
            {
                name: bindparam(key, type_=e.c[name].type)
                for name, key in zip(self.names, _row_keys(index, self.names), strict=True)
            }
            for index in range(count)
        ]
        statement: Any = insert(e).values(values)
        if self.backend.writes_in_cte:
            # one statement: the INSERT in a data-modifying CTE, then the head's UPDATE
            statement = self.head_statement.add_cte(statement.cte("hx_inserted"))
        return self.backend.prepare(statement, self.dialect)

    def append(self, entry: Evidence) -> Plan[Evidence]:
        """Plan: append one entry."""
        if not is_instance(entry, Evidence):
            self.transactions.require(Evidence, write=True)
            raise InvalidAgentDataError("entry", entry, "must be an Evidence")
        stored = yield from self.append_all([entry])
        return stored[0]

    def get(self, id: uuid.UUID) -> Plan[Evidence]:
        """Plan: the entry with this id, or ``EntityNotFoundError``."""
        state = self.transactions.require(Evidence)
        check_uuid("id", id, error=InvalidAgentDataError)
        result = yield Call(state.connection.execute, (self.get_statement, {"hx_id": id}))
        row = result.first()
        if row is None:
            raise EntityNotFoundError(Evidence, id)
        return self.mapping.from_row(row)

    def list_by_agent(self, agent_id: str, limit: int, after_sequence: int) -> Plan[list[Evidence]]:
        """Plan: the agent's entries after ``after_sequence``, in sequence order."""
        state = self.transactions.require(Evidence)
        check_agent_id(agent_id)
        check_limit(limit)
        check_after_sequence(after_sequence)
        parameters = {"hx_agent": agent_id, "hx_after": after_sequence, "hx_limit": limit}
        result = yield Call(state.connection.execute, (self.by_agent_statement, parameters))
        return self.mapping.from_rows(result.all())

    def last(self, agent_id: str, kind: str | EvidenceKind | None) -> Plan[Evidence | None]:
        """Plan: the agent's entry with the highest sequence (of this kind, when given), or None.

        Read backwards along the ``(agent_id, sequence)`` key until an entry of the kind.
        """
        state = self.transactions.require(Evidence)
        check_agent_id(agent_id)
        parameters: dict[str, Any] = {"hx_agent": agent_id}
        statement = self.last_statement
        if kind is not None:
            parameters["hx_kind"] = check_evidence_kind(kind)
            statement = self.last_of_kind_statement
        result = yield Call(state.connection.execute, (statement, parameters))
        row = result.first()
        return None if row is None else self.mapping.from_row(row)

    def list_by_manifest_ref(self, manifest_ref: str, limit: int, after: str | None) -> Plan[Page[Evidence]]:
        """Plan: one page of the entries with this manifest_ref, ordered by id."""
        state = self.transactions.require(Evidence)
        check_agent_id(manifest_ref, "manifest_ref")
        check_limit(limit)
        cursor = check_cursor(after, uuid.UUID)
        start = None if cursor is None else uuid.UUID(cursor)
        parameters: dict[str, Any] = {"hx_manifest": manifest_ref, "hx_limit": limit + 1}
        if start is None:
            result = yield Call(state.connection.execute, (self.by_manifest_statement, parameters))
        else:
            parameters["hx_after"] = start
            result = yield Call(state.connection.execute, (self.by_manifest_after_statement, parameters))
        entries = self.mapping.from_rows(result.all())
        if len(entries) > limit:
            return Page(tuple(entries[:limit]), str(entries[limit - 1].id))
        return Page(tuple(entries), None)

    def verify(self, agent_id: str) -> Plan[VerifyResult]:
        """Plan: verify the agent's chain a page at a time, and that it ends at its recorded head.

        The head (last sequence and hash, from the counters row) and the highest sequence
        stored are read first, in one statement; then the entries up to that head, in pages
        of :data:`_VERIFY_PAGE`. Entries are never changed once committed and an append
        commits its entries with the head, so appends committed meanwhile (past the head
        read) are not taken for a broken chain, and memory stays bounded however long the log.
        """
        state = self.transactions.require(Evidence)
        check_agent_id(agent_id)
        execute = state.connection.execute
        result = yield Call(execute, (self.recorded_statement, {"hx_agent": agent_id}))
        last, head, stored = result.one()
        last, stored = last or 0, stored or 0
        previous: tuple[int, str | None] = (0, None)
        while previous[0] < last:
            parameters = {
                "hx_agent": agent_id,
                "hx_after": previous[0],
                "hx_upto": last,
                "hx_limit": _VERIFY_PAGE,
            }
            result = yield Call(execute, (self.chain_page_statement, parameters))
            entries = self.mapping.from_rows(result.all())
            if not entries:
                break
            verdict = verify_chain(entries, previous=previous)
            if not verdict.ok:
                return verdict
            previous = (entries[-1].sequence, entries[-1].hash)
        verdict = verify_chain((), previous=previous, recorded_head=(last, head))
        if verdict.ok and stored > last:
            return VerifyResult(False, last + 1, f"entries up to {stored} follow the chain's recorded head")
        return verdict
