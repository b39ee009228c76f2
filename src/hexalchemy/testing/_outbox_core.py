"""The in-memory outbox's logic (private): :class:`WriterCore` and :class:`RelayCore`.

Synchronous classes over the in-memory transaction machinery of
:mod:`hexalchemy.testing.memory`; the public writers and relay stores
(:mod:`hexalchemy.testing.outbox`) are thin shells over them, written once, async, in
``_async/outbox.py`` and generated into ``_sync/outbox.py``. :class:`RelayPolicy`, what
the relay store needs of its policy, is public (re-exported by :mod:`hexalchemy.testing.outbox`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Protocol, cast

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import (
    AcknowledgeResult,
    ConfigError,
    DeadLetter,
    DeliveryResult,
    EntitySpec,
    InvalidArgumentError,
    Lease,
    OutboxMessage,
    OutboxStats,
    PublishResult,
    TransactionUsageError,
)
from hexalchemy.rules import (
    OutboxPolicy,
    check_callable,
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
    utc_or_none,
)
from hexalchemy.testing._memory_core import TransactionCore, TxState

__all__ = ["RelayPolicy"]


class RelayPolicy(Protocol):
    """What the in-memory relay store needs of its policy.

    :class:`hexalchemy.ports.OutboxPolicy` is one; pass the same policy to
    the in-memory and the SQL stores.
    """

    @property
    def max_attempts(self) -> int:
        """How many claims a message gets before it is dead-lettered."""
        ...

    @property
    def archive(self) -> bool:
        """Whether acknowledged messages are kept (in memory: until purged)."""
        ...

    def retry_delay(self, attempts: int) -> dt.timedelta:
        """The backoff of a message rejected after ``attempts`` claims."""
        ...


def _idempotency(message: OutboxMessage) -> tuple[str, str] | None:
    key = message.idempotency_key
    return None if key is None else (message.topic, key)


def _delivery_order(row: _Stored) -> tuple[dt.datetime, uuid.UUID]:
    return row.message.available_at, row.id


def _copy(message: OutboxMessage) -> OutboxMessage:
    return attrs.evolve(message, headers=dict(message.headers))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- the stored state -------------------------------------------------------------------------


@attrs.frozen
class _Stored:
    """A message in the outbox; while leased, its ``available_at`` is the lease's expiry (as in SQL)."""

    id: uuid.UUID
    message: OutboxMessage
    order: int | None = None
    """Commit order, stamped by the relay store when it first sees the message."""
    lease_token: uuid.UUID | None = None
    lease_expires_at: dt.datetime | None = None


_STORED: Final = EntitySpec(_Stored, key="id", key_type=uuid.UUID)


@attrs.frozen
class _Buried:
    letter: DeadLetter
    order: int | None


@attrs.define
class _Shelf:
    """What the relay stores of one manager share besides the messages (changed under the lock)."""

    dead: dict[uuid.UUID, _Buried] = attrs.field(factory=dict)
    archive: dict[uuid.UUID, tuple[OutboxMessage, dt.datetime]] = attrs.field(factory=dict)
    next_order: int = 0
    crashes: dict[uuid.UUID, int] = attrs.field(factory=dict)
    """Per message, the locked deliveries that died with it (the SQL store's ``{prefix}_crashes``)."""


@attrs.frozen
class Delivery:
    """A locked delivery in progress: its lease, and the crashes its messages had before it."""

    lease: Lease
    crashes: dict[uuid.UUID, int]
    isolated: bool


def _table(core: TransactionCore) -> dict[uuid.UUID, _Stored]:
    """The committed messages, keyed by id, in commit order (call with the lock held)."""
    return cast(dict[uuid.UUID, _Stored], core.committed.setdefault(_Stored, {}))


def _shelf(core: TransactionCore) -> _Shelf:
    """The shared dead letters and archive, kept in the manager's store (call with the lock held)."""
    shelves = core.committed.setdefault(_Shelf, {})
    shelf = shelves.get(None)
    if not isinstance(shelf, _Shelf):
        shelf = shelves[None] = _Shelf()
    return shelf


CLOCK_TOLERANCE: Final = dt.timedelta(seconds=1)
"""How far behind a new message's ``created_at`` the store's clock may be before a claim refuses to go on."""


def _check_clock(rows: Iterable[_Stored], now: dt.datetime) -> None:
    """Refuse a clock behind the messages: a claim would find nothing due, silently, until it caught up."""
    ahead = [
        row.message.created_at
        for row in rows
        if row.lease_token is None
        and row.message.attempts == 0
        and row.message.created_at - now > CLOCK_TOLERANCE
    ]
    if ahead:
        raise ConfigError(
            "clock",
            now,
            f"is behind the messages' timestamps by {max(ahead) - now} ({len(ahead)} message(s) written "
            "after the time it gives): nothing would be claimed until it caught up; give the store a "
            "clock that is not behind the wall clock (move a fake clock forward only)",
        )


class WriterCore:
    """The writer's operations, shared by the sync and async writers."""

    __slots__ = ("_core", "_max_payload_bytes")

    def __init__(self, core: TransactionCore, max_payload_bytes: int) -> None:
        if (
            not is_instance(max_payload_bytes, int)
            or isinstance(max_payload_bytes, bool)
            or max_payload_bytes < 1
        ):
            raise ConfigError("max_payload_bytes", max_payload_bytes, "must be an int >= 1")
        self._core = core
        self._max_payload_bytes = max_payload_bytes

    def _visible(self, state: TxState) -> list[_Stored]:
        rows = list(_table(self._core).values())
        for layer in state.layers:
            rows.extend(value for value in layer.writes.values() if isinstance(value, _Stored))
        return rows

    def add_all(self, messages: Iterable[OutboxMessage]) -> int:
        state = self._core.require(OutboxMessage, write=True)
        batch = prepare_batch(messages, self._max_payload_bytes)
        with self._core.lock:
            visible = self._visible(state)
            ids = {row.id for row in visible}
            keys = {key for row in visible if (key := _idempotency(row.message)) is not None}
            added = 0
            for message in batch:
                key = _idempotency(message)
                if message.id in ids or (key is not None and key in keys):
                    continue
                self._core.write(state, _STORED, message.id, _Stored(message.id, _copy(message)))
                added += 1
        return added

    def messages(self) -> list[OutboxMessage]:
        with self._core.lock:
            return [_copy(row.message) for row in _table(self._core).values()]


def _checked_policy(policy: object) -> RelayPolicy:
    """``policy`` if it has what a :class:`RelayPolicy` has (``OutboxPolicy()`` for None), else ``ConfigError``."""
    if policy is None:
        return OutboxPolicy()
    max_attempts = getattr(policy, "max_attempts", None)
    if (
        not isinstance(max_attempts, int)
        or isinstance(max_attempts, bool)
        or max_attempts < 1
        or not isinstance(getattr(policy, "archive", None), bool)
        or not callable(getattr(policy, "retry_delay", None))
    ):
        raise ConfigError("policy", policy, "must be an OutboxPolicy (or a RelayPolicy)")
    return cast(RelayPolicy, policy)


_DELIVERY_HOLD: Final = dt.timedelta(days=3650)
"""The lease of a locked delivery: it ends with the delivery, never by expiring."""


class RelayCore:
    """The relay store's operations, shared by the sync and async stores."""

    __slots__ = ("_core", "_policy", "_clock")

    def __init__(
        self, core: TransactionCore, policy: RelayPolicy | None, clock: Callable[[], dt.datetime] | None
    ) -> None:
        self._core = core
        self._policy: RelayPolicy = _checked_policy(policy)
        self._clock = _utcnow if clock is None else check_callable("clock", clock, error=ConfigError)

    def _start(self) -> dt.datetime:
        """Refuse a call made inside a transaction of the manager; return the clock's time, in UTC."""
        if self._core.in_transaction():
            raise TransactionUsageError(
                "the outbox relay store runs each call in its own transaction; "
                "call it outside the transactions of its manager"
            )
        now = utc_or_none(self._clock())
        if now is None:
            raise ConfigError(
                "clock", self._clock, "must return timezone-aware datetimes within years 1..9999"
            )
        return now

    def _rows(self) -> tuple[dict[uuid.UUID, _Stored], _Shelf]:
        """The messages, every one stamped with its commit order, and the shelf (lock held)."""
        table, shelf = _table(self._core), _shelf(self._core)
        for id, row in list(table.items()):
            if row.order is None:
                table[id] = attrs.evolve(row, order=shelf.next_order)
                shelf.next_order += 1
        return table, shelf

    def _held(self, table: dict[uuid.UUID, _Stored], lease: Lease, id: uuid.UUID) -> _Stored | None:
        row = table.get(id)
        return row if row is not None and row.lease_token == lease.token else None

    def _bury(
        self, table: dict[uuid.UUID, _Stored], shelf: _Shelf, row: _Stored, error: str, now: dt.datetime
    ) -> None:
        del table[row.id]
        shelf.dead[row.id] = _Buried(DeadLetter(row.message, error, now), row.order)

    def claim(self, limit: int, lease_for: dt.timedelta) -> Lease:
        limit, lease_for = check_claim(limit, lease_for)
        return self._claim(limit, lease_for)

    def _due(self, table: dict[uuid.UUID, _Stored], now: dt.datetime, limit: int) -> list[_Stored]:
        """Up to ``limit`` due rows in delivery order, first of their keys (lock held); refuse a clock behind them."""
        heads: dict[str, _Stored] = {}
        for row in table.values():
            key = row.message.ordering_key
            if key is not None and (key not in heads or cast(int, row.order) < cast(int, heads[key].order)):
                heads[key] = row
        due = sorted(
            (
                row
                for row in table.values()
                if row.message.available_at <= now
                and (row.message.ordering_key is None or heads[row.message.ordering_key] is row)
            ),
            key=_delivery_order,
        )[:limit]
        if not due:
            _check_clock(table.values(), now)
        return due

    def _lease(
        self,
        table: dict[uuid.UUID, _Stored],
        row: _Stored,
        attempts: int,
        token: uuid.UUID,
        until: dt.datetime,
    ) -> OutboxMessage:
        """Lease ``row`` to ``token`` until ``until`` with ``attempts``; return the message as claimed."""
        message = attrs.evolve(row.message, attempts=attempts)
        table[row.id] = attrs.evolve(
            row,
            message=attrs.evolve(message, available_at=until),
            lease_token=token,
            lease_expires_at=until,
        )
        return _copy(message)

    def _claim(self, limit: int, lease_for: dt.timedelta) -> Lease:
        now = self._start()
        token = uuid.uuid4()
        until = now + lease_for
        claimed: list[OutboxMessage] = []
        with self._core.lock:
            table, shelf = self._rows()
            for row in self._due(table, now, limit):
                if row.message.attempts >= self._policy.max_attempts:
                    self._bury(table, shelf, row, exhausted_error(self._policy.max_attempts), now)
                    continue
                claimed.append(self._lease(table, row, row.message.attempts + 1, token, until))
        return Lease(token, until, tuple(claimed))

    # locked delivery: a lease that outlives the publisher stands for the SQL store's row locks

    def start_delivery(self, limit: int, publish: object) -> Delivery:
        """Take up to ``limit`` due messages for a locked delivery (an empty lease when none is due).

        As the SQL store: a message's attempts count the deliveries that died with it; one
        past ``max_attempts`` is buried; if any other has such crashes, the first is taken
        alone. ``publish`` is only checked here (callable), before anything is taken.
        """
        check_publish(publish)
        limit = check_outbox_limit(limit)
        now = self._start()
        token = uuid.uuid4()
        until = now + _DELIVERY_HOLD
        max_attempts = self._policy.max_attempts
        with self._core.lock:
            table, shelf = self._rows()
            live: list[tuple[_Stored, int]] = []
            for row in self._due(table, now, limit):
                attempts = row.message.attempts + 1 + shelf.crashes.get(row.id, 0)
                if attempts > max_attempts:
                    shelf.crashes.pop(row.id, None)
                    spent = attrs.evolve(row, message=attrs.evolve(row.message, attempts=attempts - 1))
                    self._bury(table, shelf, spent, exhausted_error(max_attempts), now)
                else:
                    live.append((row, attempts))
            suspects = [(row, attempts) for row, attempts in live if row.id in shelf.crashes]
            chosen = suspects[:1] if suspects else live
            crashes = {row.id: shelf.crashes.pop(row.id) for row, _ in chosen if row.id in shelf.crashes}
            taken = tuple(self._lease(table, row, attempts, token, until) for row, attempts in chosen)
        return Delivery(Lease(token, until, taken), crashes, bool(suspects))

    def settle_delivery(
        self, delivery: Delivery, results: Sequence[PublishResult] | None, error: Exception | None
    ) -> DeliveryResult:
        """Finish a locked delivery: remove the published messages, retry or bury the failed ones."""
        lease = delivery.lease
        messages = lease.messages
        try:
            outcome = (
                publisher_raised(messages, error) if error is not None else sort_results(messages, results)
            )
        except InvalidArgumentError as exc:  # the publisher returned something else than results
            error, outcome = exc, publisher_raised(messages, exc)
        self.acknowledge(lease, outcome.published)
        retried = dead_lettered = 0
        for message, text in outcome.failed:
            if message.id in outcome.permanent:
                dead_lettered += self.dead_letter(lease, message.id, stored_error(text)).done
                continue
            result = self.reject(lease, message.id, stored_error(text), None)
            dead_lettered += result.dead_lettered
            retried += result.done - result.dead_lettered
        isolated = len(messages) if delivery.isolated else 0
        return DeliveryResult(
            len(messages), len(outcome.published), retried, dead_lettered, error, isolated=isolated
        )

    def abandon_delivery(self, delivery: Delivery) -> None:
        """The delivery died (its publisher raised a ``BaseException``): its messages are back as they were, one crash more each."""
        lease = delivery.lease
        now = self._start()
        with self._core.lock:
            table, shelf = self._rows()
            for message in lease.messages:
                row = self._held(table, lease, message.id)
                if row is None:  # pragma: no cover - a delivery's lease never expires
                    continue
                before = delivery.crashes.get(message.id, 0)
                restored = attrs.evolve(row.message, available_at=now, attempts=message.attempts - 1 - before)
                table[message.id] = attrs.evolve(
                    row, message=restored, lease_token=None, lease_expires_at=None
                )
                shelf.crashes[message.id] = before + 1

    def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID]) -> AcknowledgeResult:
        lease, wanted = check_lease(lease), check_message_ids(ids)
        now = self._start()
        done = 0
        with self._core.lock:
            table, shelf = self._rows()
            for id in wanted:
                row = self._held(table, lease, id)
                if row is None:
                    continue
                del table[id]
                if self._policy.archive:
                    shelf.archive[id] = (row.message, now)
                done += 1
        return AcknowledgeResult(done, len(wanted) - done)

    def reject(
        self, lease: Lease, id: uuid.UUID, error: str, retry_after: dt.timedelta | None
    ) -> AcknowledgeResult:
        lease, id, text = check_lease(lease), check_message_id(id), check_error(error)
        retry_after = check_retry_after(retry_after)
        now = self._start()
        with self._core.lock:
            table, shelf = self._rows()
            row = self._held(table, lease, id)
            if row is None:
                return AcknowledgeResult(0, 1)
            attempts = row.message.attempts
            if attempts >= self._policy.max_attempts:
                self._bury(table, shelf, row, text, now)
                return AcknowledgeResult(1, 0, dead_lettered=1)
            delay = retry_after if retry_after is not None else self._policy.retry_delay(attempts)
            table[id] = attrs.evolve(
                row,
                message=attrs.evolve(row.message, available_at=now + delay, last_error=text),
                lease_token=None,
                lease_expires_at=None,
            )
        return AcknowledgeResult(1, 0)

    def dead_letter(self, lease: Lease, id: uuid.UUID, error: str) -> AcknowledgeResult:
        lease, id, text = check_lease(lease), check_message_id(id), check_error(error)
        now = self._start()
        with self._core.lock:
            table, shelf = self._rows()
            row = self._held(table, lease, id)
            if row is None:
                return AcknowledgeResult(0, 1)
            self._bury(table, shelf, row, text, now)
        return AcknowledgeResult(1, 0)

    def release(self, lease: Lease, ids: Iterable[uuid.UUID]) -> AcknowledgeResult:
        lease, wanted = check_lease(lease), check_message_ids(ids)
        now = self._start()
        done = 0
        with self._core.lock:
            table, _ = self._rows()
            for id in wanted:
                row = self._held(table, lease, id)
                if row is None:
                    continue
                message = attrs.evolve(row.message, available_at=now, attempts=row.message.attempts - 1)
                table[id] = attrs.evolve(row, message=message, lease_token=None, lease_expires_at=None)
                done += 1
        return AcknowledgeResult(done, len(wanted) - done)

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        limit = check_outbox_limit(limit)
        self._start()
        with self._core.lock:
            _, shelf = self._rows()
            letters = sorted(
                (buried.letter for buried in shelf.dead.values()),
                key=lambda letter: (letter.failed_at, letter.message.id),
            )[:limit]
        return [attrs.evolve(letter, message=_copy(letter.message)) for letter in letters]

    def requeue(self, ids: Iterable[uuid.UUID] | None) -> int:
        given = None if ids is None else check_message_ids(ids)
        now = self._start()
        moved = 0
        with self._core.lock:
            table, shelf = self._rows()
            wanted = list(shelf.dead) if given is None else given
            keys = {key for row in table.values() if (key := _idempotency(row.message)) is not None}
            for id in wanted:
                buried = shelf.dead.get(id)
                if buried is None:
                    continue
                key = _idempotency(buried.letter.message)
                if id in table or (key is not None and key in keys):
                    continue  # its idempotency key is in use again: it stays a dead letter
                message = attrs.evolve(
                    buried.letter.message, attempts=0, available_at=now, last_error=buried.letter.error
                )
                table[id] = _Stored(id, message, order=buried.order)
                del shelf.dead[id]
                shelf.crashes.pop(id, None)
                if key is not None:
                    keys.add(key)
                moved += 1
        return moved

    def purge(self, dead_before: dt.datetime) -> int:
        dead_before = check_dead_before(dead_before)
        self._start()
        with self._core.lock:
            _, shelf = self._rows()
            dead = [id for id, buried in shelf.dead.items() if buried.letter.failed_at < dead_before]
            archived = [
                id for id, (_, acknowledged_at) in shelf.archive.items() if acknowledged_at < dead_before
            ]
            for id in dead:
                del shelf.dead[id]
            for id in archived:
                del shelf.archive[id]
        return len(dead) + len(archived)

    def stats(self) -> OutboxStats:
        now = self._start()
        with self._core.lock:
            table, shelf = self._rows()
            pending = [
                row
                for row in table.values()
                if row.lease_token is None or row.lease_expires_at is None or row.lease_expires_at <= now
            ]
            oldest = min((row.message.created_at for row in pending), default=None)
            return OutboxStats(
                pending=len(pending),
                leased=len(table) - len(pending),
                dead=len(shelf.dead),
                oldest_pending_age=None if oldest is None else max(now - oldest, dt.timedelta(0)),
            )
