"""The outbox writer and relay store logic, as sans-I/O plans shared by the sync and async adapters.

Statements are built once per store, by its database's backend. Each operation is a
generator that yields :class:`~hexalchemy.sqlalchemy._operations.Call` steps (see
``_operations.py``); the public sync and async classes in :mod:`hexalchemy.sqlalchemy.outbox`
only drive them.

Two parts of the relay store depend on the database, and its backend chooses them:

- the clock (``Backend.relay_clock``): :class:`ClientClock`, Python's UTC clock, here;
  PostgreSQL's backend uses the database's (``now()``, the start of the store's own short
  transaction);
- how due messages are claimed and taken (``Backend.due_messages``):
  :class:`SelectedDueMessages` here selects them, then writes, and relies on the database
  to keep other writers out meanwhile (SQLite's ``BEGIN IMMEDIATE``); PostgreSQL's backend
  does each in one statement that locks the rows it takes (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import inspect
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Dialect,
    Integer,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    update,
)

from hexalchemy._guards import is_instance
from hexalchemy.ports import (
    AcknowledgeResult,
    ConfigError,
    DeadLetter,
    DeliveryResult,
    Lease,
    OutboxMessage,
    OutboxStats,
    TransactionUsageError,
)
from hexalchemy.rules import (
    OutboxPolicy,
    Outcome,
    check_claim,
    check_dead_before,
    check_error,
    check_lease,
    check_message_id,
    check_message_ids,
    check_outbox_limit,
    check_publish,
    check_retry_after,
    exhausted_error,
    prepare_batch,
    publisher_raised,
    sort_results,
    stored_error,
)
from hexalchemy.sqlalchemy._operations import (
    Call,
    Plan,
    drive,
    run_plan,
)
from hexalchemy.sqlalchemy._outbox_crashes import Choice, CrashLedger, recorded_crashes
from hexalchemy.sqlalchemy._outbox_tables import MESSAGE_COLUMNS, OutboxTables, outbox_mappings
from hexalchemy.sqlalchemy._own_transaction import always, own_transaction
from hexalchemy.sqlalchemy.backend import READ_ONLY_EXECUTION_OPTION, backend_for
from hexalchemy.sqlalchemy.transaction import TransactionCore
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = [
    "ClientClock",
    "DueMessages",
    "OutboxRelayCore",
    "OutboxWriterCore",
    "RelayClock",
    "SelectedDueMessages",
    "run_own_plan",
    "utcnow",
]

R = TypeVar("R")


def utcnow() -> dt.datetime:
    """Python's clock, in UTC."""
    return dt.datetime.now(dt.UTC)


def _done(value: R) -> Plan[R]:
    """A plan with no I/O at all."""
    yield from ()
    return value


def _with_attempts(row: Sequence[Any], index: int, attempts: int) -> list[Any]:
    """``row`` with ``attempts`` at ``index``."""
    changed = list(row)
    changed[index] = attempts
    return changed


def run_own_plan(plan: Plan[R], *, bridged: bool = False) -> R:
    """Run a plan that opens its own connection; on an interrupt, let it close the connection first.

    ``bridged``: inside SQLAlchemy's greenlet bridge, for an async store (see
    :func:`~hexalchemy.sqlalchemy._operations.run_plan_bridged`).
    """
    try:
        return run_plan(plan, bridged=bridged)
    except BaseException as exc:
        # Exceptions are thrown into the plan by the driver; only KeyboardInterrupt and the
        # like leave it suspended.
        if inspect.getgeneratorstate(plan) == inspect.GEN_SUSPENDED:
            drive(plan, error=exc, bridged=bridged)
        raise


class OutboxWriterCore:
    """The writer's statements and plans, for the ambient transaction of one manager."""

    def __init__(self, tables: OutboxTables, transactions: TransactionCore, max_payload_bytes: int) -> None:
        if (
            not is_instance(max_payload_bytes, int)
            or isinstance(max_payload_bytes, bool)
            or max_payload_bytes < 1
        ):
            raise ConfigError("max_payload_bytes", max_payload_bytes, "must be an int >= 1")
        self.transactions = transactions
        self.max_payload_bytes = max_payload_bytes
        backend = transactions.backend
        messages = tables.messages
        mapping = outbox_mappings(tables).messages
        # The mapping's generated conversion, without its value rules: prepare_batch checked
        # each message with the outbox's own, stricter ones, and put it in stored form.
        self.to_row = mapping.to_row_trusted
        # No conflict target: a message repeating a stored id, or the idempotency key of a
        # stored message of its topic (the partial unique index), is dropped.
        self.insert_statement = backend.ignore_conflicts(backend.insert(messages)).returning(messages.c.id)
        # One message (what a business transaction usually adds): the backend may pre-compile it.
        self.insert_one = backend.prepare(self.insert_statement, transactions.dialect, mapping.column_keys)
        keys = tables.sequences
        self.sequence_statement = backend.upsert(
            backend.insert(keys),
            [keys.c.ordering_key],
            lambda proposed: {"last_sequence": keys.c.last_sequence + proposed.last_sequence},
        ).returning(keys.c.ordering_key, keys.c.last_sequence)
        self.sequence_update = (
            update(messages)
            .where(messages.c.id == bindparam("hx_id", type_=Uuid(as_uuid=True)))
            .values(key_sequence=bindparam("hx_sequence"))
        )

    def add(self, message: OutboxMessage) -> Plan[bool]:
        """Plan: add one message; False when it repeats a stored id or idempotency key."""
        added = yield from self.add_all((message,))
        return added == 1

    def number_keys(self, connection: Any, keyed: list[tuple[uuid.UUID, str]]) -> Plan[None]:
        """Plan, run just before the commit: number the transaction's keyed messages, key by key.

        One upsert takes every key's row lock at once, in sorted key order, and holds them
        until the commit that follows: producers of overlapping keys wait for each other in
        one order, so they cannot deadlock, however their transactions interleaved their
        ``add`` calls; and a key's numbers are given in commit order.
        """
        counts = collections.Counter(key for _, key in keyed)
        requests = [{"ordering_key": key, "last_sequence": counts[key]} for key in sorted(counts)]
        result = yield Call(connection.execute, (self.sequence_statement, requests))
        following = {key: last - counts[key] + 1 for key, last in result.all()}
        numbers: list[dict[str, object]] = []
        for id, key in keyed:
            numbers.append({"hx_id": id, "hx_sequence": following[key]})
            following[key] += 1
        yield Call(connection.execute, (self.sequence_update, numbers))

    def add_all(self, messages: Iterable[OutboxMessage]) -> Plan[int]:
        """Plan: validate and insert; the inserted keyed messages are numbered just before the commit.

        Messages are inserted first, so that only those actually inserted take a
        ``key_sequence``: committed messages of a key have no gaps. Their numbering is left
        to :meth:`number_keys`, which the transaction runs once before its commit, for
        every keyed message of every ``add`` of the transaction: the key locks are taken
        all at once, in sorted order, at the end (no deadlock between producers that add
        overlapping keys in different orders), and sequence order is commit order. One
        statement per call, whatever the number of messages, and two at the commit.
        """
        state = self.transactions.require(OutboxMessage, write=True)
        batch = prepare_batch(messages, self.max_payload_bytes)
        if not batch:
            return 0
        to_row = self.to_row
        rows = [to_row(message) for message in batch]
        if len(rows) == 1:
            added = {row[0] for row in (yield from self.insert_one.run(state, rows[0]))}
        else:
            result = yield Call(state.connection.execute, (self.insert_statement, rows))
            added = {row[0] for row in result.all()}
        for message in batch:
            if message.ordering_key is not None and message.id in added:
                state.defer(self.number_keys, (message.id, message.ordering_key))
        return len(added)


class RelayClock(Protocol):
    """Whose clock the relay store's times come from, in its statements and their parameters."""

    @property
    def now(self) -> ColumnElement[Any]:
        """The current time, in a statement."""
        ...

    def later(self, name: str) -> ColumnElement[Any]:
        """A time the delay given as parameter ``name`` from now, in a statement."""
        ...

    def parameters(self, now: dt.datetime, **delays: dt.timedelta) -> dict[str, Any]:
        """The clock's parameters of a statement: ``now`` (Python's time) and the named delays."""
        ...

    def stats_now(self) -> ColumnElement[Any] | None:
        """A column giving the clock's time in the stats query, when it is not Python's."""
        ...


class ClientClock:
    """Python's UTC clock: every time is bound as a parameter (``hx_now``, and each delay added to it)."""

    def __init__(self) -> None:
        self.now: ColumnElement[Any] = bindparam("hx_now", type_=UtcDateTime())

    def later(self, name: str) -> ColumnElement[Any]:
        """A bound time, computed in Python (see :meth:`parameters`)."""
        return bindparam(name, type_=UtcDateTime())

    def parameters(self, now: dt.datetime, **delays: dt.timedelta) -> dict[str, Any]:
        """``hx_now``, and each delay's time."""
        return {"hx_now": now, **{name: now + delay for name, delay in delays.items()}}

    def stats_now(self) -> ColumnElement[Any] | None:
        """None: the stats use Python's time."""
        return None


class DueMessages(Protocol):
    """How the relay store claims (leased delivery) and takes (locked delivery) due messages.

    The rows of :meth:`take`, :meth:`pick` and :meth:`take_picked` hold
    :attr:`OutboxRelayCore.stored` (their attempts counting this one), then the message's
    recorded crashes (``{prefix}_crashes``, 0 when none): what :attr:`read` converts, and
    what goes back to a table as it is.
    """

    holds_rows: bool
    """True: :meth:`take` locks only the rows it takes, so the delivery's record is written
    meanwhile on a second connection (PostgreSQL, MariaDB). False: the taking transaction
    keeps every other writer out (SQLite), so the delivery :meth:`pick` s its rows and records
    them first, then :meth:`take_picked` s them."""

    def claim(self, connection: Any, *, limit: int, lease_for: dt.timedelta, token: uuid.UUID) -> Plan[Lease]:
        """Plan: lease up to ``limit`` due messages, dead-lettering those at the attempt limit."""
        ...

    def take(self, connection: Any, limit: int) -> Plan[list[Sequence[Any]]]:
        """Plan: delete (and so lock) up to ``limit`` due rows; return them in delivery order."""
        ...

    def pick(self, connection: Any, limit: int) -> Plan[list[Sequence[Any]]]:
        """Plan: up to ``limit`` due rows in delivery order, nothing written."""
        ...

    def take_picked(self, connection: Any, ids: list[uuid.UUID]) -> Plan[list[Sequence[Any]]]:
        """Plan: delete those of the rows ``ids`` names that are still due; return them in delivery order."""
        ...

    @property
    def read(self) -> Callable[[Sequence[Any]], OutboxMessage]:
        """The message of a row :meth:`take` returned (the messages mapping's generated conversion)."""
        ...


class _Sent:
    """``publish``, remembering whether it was called: a batch once published is never taken again."""

    __slots__ = ("publish", "called")

    def __init__(self, publish: Callable[[Sequence[OutboxMessage]], Any]) -> None:
        self.publish = publish
        self.called = False

    def __call__(self, messages: Sequence[OutboxMessage]) -> Any:
        self.called = True
        return self.publish(messages)

    def not_yet(self) -> bool:
        """Whether the batch has not gone to the publisher yet."""
        return not self.called


class SelectedDueMessages:
    """Select the due rows, then bury, lease or delete them, while no other relay can take them.

    Either the database keeps other writers out meanwhile (SQLite's ``BEGIN IMMEDIATE``:
    the relay store's transaction holds the write lock from its start), or, with
    ``lock``, the select locks the rows it returns and skips those another relay holds
    (``FOR UPDATE SKIP LOCKED``, for a database that has it but cannot write in the
    statement that selects).
    """

    def __init__(self, core: OutboxRelayCore, *, lock: bool = False) -> None:
        self.core = core
        m = core.tables.messages
        lease_until = core.clock.later("hx_lease")
        leasing: dict[str, Any] = {
            "lease_token": core.token,
            "lease_expires_at": lease_until,
            "available_at": lease_until,  # the expiry: an expired lease is due again
            "attempts": m.c.attempts + 1,
        }
        # the rows as they are once this attempt is counted
        self.due_statement = core.due(*core.stored, lock=lock, attempted=True)
        self.holds_rows = lock
        self.take_statement = core.due(*core.stored, lock=lock, attempted=True, crashes=True)
        self.picked_statement = core.due(*core.stored, lock=lock, attempted=True, crashes=True, picked=True)
        self.lease_statement = update(m).where(m.c.id.in_(core.ids)).values(leasing)
        self.take_any_statement = delete(m).where(m.c.id.in_(core.ids)).returning(*core.columns)
        self.drop_statement = delete(m).where(m.c.id.in_(core.ids))
        self.read: Callable[[Sequence[Any]], OutboxMessage] = core.mapping.from_row

    def claim(self, connection: Any, *, limit: int, lease_for: dt.timedelta, token: uuid.UUID) -> Plan[Lease]:
        """Plan: select the due rows, then bury or lease them."""
        core = self.core
        now = utcnow()
        clock = core.clock.parameters(now, hx_lease=lease_for)
        result = yield Call(connection.execute, (self.due_statement, {"hx_limit": limit, **clock}))
        rows = result.all()
        max_attempts, attempts = core.policy.max_attempts, core.attempts
        exhausted = [row[0] for row in rows if row[attempts] > max_attempts]
        leased = [row for row in rows if row[attempts] <= max_attempts]
        if exhausted:
            extra = {"hx_error": core.exhausted_error, **clock}
            yield from core.move(
                connection, self.take_any_statement, {"hx_ids": exhausted}, core.bury_statement, extra
            )
        if leased:
            parameters = {"hx_ids": [row[0] for row in leased], "hx_token": token, **clock}
            yield Call(connection.execute, (self.lease_statement, parameters))
        read = self.read
        return Lease(token, now + lease_for, tuple([read(row) for row in leased]))

    def take(self, connection: Any, limit: int) -> Plan[list[Sequence[Any]]]:
        """Plan: select the due rows, then delete them."""
        rows = yield from self.pick(connection, limit)
        if rows:
            yield Call(connection.execute, (self.drop_statement, {"hx_ids": [row[0] for row in rows]}))
        return rows

    def pick(self, connection: Any, limit: int) -> Plan[list[Sequence[Any]]]:
        """Plan: select the due rows."""
        clock = self.core.clock.parameters(utcnow())
        result = yield Call(connection.execute, (self.take_statement, {"hx_limit": limit, **clock}))
        return list(result.all())

    def take_picked(self, connection: Any, ids: list[uuid.UUID]) -> Plan[list[Sequence[Any]]]:
        """Plan: select those of ``ids`` still due, then delete them."""
        clock = self.core.clock.parameters(utcnow())
        parameters = {"hx_limit": len(ids), "hx_picked": ids, **clock}
        result = yield Call(connection.execute, (self.picked_statement, parameters))
        rows = list(result.all())
        if rows:
            yield Call(connection.execute, (self.drop_statement, {"hx_ids": [row[0] for row in rows]}))
        return rows


class OutboxRelayCore:
    """The relay store's statements and plans; every plan runs in its own short transaction."""

    def __init__(
        self,
        tables: OutboxTables,
        engine: Any,
        dialect: Dialect,
        ambient: TransactionCore | None,
        policy: OutboxPolicy,
    ) -> None:
        if not is_instance(policy, OutboxPolicy):
            raise ConfigError("policy", policy, "must be an OutboxPolicy")
        if policy.archive and tables.archive is None:
            raise ConfigError(
                "archive",
                True,
                "the tables have no archive table: build them with outbox_tables(..., archive=True)",
            )
        self.engine = engine
        self.ambient = ambient
        self.policy = policy
        self.dialect = dialect
        self.backend = backend = backend_for(dialect)
        self.clock = backend.relay_clock()
        self.exhausted_error = exhausted_error(policy.max_attempts)
        self.tables = tables
        self.now = self.clock.now
        self.ids: BindParameter[Any] = bindparam("hx_ids", expanding=True)
        self.token: BindParameter[Any] = bindparam("hx_token", type_=Uuid(as_uuid=True))
        self.mapping = mapping = outbox_mappings(tables).messages
        self.stored: tuple[str, ...] = (*mapping.column_keys, "key_sequence")
        """The columns of a message row that moves between tables: the mapped ones (in the
        mapping's order: ``from_row`` reads them), then ``key_sequence``."""
        self.attempts = self.stored.index("attempts")
        self.columns = [tables.messages.c[name] for name in self.stored]
        self.dead_letter_mapping = outbox_mappings(tables).dead_letters
        self.bury_statement = backend.insert(tables.dead_letters).values(
            error=bindparam("hx_error", type_=Text()), failed_at=self.now
        )
        self.archive_statement = (
            backend.insert(tables.archive).values(acknowledged_at=self.now)
            if policy.archive and tables.archive is not None
            else None
        )
        self.due_messages: DueMessages = backend.due_messages(self)
        self.ledger: CrashLedger = backend.crash_ledger(self, lock=self.due_messages.holds_rows)
        self._build_outcomes()
        self._build_maintenance()

    def _build_outcomes(self) -> None:
        """Acknowledge, reject, dead-letter and release: each fenced by the lease token."""
        m = self.tables.messages
        # Where the database has arrays, one array parameter instead of an IN list rendered
        # anew for every batch: the statement text stays the same, so the server can prepare it.
        fenced = and_(self.backend.one_of(m.c.id, "hx_ids"), m.c.lease_token == self.token)
        by_id = and_(m.c.id == bindparam("hx_id", type_=Uuid(as_uuid=True)), m.c.lease_token == self.token)
        self.take_statement = delete(m).where(fenced).returning(*self.columns)
        # Counted by the rowcount: no id comes back (a batch of 1,000 would send 1,000).
        self.finish_statement = delete(m).where(fenced)
        self.attempts_statement = select(m.c.attempts).where(by_id).with_for_update()
        self.retry_statement = (
            update(m)
            .where(by_id)
            .values(
                available_at=self.clock.later("hx_retry"),
                lease_token=None,
                lease_expires_at=None,
                last_error=bindparam("hx_error", type_=Text()),
            )
        )
        self.release_statement = (
            update(m)
            .where(fenced)
            .values(lease_token=None, lease_expires_at=None, attempts=m.c.attempts - 1, available_at=self.now)
        )
        self.put_back_statement = self.backend.insert(m).values(available_at=self.clock.later("hx_retry"))
        # rows a locked delivery took but does not publish (poison isolation), as they were
        self.give_back_statement = self.backend.insert(m)

    def _build_maintenance(self) -> None:
        """Dead letters, requeue, purge and stats."""
        m, d, archive = self.tables.messages, self.tables.dead_letters, self.tables.archive
        self.dead_letters_statement = (
            select(*outbox_mappings(self.tables).dead_letter_columns)
            .order_by(d.c.failed_at, d.c.id)
            .limit(bindparam("hx_limit"))
        )
        # Back with zero attempts, available now, the dead letter's error as last_error and
        # its key_sequence: it is again the first of its key.
        overrides: dict[str, ColumnElement[Any]] = {
            "attempts": literal(0, Integer()),
            "available_at": type_coerce(self.now, UtcDateTime()),
            "last_error": d.c.error,
        }
        requeued = select(*[overrides.get(name, d.c[name]).label(name) for name in MESSAGE_COLUMNS])
        backend = self.backend
        self.requeue_all_statement = backend.ignore_conflicts(
            # SQLite needs a WHERE in an INSERT ... SELECT with a conflict clause
            backend.insert(m).from_select(list(MESSAGE_COLUMNS), requeued.where(true()))
        ).returning(m.c.id)
        self.requeue_statement = backend.ignore_conflicts(
            backend.insert(m).from_select(list(MESSAGE_COLUMNS), requeued.where(d.c.id.in_(self.ids)))
        ).returning(m.c.id)
        self.unbury_statement = delete(d).where(d.c.id.in_(self.ids))
        before = bindparam("hx_before", type_=UtcDateTime())
        self.purge_statements = [delete(d).where(d.c.failed_at < before)]
        if archive is not None:
            self.purge_statements.append(delete(archive).where(archive.c.acknowledged_at < before))
        leased = and_(m.c.lease_token.is_not(None), m.c.lease_expires_at > self.now)
        stats_columns: list[ColumnElement[Any]] = [
            func.count(),
            func.coalesce(func.sum(case((leased, 1), else_=0)), 0),
            func.min(case((~leased, m.c.created_at))),
            select(func.count()).select_from(d).scalar_subquery(),
        ]
        clock_now = self.clock.stats_now()
        self.stats_from_clock = clock_now is not None
        if clock_now is not None:
            stats_columns.append(clock_now)
        self.stats_statement = select(*stats_columns).select_from(m)

    # ------------------------------------------------------------------------------ helpers
    def _clock(self, now: dt.datetime, **delays: dt.timedelta) -> dict[str, Any]:
        """The clock parameters of a statement (see :meth:`RelayClock.parameters`)."""
        return self.clock.parameters(now, **delays)

    def due(
        self,
        *names: str,
        lock: bool = False,
        attempted: bool = False,
        crashes: bool = False,
        picked: bool = False,
    ) -> Any:
        """Due messages in delivery order: available, and first of their ordering key.

        ``attempted``: ``attempts`` is selected with this attempt counted (one more than stored).
        ``crashes``: the message's recorded crashes follow its columns (0 when none).
        ``picked``: only the messages of the list bound to ``hx_picked``.
        """
        outer = self.tables.messages.alias("m")
        earlier = self.tables.messages.alias("e")
        blocked = exists().where(
            earlier.c.ordering_key == outer.c.ordering_key, earlier.c.key_sequence < outer.c.key_sequence
        )
        columns: list[ColumnElement[Any]] = [
            (outer.c.attempts + 1).label("attempts") if attempted and name == "attempts" else outer.c[name]
            for name in names
        ]
        if crashes:
            columns.append(self.recorded_crashes(outer.c.id))
        statement = (
            select(*columns)
            .where(outer.c.available_at <= self.now, or_(outer.c.ordering_key.is_(None), ~blocked))
            .order_by(outer.c.available_at, outer.c.id)
            .limit(bindparam("hx_limit", type_=Integer()))
        )
        if picked:
            statement = statement.where(outer.c.id.in_(bindparam("hx_picked", expanding=True)))
        if lock:
            statement = statement.with_for_update(skip_locked=True, of=outer)
        return statement

    def recorded_crashes(self, id: ColumnElement[Any]) -> ColumnElement[Any]:
        """The crashes recorded for the message ``id`` (0 when none), as a column: a plain read, no lock."""
        c = self.tables.crashes
        recorded = select(c.c.crashes).where(c.c.message_id == id).scalar_subquery()
        return func.coalesce(recorded, 0).label("crashes")

    def _own(
        self,
        work: Callable[[Any], Plan[R]],
        *,
        read_only: bool = False,
        retry: Callable[[], bool] = always,
        options: Mapping[str, Any] | None = None,
    ) -> Plan[R]:
        """Plan: run ``work(connection)`` in its own transaction (see :func:`own_transaction`).

        ``options``: execution options of the connection, over the backend's.
        """
        if self.ambient is not None and self.ambient.state_or_none() is not None:
            raise TransactionUsageError(
                "the outbox relay store runs each call in its own transaction; "
                "call it outside the transactions of its manager"
            )
        own = self.backend.own_transaction_options()
        if options:
            own = {**own, **options}
        if read_only:
            # On SQLite a deferred BEGIN: a reader does not take the write lock.
            own = {**own, READ_ONLY_EXECUTION_OPTION: True}
        return (yield from own_transaction(self.engine, own, work, label="outbox relay store", retry=retry))

    def values(self, row: Sequence[Any], **extra: Any) -> dict[str, Any]:
        """The parameters that write ``row`` (of :attr:`stored`, as read) to a table again, with ``extra``.

        A row moves between the outbox's tables as it was read: no message is built from it.
        """
        values = dict(zip(self.stored, row, strict=False))
        values.update(extra)
        return values

    def move(
        self, connection: Any, take: Any, parameters: dict[str, Any], target: Any, extra: dict[str, Any]
    ) -> Plan[int]:
        """Delete rows with ``take`` (RETURNING their columns) and insert them with ``target``."""
        result = yield Call(connection.execute, (take, parameters))
        rows = result.all()
        if rows:
            yield Call(connection.execute, (target, [self.values(row, **extra) for row in rows]))
        return len(rows)

    # -------------------------------------------------------------------------------- claim
    def claim(self, limit: int, lease_for: dt.timedelta) -> Plan[Lease]:
        """Plan: lease up to ``limit`` due messages, dead-lettering those at the attempt limit."""
        limit, lease_for = check_claim(limit, lease_for)
        token = uuid.uuid4()
        return self._own(
            functools.partial(self.due_messages.claim, limit=limit, lease_for=lease_for, token=token)
        )

    # ------------------------------------------------------------------------- locked delivery
    def deliver(self, publish: Callable[[Sequence[OutboxMessage]], Any], limit: int) -> Plan[DeliveryResult]:
        """Plan: take, publish and settle up to ``limit`` due messages in one transaction.

        What it publishes is recorded first, in a short transaction of its own, so that a
        relay dying mid-batch still counts the attempt (see ``_outbox_crashes``).
        """
        limit, publish = check_outbox_limit(limit), check_publish(publish)
        sent = _Sent(publish)
        token = uuid.uuid4()
        if self.due_messages.holds_rows:
            work = functools.partial(self._deliver, publish=sent, limit=limit, token=token)
            return self._own(work, retry=sent.not_yet)
        return self._deliver_picked(sent, limit, token)

    def _deliver(
        self, connection: Any, *, publish: _Sent, limit: int, token: uuid.UUID
    ) -> Plan[DeliveryResult]:
        """Take (and lock) the rows, record what to publish on a second connection, then deliver."""
        taken = yield from self.due_messages.take(connection, limit)
        if not taken:
            return DeliveryResult(0, 0, 0, 0)
        ledger = self.ledger
        choose = functools.partial(ledger.choose, rows=taken, token=token)
        choice = yield from self._own(choose, options=ledger.options)
        if choice.publish:
            yield from ledger.unmark(connection, token=token, publish=choice.publish)
        return (yield from self._deliver_taken(connection, taken, choice, publish))

    def _deliver_picked(self, publish: _Sent, limit: int, token: uuid.UUID) -> Plan[DeliveryResult]:
        """Pick the rows and record what to publish, then take and deliver them: for a database that keeps other writers out."""
        choice = yield from self._own(functools.partial(self._pick, limit=limit, token=token))
        if choice is None:
            return DeliveryResult(0, 0, 0, 0)
        work = functools.partial(self._deliver_chosen, choice=choice, publish=publish, token=token)
        return (yield from self._own(work, retry=publish.not_yet))

    def _pick(self, connection: Any, *, limit: int, token: uuid.UUID) -> Plan[Choice | None]:
        rows = yield from self.due_messages.pick(connection, limit)
        if not rows:
            return None
        return (yield from self.ledger.choose(connection, rows=rows, token=token))

    def _deliver_chosen(
        self, connection: Any, *, choice: Choice, publish: _Sent, token: uuid.UUID
    ) -> Plan[DeliveryResult]:
        if choice.publish:
            # first: the crashes read with the rows below are then the right ones
            yield from self.ledger.unmark(connection, token=token, publish=choice.publish)
        taken = yield from self.due_messages.take_picked(connection, [*choice.publish, *choice.bury])
        choice = attrs.evolve(choice, crashes=recorded_crashes(self, taken))
        return (yield from self._deliver_taken(connection, taken, choice, publish))

    def _deliver_taken(
        self, connection: Any, taken: list[Sequence[Any]], choice: Choice, publish: _Sent
    ) -> Plan[DeliveryResult]:
        """Bury the exhausted rows, give back those not chosen, publish the chosen ones, settle them."""
        now = utcnow()
        max_attempts, attempts, crashes = self.policy.max_attempts, self.attempts, choice.crashes
        back: list[Sequence[Any]] = []
        if not crashes and not choice.bury and len(choice.publish) == len(taken):
            # the common case: no crashes, nothing to bury, every row chosen (so none past the limit)
            exhausted: list[Sequence[Any]] = []
            live = taken
        else:
            chosen = set(choice.publish)
            # the rows as they are once this attempt and the crashes are counted
            counted = (
                [_with_attempts(row, attempts, row[attempts] + crashes.get(row[0], 0)) for row in taken]
                if crashes
                else taken
            )
            exhausted = [row for row in counted if row[attempts] > max_attempts]
            live = [row for row in counted if row[attempts] <= max_attempts and row[0] in chosen]
            back = [
                row
                for row in taken
                if row[0] not in chosen and row[attempts] + crashes.get(row[0], 0) <= max_attempts
            ]
        if back:
            restored = [self.values(row, attempts=row[attempts] - 1) for row in back]
            yield Call(connection.execute, (self.give_back_statement, restored))
        if exhausted:
            extra = {"hx_error": self.exhausted_error, **self._clock(now)}
            buried = [self.values(row, attempts=row[attempts] - 1, **extra) for row in exhausted]
            yield Call(connection.execute, (self.bury_statement, buried))
        if crashes:
            settled = [row[0] for row in [*exhausted, *live] if row[0] in crashes]
            yield from self.ledger.clear(connection, settled)
        if not live:
            return DeliveryResult(0, 0, 0, 0)
        isolated = len(live) if choice.isolated else 0
        read = self.due_messages.read
        messages = [read(row) for row in live]  # already in delivery order
        error: Exception | None = None
        try:
            results = yield Call(publish, (messages,))
            outcome = sort_results(messages, results)
        except Exception as exc:  # settled as failed and committed; the relay sees it in the result
            error = exc
            outcome = publisher_raised(messages, exc)
        if outcome.failed or self.archive_statement is not None:
            rows = {row[0]: row for row in live}  # only when a row must be written again
        else:
            return DeliveryResult(len(messages), len(outcome.published), 0, 0, error, isolated=isolated)
        if self.archive_statement is not None and outcome.published:
            archived = [self.values(rows[id], **self._clock(now)) for id in outcome.published]
            yield Call(connection.execute, (self.archive_statement, archived))
        retried, dead_lettered = yield from self._settle_failures(connection, rows, outcome, now)
        return DeliveryResult(
            len(messages), len(outcome.published), retried, dead_lettered, error, isolated=isolated
        )

    def _settle_failures(
        self, connection: Any, rows: dict[uuid.UUID, Sequence[Any]], outcome: Outcome, now: dt.datetime
    ) -> Plan[tuple[int, int]]:
        """Put failed messages back after their backoff, or bury those at the attempt limit."""
        again: list[dict[str, Any]] = []
        buried: list[dict[str, Any]] = []
        for message, error in outcome.failed:
            values = self.values(rows[message.id], last_error=stored_error(error))
            if message.attempts >= self.policy.max_attempts or message.id in outcome.permanent:
                buried.append({**values, "hx_error": values["last_error"], **self._clock(now)})
            else:
                delay = self.policy.retry_delay(message.attempts)
                again.append({**values, **self._clock(now, hx_retry=delay)})
        if again:
            yield Call(connection.execute, (self.put_back_statement, again))
        if buried:
            yield Call(connection.execute, (self.bury_statement, buried))
        return len(again), len(buried)

    # ------------------------------------------------------------------------------ outcomes
    def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID]) -> Plan[AcknowledgeResult]:
        """Plan: delete (or archive) the messages ``lease`` still holds."""
        lease, wanted = check_lease(lease), check_message_ids(ids)
        if not wanted:
            return _done(AcknowledgeResult(0, 0))
        return self._own(functools.partial(self._acknowledge, lease=lease, wanted=wanted))

    def _acknowledge(
        self, connection: Any, *, lease: Lease, wanted: list[uuid.UUID]
    ) -> Plan[AcknowledgeResult]:
        parameters = {"hx_ids": wanted, "hx_token": lease.token}
        if self.archive_statement is None:
            result = yield Call(connection.execute, (self.finish_statement, parameters))
            done = result.rowcount
        else:
            done = yield from self.move(
                connection, self.take_statement, parameters, self.archive_statement, self._clock(utcnow())
            )
        return AcknowledgeResult(done, len(wanted) - done)

    def reject(
        self, lease: Lease, id: uuid.UUID, error: str, retry_after: dt.timedelta | None
    ) -> Plan[AcknowledgeResult]:
        """Plan: give the message back for a retry after a backoff, or bury it at the attempt limit."""
        lease, id, text = check_lease(lease), check_message_id(id), check_error(error)
        retry_after = check_retry_after(retry_after)
        return self._own(
            functools.partial(self._reject, lease=lease, id=id, error=text, retry_after=retry_after)
        )

    def _reject(
        self, connection: Any, *, lease: Lease, id: uuid.UUID, error: str, retry_after: dt.timedelta | None
    ) -> Plan[AcknowledgeResult]:
        result = yield Call(
            connection.execute, (self.attempts_statement, {"hx_id": id, "hx_token": lease.token})
        )
        attempts = result.scalar_one_or_none()
        if attempts is None:
            return AcknowledgeResult(0, 1)
        now = utcnow()
        if attempts >= self.policy.max_attempts:
            done = yield from self._bury(connection, lease, id, error, now)
            return AcknowledgeResult(done, 1 - done, dead_lettered=done)
        delay = retry_after if retry_after is not None else self.policy.retry_delay(attempts)
        parameters = {
            "hx_id": id,
            "hx_token": lease.token,
            "hx_error": error,
            **self._clock(now, hx_retry=delay),
        }
        result = yield Call(connection.execute, (self.retry_statement, parameters))
        done = result.rowcount
        return AcknowledgeResult(done, 1 - done)

    def _bury(self, connection: Any, lease: Lease, id: uuid.UUID, error: str, now: dt.datetime) -> Plan[int]:
        return (
            yield from self.move(
                connection,
                self.take_statement,
                {"hx_ids": [id], "hx_token": lease.token},
                self.bury_statement,
                {"hx_error": error, **self._clock(now)},
            )
        )

    def dead_letter(self, lease: Lease, id: uuid.UUID, error: str) -> Plan[AcknowledgeResult]:
        """Plan: move a message ``lease`` still holds to the dead letters."""
        lease, id, text = check_lease(lease), check_message_id(id), check_error(error)
        return self._own(functools.partial(self._dead_letter, lease=lease, id=id, error=text))

    def _dead_letter(
        self, connection: Any, *, lease: Lease, id: uuid.UUID, error: str
    ) -> Plan[AcknowledgeResult]:
        done = yield from self._bury(connection, lease, id, error, utcnow())
        return AcknowledgeResult(done, 1 - done)

    def release(self, lease: Lease, ids: Iterable[uuid.UUID]) -> Plan[AcknowledgeResult]:
        """Plan: give messages back, available now, without counting the attempt."""
        lease, wanted = check_lease(lease), check_message_ids(ids)
        if not wanted:
            return _done(AcknowledgeResult(0, 0))
        return self._own(functools.partial(self._release, lease=lease, wanted=wanted))

    def _release(self, connection: Any, *, lease: Lease, wanted: list[uuid.UUID]) -> Plan[AcknowledgeResult]:
        if not wanted:
            return AcknowledgeResult(0, 0)
        parameters = {"hx_ids": wanted, "hx_token": lease.token, **self._clock(utcnow())}
        result = yield Call(connection.execute, (self.release_statement, parameters))
        done = result.rowcount
        return AcknowledgeResult(done, len(wanted) - done)

    # ---------------------------------------------------------------------------- dead letters
    def dead_letters(self, limit: int) -> Plan[list[DeadLetter]]:
        """Plan: the oldest dead letters."""
        limit = check_outbox_limit(limit)
        return self._own(functools.partial(self._dead_letters, limit=limit), read_only=True)

    def _dead_letters(self, connection: Any, *, limit: int) -> Plan[list[DeadLetter]]:
        result = yield Call(connection.execute, (self.dead_letters_statement, {"hx_limit": limit}))
        return self.dead_letter_mapping.from_rows(result.all())

    def requeue(self, ids: Iterable[uuid.UUID] | None) -> Plan[int]:
        """Plan: move dead letters back to the outbox (available now, zero attempts, same key order)."""
        wanted = None if ids is None else check_message_ids(ids)
        if wanted == []:
            return _done(0)
        return self._own(functools.partial(self._requeue, wanted=wanted))

    def _requeue(self, connection: Any, *, wanted: list[uuid.UUID] | None) -> Plan[int]:
        clock = self._clock(utcnow())
        if wanted is None:
            result = yield Call(connection.execute, (self.requeue_all_statement, clock))
        else:
            result = yield Call(connection.execute, (self.requeue_statement, {"hx_ids": wanted, **clock}))
        moved = [row[0] for row in result.all()]
        if moved:
            # A dead letter whose idempotency key is in use again stays where it is.
            yield Call(connection.execute, (self.unbury_statement, {"hx_ids": moved}))
            yield from self.ledger.clear(connection, moved)  # back with zero attempts: no crash counts
        return len(moved)

    def purge(self, dead_before: dt.datetime) -> Plan[int]:
        """Plan: delete dead letters that failed, and archived messages acknowledged, before ``dead_before``."""
        dead_before = check_dead_before(dead_before)
        return self._own(functools.partial(self._purge, dead_before=dead_before))

    def _purge(self, connection: Any, *, dead_before: dt.datetime) -> Plan[int]:
        deleted = 0
        for statement in self.purge_statements:
            result = yield Call(connection.execute, (statement, {"hx_before": dead_before}))
            deleted += result.rowcount
        return deleted

    def stats(self) -> Plan[OutboxStats]:
        """Plan: counts for monitoring, in one query."""
        return self._own(self._stats, read_only=True)

    def _stats(self, connection: Any) -> Plan[OutboxStats]:
        now = utcnow()
        result = yield Call(connection.execute, (self.stats_statement, self._clock(now)))
        row = result.one()
        total, leased, oldest, dead = row[0], int(row[1]), row[2], row[3]
        if self.stats_from_clock:
            now = row[4]
        age = None if oldest is None else max(now - oldest, dt.timedelta(0))
        return OutboxStats(pending=total - leased, leased=leased, dead=dead, oldest_pending_age=age)
