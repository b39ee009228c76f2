"""The relay's logic, written once, for the sync and the async relay.

Everything that is not I/O lives here: the settings and their validation, the counters,
how the publisher's results are sorted into acknowledgements and rejections, the idle and
error delays, and the two *plans* -- generators that yield the I/O they need and receive
its result, like the SQL adapters' plans (see ``docs/architecture.md``):

* :meth:`RelayCore.batch` claims one batch, publishes it, then acknowledges, rejects or
  releases each message;
* :meth:`RelayCore.loop` runs batches until told to stop, sleeping only when idle and
  backing off after errors.

A plan yields :class:`Call` (call a store or publisher method) and :class:`Sleep` (wait,
interruptibly); :func:`drive` performs each step directly and :func:`drive_async` awaits
it. A step's exception is thrown back into the plan, so error handling is written once
too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import random as _random
import sys
import threading
import uuid
from collections.abc import Callable, Generator, Mapping
from typing import Any, Final, TypeVar

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import (
    AcknowledgeResult,
    AsyncOutboxDelivery,
    AsyncPublisher,
    ConfigError,
    DeliveryResult,
    Lease,
    OutboxDelivery,
    OutboxMessage,
    Publisher,
)
from hexalchemy.rules import (
    Outcome,
    check_has_methods,
    check_instance,
    check_positive_int,
    check_seconds,
    crashed_before,
    describe_error,
    random_fraction,
    sort_results,
)
from hexalchemy.rules.arguments import MAX_BATCH

R = TypeVar("R")

logger: Final = logging.getLogger("hexalchemy.outbox.relay")

# --- settings ---------------------------------------------------------------------------


def _to_seconds(option: str, value: object) -> float:
    """A duration option in seconds: from 0 to :data:`~hexalchemy.rules.arguments.MAX_DURATION` (a year)."""
    return check_seconds(option, value, error=ConfigError)


def _min_idle_delay(value: float | dt.timedelta) -> float:
    return _to_seconds("min_idle_delay", value)


def _max_idle_delay(value: float | dt.timedelta) -> float:
    return _to_seconds("max_idle_delay", value)


def _error_backoff(value: float | dt.timedelta) -> float:
    return _to_seconds("error_backoff", value)


def _max_error_backoff(value: float | dt.timedelta) -> float:
    return _to_seconds("max_error_backoff", value)


def _lease(value: float | dt.timedelta) -> dt.timedelta:
    return dt.timedelta(seconds=check_seconds("lease_for", value, allow_zero=False, error=ConfigError))


def _check_batch_size(_instance: object, _attribute: attrs.Attribute[int], value: int) -> None:
    check_positive_int("batch_size", value, maximum=MAX_BATCH, error=ConfigError)


class DeliveryMode(enum.Enum):
    """How a relay takes messages from its store (see ``docs/outbox.md``, "Delivery modes")."""

    LEASED = "leased"
    """Claim under a lease, publish with no transaction open, then acknowledge or reject.

    Two short transactions per batch and two writes per message; the publisher may be slow,
    and a message that kills the relay still counts its attempts (and is dead-lettered in
    the end). The default.
    """
    LOCKED = "locked"
    """Take, publish and settle in one transaction that locks the messages while publishing.

    One write per published message, and per batch a short record of what is being
    published (one row, in a transaction of its own) beside the commit: the fastest mode.
    The transaction stays open while the publisher runs (keep it fast; on SQLite, writers
    wait while a batch is published). A relay that dies mid-batch leaves the record
    behind: the attempt counts, the batch's messages are then published alone, and a
    message that kills the relay every time ends in the dead letters.
    """


def _check_pipelined(_instance: object, _attribute: attrs.Attribute[bool], value: bool) -> None:
    if not is_instance(value, bool):
        raise ConfigError("pipelined", value, "must be a bool")


def _delivery(value: DeliveryMode | str) -> DeliveryMode:
    try:
        return DeliveryMode(value)
    except ValueError:
        choices = ", ".join(repr(mode.value) for mode in DeliveryMode)
        raise ConfigError("delivery", value, f"must be a DeliveryMode or one of {choices}") from None


@attrs.frozen(kw_only=True)
class RelaySettings:
    """How a relay claims, polls and backs off; every value is checked when it is built.

    Durations may be given as a :class:`datetime.timedelta` or a number of seconds; they
    are stored as seconds (``lease_for`` as a ``timedelta``, the port's unit). A bad value
    raises :class:`~hexalchemy.ports.ConfigError` naming the option.
    """

    batch_size: int = attrs.field(default=100, validator=_check_batch_size)
    """The most messages claimed and published at once."""
    lease_for: dt.timedelta = attrs.field(default=dt.timedelta(seconds=30), converter=_lease)
    """How long a claim holds its messages; another relay may claim them after that."""
    min_idle_delay: float = attrs.field(default=0.1, converter=_min_idle_delay)
    """Seconds: the first sleep after a claim found nothing."""
    max_idle_delay: float = attrs.field(default=2.0, converter=_max_idle_delay)
    """Seconds: the idle sleep doubles while nothing comes, up to this."""
    error_backoff: float = attrs.field(default=0.5, converter=_error_backoff)
    """Seconds: the wait after the first failure in a row; it doubles with each further one."""
    max_error_backoff: float = attrs.field(default=30.0, converter=_max_error_backoff)
    """Seconds: the longest wait after failures."""
    delivery: DeliveryMode = attrs.field(default=DeliveryMode.LEASED, converter=_delivery)
    """Leased or locked delivery (a :class:`DeliveryMode` or its value); ``lease_for`` applies to leased only."""
    pipelined: bool = attrs.field(default=False, validator=_check_pipelined)
    """Claim the next batch and settle the previous one while a batch is being published (leased delivery only)."""

    def __attrs_post_init__(self) -> None:
        if self.pipelined and self.delivery is not DeliveryMode.LEASED:
            raise ConfigError(
                "pipelined",
                self.pipelined,
                f"applies to leased delivery only (delivery is {self.delivery.value!r}): a locked "
                "batch is taken, published and settled in one transaction",
            )
        if self.min_idle_delay > self.max_idle_delay:
            raise ConfigError(
                "min_idle_delay",
                self.min_idle_delay,
                f"must not be greater than max_idle_delay ({self.max_idle_delay!r})",
            )
        if self.error_backoff > self.max_error_backoff:
            raise ConfigError(
                "error_backoff",
                self.error_backoff,
                f"must not be greater than max_error_backoff ({self.max_error_backoff!r})",
            )

    def idle_delay(self, idle_polls: int) -> float:
        """The sleep after ``idle_polls`` empty claims in a row (1 for the first): doubling, capped."""
        check_positive_int("idle_polls", idle_polls, maximum=sys.maxsize)
        return _doubled(self.min_idle_delay, self.max_idle_delay, idle_polls)

    def error_delay(self, failures: int, random: Callable[[], float] = _random.random) -> float:
        """The wait after ``failures`` failed batches in a row (1 for the first).

        The cap doubles from ``error_backoff`` up to ``max_error_backoff``; the wait is drawn
        from ``[cap / 2, cap)`` so that relays failing together do not retry together.
        """
        check_positive_int("failures", failures, maximum=sys.maxsize)
        cap = _doubled(self.error_backoff, self.max_error_backoff, failures)
        return cap * (0.5 + random_fraction(random) / 2)


def _doubled(first: float, cap: float, count: int) -> float:
    if first == 0:
        return 0.0
    try:
        grown = first * 2.0 ** (count - 1)
    except OverflowError:
        return cap
    return min(cap, grown)


# --- counters --------------------------------------------------------------------------------


@attrs.frozen
class RelayCounters:
    """What a relay has done since it was built: a snapshot (see :attr:`OutboxRelay.counters`).

    Snapshots of several relays add up with ``+``.
    """

    published: int = 0
    """Messages the publisher accepted (the broker has them)."""
    retried: int = 0
    """Failed messages given back to the store for a later attempt (it dead-letters those past its limit)."""
    dead_lettered: int = 0
    """Failed messages moved to the dead letters by the relay."""
    released: int = 0
    """Messages given back unpublished, without counting an attempt (graceful stop)."""
    lease_lost: int = 0
    """Outcomes the store refused because the lease had expired and another relay took over."""
    errors: int = 0
    """Batches that failed with an exception of the store or the publisher."""
    batches: int = 0
    """Claims that returned at least one message."""
    isolated: int = 0
    """Messages published alone because an earlier claim or delivery of theirs ended with no outcome (poison isolation)."""

    def __add__(self, other: RelayCounters) -> RelayCounters:
        if not is_instance(other, RelayCounters):
            return NotImplemented
        return RelayCounters(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in attrs.fields(RelayCounters)
            }
        )


class _Tally:
    """The live counters of one relay, updated under a lock; read as :class:`RelayCounters`."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {field.name: 0 for field in attrs.fields(RelayCounters)}

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._values[name] += delta

    def snapshot(self) -> RelayCounters:
        with self._lock:
            return RelayCounters(**self._values)


# --- the steps and the drivers ---------------------------------------------------------------


@attrs.frozen
class Call:
    """Call ``function(*arguments, **keywords)``; the async driver awaits the result."""

    function: Callable[..., Any]
    arguments: tuple[Any, ...] = ()
    keywords: Mapping[str, Any] = attrs.field(factory=dict[str, Any])


@attrs.frozen
class Sleep:
    """Sleep up to ``seconds``, until the stop event is set (or a wake-up hint comes, when ``hint``).

    The driver sends back whether a wake-up hint ended the sleep.
    """

    seconds: float
    hint: bool


@attrs.frozen
class Together:
    """Run ``plans`` at the same time; the driver sends back one :class:`Finished` per plan, in order.

    The async driver runs them as tasks of the loop; the sync driver runs the first in the
    calling thread and each other one in a thread of its own. A plan's exception is
    reported in its :class:`Finished`, never thrown: the plan that asked decides what to
    settle before it raises.
    """

    plans: tuple[Plan[Any], ...]


@attrs.frozen
class Finished:
    """How one plan of a :class:`Together` step ended: its result, or the exception it raised."""

    value: Any = None
    error: Exception | None = None


Step = Call | Sleep | Together
Plan = Generator[Step, Any, R]


def drive(plan: Plan[R], sleep: Callable[[Sleep], bool]) -> R:
    """Run ``plan``, performing each step directly; a step's exception is thrown into the plan.

    The plans of a :class:`Together` step run in threads of their own, but the first, which
    runs in the calling thread.
    """
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                step = plan.throw(error) if error is not None else plan.send(value)
            except StopIteration as done:
                result: R = done.value
                return result
            value, error = None, None
            try:
                if isinstance(step, Call):
                    value = step.function(*step.arguments, **step.keywords)
                elif isinstance(step, Together):
                    value = _together(step, sleep)
                else:
                    value = sleep(step)
            except Exception as exc:
                error = exc
    finally:
        plan.close()


def _finish(plan: Plan[Any], sleep: Callable[[Sleep], bool]) -> Finished:
    try:
        return Finished(drive(plan, sleep))
    except Exception as error:
        return Finished(error=error)


def _together(step: Together, sleep: Callable[[Sleep], bool]) -> list[Finished]:
    first, *others = step.plans
    finished: list[Finished] = [Finished() for _ in others]

    def run(index: int, plan: Plan[Any]) -> None:
        finished[index] = _finish(plan, sleep)

    threads = [
        threading.Thread(target=run, args=(index, plan), name="hexalchemy-relay-pipeline", daemon=True)
        for index, plan in enumerate(others)
    ]
    for thread in threads:
        thread.start()
    try:
        head = _finish(first, sleep)
    finally:
        for thread in threads:
            thread.join()
    return [head, *finished]


async def drive_async(plan: Plan[R], sleep: Callable[[Sleep], Any]) -> R:
    """Run ``plan``, awaiting each step (see :func:`drive`); ``sleep`` returns an awaitable."""
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                step = plan.throw(error) if error is not None else plan.send(value)
            except StopIteration as done:
                result: R = done.value
                return result
            value, error = None, None
            try:
                if isinstance(step, Call):
                    value = await step.function(*step.arguments, **step.keywords)
                elif isinstance(step, Together):
                    value = await asyncio.gather(*(_finish_async(plan, sleep) for plan in step.plans))
                else:
                    value = await sleep(step)
            except Exception as exc:
                error = exc
    finally:
        plan.close()


async def _finish_async(plan: Plan[Any], sleep: Callable[[Sleep], Any]) -> Finished:
    try:
        return Finished(await drive_async(plan, sleep))
    except Exception as error:
        return Finished(error=error)


# --- the plans -------------------------------------------------------------------------------


_DELIVERY_METHODS: Final = ("claim", "acknowledge", "reject", "dead_letter", "release", "deliver")
"""What a relay calls on its store: an :class:`~hexalchemy.ports.OutboxDelivery`'s methods."""


def _refuse_name(name: object) -> str:
    raise ConfigError("name", name, "must be a str")


class RelayCore:
    """The relay's logic over a store and a publisher, sync or async: plans, counters, state."""

    __slots__ = ("_publisher", "_running", "_running_lock", "_store", "name", "settings", "tally")

    def __init__(
        self,
        store: OutboxDelivery | AsyncOutboxDelivery,
        publisher: Publisher | AsyncPublisher,
        settings: RelaySettings,
        name: str,
    ) -> None:
        self._store = check_has_methods("store", store, _DELIVERY_METHODS, error=ConfigError)
        self._publisher = check_has_methods("publisher", publisher, ("publish",), error=ConfigError)
        self.settings = check_instance("settings", settings, RelaySettings, error=ConfigError)
        self.name = name if is_instance(name, str) else _refuse_name(name)
        self.tally = _Tally()
        self._running = False
        self._running_lock = threading.Lock()

    # running flag: one loop per relay ------------------------------------------------------

    def start_running(self) -> None:
        """Mark the loop as running; refuse a second concurrent ``run``."""
        with self._running_lock:
            if self._running:
                raise RuntimeError(
                    f"relay {self.name!r} is already running; build one relay per loop "
                    "(several relays may share a store)"
                )
            self._running = True

    def stop_running(self) -> None:
        """Mark the loop as stopped."""
        with self._running_lock:
            self._running = False

    # one batch -----------------------------------------------------------------------------

    def batch(self, stopping: Callable[[], bool]) -> Plan[int]:
        """Claim, publish and settle one batch; return how many messages were claimed.

        Raises what the store raised, or what the publisher raised once the batch has been
        rejected; either way the failure is counted in ``errors``.
        """
        try:
            return (yield from self._batch(stopping))
        except Exception:
            self.tally.add(errors=1)
            raise

    def _batch(self, stopping: Callable[[], bool]) -> Plan[int]:
        if self.settings.delivery is DeliveryMode.LOCKED:
            return (yield from self._deliver())
        lease = yield from self._claim()
        return (yield from self._handle(lease, stopping))

    def _claim(self) -> Plan[Lease]:
        settings = self.settings
        lease: Lease = yield Call(
            self._store.claim, keywords={"limit": settings.batch_size, "lease_for": settings.lease_for}
        )
        if lease.messages:
            self.tally.add(batches=1)
        return lease

    def _handle(self, lease: Lease, stopping: Callable[[], bool]) -> Plan[int]:
        """Publish and settle a claimed batch (released when stopping, its suspects isolated); return its size."""
        messages = lease.messages
        if not messages:
            return 0
        if stopping():
            yield from self._release(lease, [message.id for message in messages])
            return len(messages)
        suspects = [message for message in messages if crashed_before(message)]
        if not suspects:
            yield from self._publish(lease, messages)
            return len(messages)
        # Poison isolation: a message whose earlier claim ended with no outcome may have
        # killed that relay. Its batch-mates go first, as a batch; then it goes alone, and
        # the other suspects are given back (no attempt counted) for later claims, one each.
        lone, others = suspects[0], [m.id for m in suspects[1:]]
        innocents = [message for message in messages if not crashed_before(message)]
        if others:
            result: AcknowledgeResult = yield Call(self._store.release, (lease, others))
            self._count_stale(result, "release")
        if innocents:
            try:
                yield from self._publish(lease, innocents)
            except Exception:
                yield from self._release(lease, [lone.id])
                raise
        logger.info(
            "relay %s: message %s (attempt %d) follows a claim that ended with no outcome: "
            "publishing it alone",
            self.name,
            lone.id,
            lone.attempts,
        )
        self.tally.add(isolated=1)
        yield from self._publish(lease, [lone])
        return len(messages)

    # batches until idle ------------------------------------------------------------------

    def stream(self, stopping: Callable[[], bool]) -> Plan[int]:
        """Run batches until a claim finds nothing or ``stopping()``; return how many messages were claimed.

        With :attr:`RelaySettings.pipelined`, the next batch is claimed and the previous one
        settled while a batch is being published. Raises like :meth:`batch` (once the
        batches in flight are settled or given back); the failure is counted in ``errors``.
        """
        if stopping():
            return 0
        try:
            if self.settings.pipelined:
                return (yield from self._pipeline(stopping))
            claimed = 0
            while True:
                count = yield from self._batch(stopping)
                claimed += count
                if not count or stopping():
                    return claimed
        except Exception:
            self.tally.add(errors=1)
            raise

    def _pipeline(self, stopping: Callable[[], bool]) -> Plan[int]:
        """Leased batches, three at a time: one published, the one before settled, the one after claimed.

        Per-key order holds as with one batch at a time: a claim takes no message whose
        key has an earlier message still in the store, and a message stays there until
        the publisher confirmed it. A batch holding a suspect (:func:`crashed_before`) is
        handled alone, with nothing else in flight, so that a relay-killing message takes
        no other batch's claim down with it more than once.
        """
        claimed = 0
        lease = yield from self._claim()
        sent: tuple[Lease, Outcome] | None = None  # published, not settled yet
        while True:
            messages = lease.messages
            if not messages or stopping() or any(crashed_before(message) for message in messages):
                in_flight, sent = sent, None
                if in_flight is not None:
                    try:
                        yield from self._settle(*in_flight)
                    except Exception as error:
                        yield from self._wind_down(error, claimed=lease)
                if not messages:
                    if in_flight is None or stopping():
                        return claimed
                    # claimed while a batch was in flight: its keys' next messages were not due yet
                    lease = yield from self._claim()
                    continue
                claimed += yield from self._handle(lease, stopping)
                if stopping():
                    return claimed
                lease = yield from self._claim()
                continue
            claimed += len(messages)
            plans: list[Plan[Any]] = [self._send(lease, messages), self._claim()]
            if sent is not None:
                plans.append(self._settle(*sent))
            publishing, claiming, *settling = yield Together(tuple(plans))
            sent = (lease, publishing.value) if publishing.error is None else None
            failure = next((done.error for done in (publishing, claiming, *settling) if done.error), None)
            if failure is not None:
                yield from self._wind_down(
                    failure, sent=sent, claimed=claiming.value if claiming.error is None else None
                )
            lease = claiming.value

    def _wind_down(
        self, error: Exception, *, sent: tuple[Lease, Outcome] | None = None, claimed: Lease | None = None
    ) -> Plan[None]:
        """After ``error``: settle the batch published, give back the one claimed (no attempt counted), raise ``error``."""
        if sent is not None:
            try:
                yield from self._settle(*sent)
            except Exception as other:
                logger.warning(
                    "relay %s: settling a published batch failed too: %s", self.name, describe_error(other)
                )
        if claimed is not None and claimed.messages:
            try:
                result: AcknowledgeResult = yield Call(
                    self._store.release, (claimed, [message.id for message in claimed.messages])
                )
                self.tally.add(released=result.done)
                self._count_stale(result, "release")
            except Exception as other:
                logger.warning(
                    "relay %s: giving back %d claimed message(s) failed too (they are due again once "
                    "their lease expires): %s",
                    self.name,
                    len(claimed.messages),
                    describe_error(other),
                )
        raise error

    # publishing and settling -------------------------------------------------------------

    def _publish(self, lease: Lease, messages: list[OutboxMessage] | tuple[OutboxMessage, ...]) -> Plan[None]:
        """Publish ``messages`` of ``lease`` as one batch, then acknowledge, reject or dead-letter each."""
        outcome = yield from self._send(lease, messages)
        yield from self._settle(lease, outcome)

    def _send(self, lease: Lease, messages: list[OutboxMessage] | tuple[OutboxMessage, ...]) -> Plan[Outcome]:
        """Publish ``messages`` as one batch; when the publisher raises, reject each and raise."""
        try:
            results = yield Call(self._publisher.publish, (messages,))
            return sort_results(messages, results)
        except Exception as error:
            logger.warning(
                "relay %s: the publisher failed the whole batch of %d message(s): %s",
                self.name,
                len(messages),
                describe_error(error),
            )
            reason = f"the publisher raised {describe_error(error)}"
            for message in messages:
                yield from self._reject(lease, message, reason)
            raise

    def _settle(self, lease: Lease, outcome: Outcome) -> Plan[None]:
        """Acknowledge what the broker accepted; reject or dead-letter what it refused."""
        if outcome.published:
            self.tally.add(published=len(outcome.published))
            acknowledged: AcknowledgeResult = yield Call(self._store.acknowledge, (lease, outcome.published))
            self._count_stale(acknowledged, "acknowledge")
        for message, reason in outcome.failed:
            if message.id in outcome.permanent:
                yield from self._dead_letter(lease, message, reason)
            else:
                yield from self._reject(lease, message, reason)

    def _deliver(self) -> Plan[int]:
        """One locked delivery: the store publishes and settles the batch in its transaction."""
        result: DeliveryResult = yield Call(
            self._store.deliver, (self._publisher.publish,), {"limit": self.settings.batch_size}
        )
        if result.messages:
            self.tally.add(
                batches=1,
                published=result.published,
                retried=result.retried,
                dead_lettered=result.dead_lettered,
                isolated=result.isolated,
            )
        if result.isolated:
            logger.info(
                "relay %s: %d message(s) follow a delivery that died: published alone",
                self.name,
                result.isolated,
            )
        if result.error is not None:
            logger.warning(
                "relay %s: the publisher failed the whole batch of %d message(s): %s",
                self.name,
                result.messages,
                describe_error(result.error),
            )
            raise result.error
        if result.messages > result.published:
            logger.info(
                "relay %s: %d of %d message(s) failed (%d to retry, %d dead-lettered)",
                self.name,
                result.messages - result.published,
                result.messages,
                result.retried,
                result.dead_lettered,
            )
        return result.messages

    def _reject(self, lease: Lease, message: OutboxMessage, error: str) -> Plan[None]:
        logger.info(
            "relay %s: message %s (topic %r, attempt %d) failed: %s",
            self.name,
            message.id,
            message.topic,
            message.attempts,
            error,
        )
        result: AcknowledgeResult = yield Call(self._store.reject, (lease, message.id, error))
        self.tally.add(retried=result.done - result.dead_lettered, dead_lettered=result.dead_lettered)
        self._count_stale(result, "reject")

    def _dead_letter(self, lease: Lease, message: OutboxMessage, error: str) -> Plan[None]:
        logger.warning(
            "relay %s: message %s (topic %r) failed for good, dead-lettered: %s",
            self.name,
            message.id,
            message.topic,
            error,
        )
        result: AcknowledgeResult = yield Call(self._store.dead_letter, (lease, message.id, error))
        self.tally.add(dead_lettered=result.done)
        self._count_stale(result, "dead letter")

    def _release(self, lease: Lease, ids: list[uuid.UUID]) -> Plan[None]:
        logger.info("relay %s: stopping; releasing %d unpublished message(s)", self.name, len(ids))
        result: AcknowledgeResult = yield Call(self._store.release, (lease, ids))
        self.tally.add(released=result.done)
        self._count_stale(result, "release")

    def _count_stale(self, result: AcknowledgeResult, what: str) -> None:
        if result.stale:
            self.tally.add(lease_lost=result.stale)
            logger.warning(
                "relay %s: %d %s(s) came too late: the lease had expired and another relay "
                "took the message(s) over (consider a longer lease_for)",
                self.name,
                result.stale,
                what,
            )

    # the loop ------------------------------------------------------------------------------

    def loop(self, stopping: Callable[[], bool]) -> Plan[None]:
        """Run batches until ``stopping()``: straight on after work, sleeping when idle, backing off on errors."""
        idle_polls = 0
        failures = 0
        logger.info("relay %s: started (%s)", self.name, self.settings)
        while not stopping():
            try:
                claimed = yield from (
                    self.stream(stopping) if self.settings.pipelined else self.batch(stopping)
                )
            except Exception as error:
                failures += 1
                delay = self.settings.error_delay(failures)
                logger.error(
                    "relay %s: batch failed (%d failure(s) in a row), retrying in %.2f s: %s",
                    self.name,
                    failures,
                    delay,
                    describe_error(error),
                    exc_info=failures == 1,
                )
                yield Sleep(delay, hint=False)
                continue
            if failures:
                logger.info("relay %s: recovered after %d failure(s)", self.name, failures)
                failures = 0
            if claimed:
                idle_polls = 0
                continue
            idle_polls += 1
            woken = yield Sleep(self.settings.idle_delay(idle_polls), hint=True)
            if woken:
                idle_polls = 0
        logger.info("relay %s: stopped (%s)", self.name, self.tally.snapshot())
