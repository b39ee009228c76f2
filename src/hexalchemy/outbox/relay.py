"""The outbox relay: moves committed outbox messages to a broker, at least once.

A relay claims a batch of due messages from a store (an
:class:`~hexalchemy.ports.OutboxDelivery`, such as any
:class:`~hexalchemy.ports.OutboxRelayStore`) under a lease, hands it to a
:class:`~hexalchemy.ports.Publisher`, then acknowledges the messages the broker accepted
and rejects the others (the store retries them later with backoff, and dead-letters those
past its attempt limit). With ``delivery=DeliveryMode.LOCKED`` it asks the store to do all
of that in one transaction instead (:meth:`~hexalchemy.ports.LockedDelivery.deliver`)::

    relay = OutboxRelay(store, publisher, batch_size=100, lease_for=timedelta(seconds=30))
    stop = threading.Event()          # set it from a signal handler or another thread
    relay.run(stop)                   # returns once stop is set and the batch in flight is done

:class:`OutboxRelay` and :class:`AsyncOutboxRelay` share all their logic
(``hexalchemy.outbox._core``); they differ only in ``await``. Run as many relays as you
like, on as many hosts: the store's leases keep them from publishing the same message
at the same time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from typing import Final, Literal, Protocol, TypeVar

from hexalchemy.outbox._core import (
    DeliveryMode,
    RelayCore,
    RelayCounters,
    RelaySettings,
    Sleep,
    drive,
    drive_async,
    logger,
)
from hexalchemy.ports import AsyncOutboxDelivery, AsyncPublisher, ConfigError, OutboxDelivery, Publisher
from hexalchemy.rules import check_has_methods

__all__ = [
    "AsyncOutboxRelay",
    "AsyncWakeUp",
    "DeliveryMode",
    "OutboxRelay",
    "RelayCounters",
    "RelaySettings",
    "WakeUp",
]

T = TypeVar("T")

STOP_CHECK_INTERVAL: Final = 0.1
"""Seconds: while a sync relay sleeps on a wake-up source, how often it checks its stop event."""

_DEFAULT_LEASE: Final = dt.timedelta(seconds=30)


class WakeUp(Protocol):
    """A hint that new messages may be due, for :class:`OutboxRelay` (a :class:`threading.Event` is one).

    The relay calls ``wait(timeout)`` while idle and claims again as soon as it returns
    True; it calls ``clear()`` before that claim. A hint only shortens the idle sleep:
    polling alone delivers every message.
    """

    def wait(self, timeout: float | None = None, /) -> bool:
        """Block up to ``timeout`` seconds for a hint; return whether one came."""
        ...

    def clear(self) -> None:
        """Forget the hints received so far."""
        ...


class AsyncWakeUp(Protocol):
    """A hint that new messages may be due, for :class:`AsyncOutboxRelay` (an :class:`asyncio.Event` is one)."""

    async def wait(self) -> bool:
        """Wait for a hint (the relay cancels the wait when its idle sleep is over)."""
        ...

    def clear(self) -> None:
        """Forget the hints received so far."""
        ...


def _settings(
    batch_size: int,
    lease_for: float | dt.timedelta,
    min_idle_delay: float | dt.timedelta,
    max_idle_delay: float | dt.timedelta,
    error_backoff: float | dt.timedelta,
    max_error_backoff: float | dt.timedelta,
    delivery: DeliveryMode | str,
) -> RelaySettings:
    return RelaySettings(
        delivery=delivery,
        batch_size=batch_size,
        lease_for=lease_for,
        min_idle_delay=min_idle_delay,
        max_idle_delay=max_idle_delay,
        error_backoff=error_backoff,
        max_error_backoff=max_error_backoff,
    )


class OutboxRelay:
    """Delivers outbox messages from ``store`` through ``publisher``, in the calling thread.

    * ``batch_size`` -- the most messages claimed and published at once.
    * ``lease_for`` -- how long a claim holds its messages (a ``timedelta`` or seconds).
      Make it comfortably longer than publishing a batch takes: a relay that outlives its
      lease may see its messages published again by another relay (counted in
      ``lease_lost``).
    * ``min_idle_delay`` / ``max_idle_delay`` -- seconds (or ``timedelta``): when a claim
      finds nothing the relay sleeps ``min_idle_delay``, doubling with every further empty
      claim up to ``max_idle_delay``; any work resets it.
    * ``error_backoff`` / ``max_error_backoff`` -- after a store or publisher exception the
      relay waits ``error_backoff`` (jittered), doubling with every further failure in a
      row up to ``max_error_backoff``; it never gives up.
    * ``delivery`` -- :attr:`DeliveryMode.LEASED` (the default: lease, publish, then
      acknowledge) or :attr:`DeliveryMode.LOCKED` (take, publish and settle in one
      transaction that holds the messages' locks: faster, for a fast publisher; see
      :meth:`~hexalchemy.ports.LockedDelivery.deliver`). ``lease_for`` applies to
      leased delivery only.
    * ``wake_up`` -- an optional :class:`WakeUp` (a :class:`threading.Event`, or
      :class:`~hexalchemy.sqlalchemy.PostgresNotifyWakeUp`) that ends an idle sleep early.
    * ``name`` -- shown in the log messages (logger ``hexalchemy.outbox.relay``).

    Every value is checked here: a bad one raises :class:`~hexalchemy.ports.ConfigError`.
    One relay runs one loop at a time; run more relays (threads, processes, hosts) for
    more throughput or availability.
    """

    def __init__(
        self,
        store: OutboxDelivery,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        lease_for: float | dt.timedelta = _DEFAULT_LEASE,
        min_idle_delay: float | dt.timedelta = 0.1,
        max_idle_delay: float | dt.timedelta = 2.0,
        error_backoff: float | dt.timedelta = 0.5,
        max_error_backoff: float | dt.timedelta = 30.0,
        delivery: DeliveryMode | str = DeliveryMode.LEASED,
        wake_up: WakeUp | None = None,
        name: str = "relay",
    ) -> None:
        settings = _settings(
            batch_size, lease_for, min_idle_delay, max_idle_delay, error_backoff, max_error_backoff, delivery
        )
        self._core = RelayCore(store, publisher, settings, name)
        self._wake_up = _checked_wake_up(wake_up)

    @property
    def settings(self) -> RelaySettings:
        """The validated settings."""
        return self._core.settings

    @property
    def name(self) -> str:
        """The name shown in log messages."""
        return self._core.name

    @property
    def counters(self) -> RelayCounters:
        """A consistent snapshot of what this relay has done so far (safe from any thread)."""
        return self._core.tally.snapshot()

    def run_once(self) -> int:
        """Claim one batch, publish it, acknowledge or reject each message; return how many were claimed.

        0 means nothing was due. Raises what the store raised, or what the publisher raised
        after the whole batch was rejected (counted in ``errors`` either way).
        """
        return drive(self._core.batch(_never), self._sleep_forbidden)

    def run(self, stop: threading.Event) -> None:
        """Deliver messages until ``stop`` is set, then return.

        After a full or partial batch the relay claims again at once; it sleeps only when a
        claim found nothing (see ``min_idle_delay``). Store and publisher exceptions are
        logged and backed off, never raised. When ``stop`` is set the batch in flight is
        finished: messages already handed to the publisher are acknowledged or rejected,
        and messages claimed but not yet published are released at once.
        """
        check_has_methods("stop", stop, ("is_set", "wait"))
        self._core.start_running()
        try:
            drive(self._core.loop(stop.is_set), lambda step: self._sleep(step, stop))
        finally:
            self._core.stop_running()

    def _sleep(self, step: Sleep, stop: threading.Event) -> bool:
        deadline = time.monotonic() + step.seconds
        wake_up = self._wake_up
        if wake_up is not None and step.hint:
            try:
                while not stop.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    if wake_up.wait(min(remaining, STOP_CHECK_INTERVAL)):
                        wake_up.clear()
                        return True
                return False
            except Exception:
                logger.warning("relay %s: the wake-up source failed; polling only", self.name, exc_info=True)
        stop.wait(max(0.0, deadline - time.monotonic()))
        return False

    @staticmethod
    def _sleep_forbidden(step: Sleep) -> bool:  # pragma: no cover - a batch never sleeps
        raise AssertionError("a batch does not sleep")


class AsyncOutboxRelay:
    """Delivers outbox messages from ``store`` through ``publisher``, in the calling task.

    The async twin of :class:`OutboxRelay`: the same options and behaviour, with an
    :class:`~hexalchemy.ports.AsyncOutboxDelivery`, an
    :class:`~hexalchemy.ports.AsyncPublisher`, an :class:`asyncio.Event` to stop and an
    optional :class:`AsyncWakeUp`. Cancelling the task that runs it stops it at once: the
    messages of the batch in flight are published again once their lease expires (at once in
    locked delivery: its transaction rolls back).
    """

    def __init__(
        self,
        store: AsyncOutboxDelivery,
        publisher: AsyncPublisher,
        *,
        batch_size: int = 100,
        lease_for: float | dt.timedelta = _DEFAULT_LEASE,
        min_idle_delay: float | dt.timedelta = 0.1,
        max_idle_delay: float | dt.timedelta = 2.0,
        error_backoff: float | dt.timedelta = 0.5,
        max_error_backoff: float | dt.timedelta = 30.0,
        delivery: DeliveryMode | str = DeliveryMode.LEASED,
        wake_up: AsyncWakeUp | None = None,
        name: str = "relay",
    ) -> None:
        settings = _settings(
            batch_size, lease_for, min_idle_delay, max_idle_delay, error_backoff, max_error_backoff, delivery
        )
        self._core = RelayCore(store, publisher, settings, name)
        self._wake_up = _checked_wake_up(wake_up)

    @property
    def settings(self) -> RelaySettings:
        """The validated settings."""
        return self._core.settings

    @property
    def name(self) -> str:
        """The name shown in log messages."""
        return self._core.name

    @property
    def counters(self) -> RelayCounters:
        """A consistent snapshot of what this relay has done so far (safe from any thread)."""
        return self._core.tally.snapshot()

    async def run_once(self) -> int:
        """Claim one batch, publish it, acknowledge or reject each message; return how many were claimed.

        See :meth:`OutboxRelay.run_once`.
        """
        return await drive_async(self._core.batch(_never), self._sleep_forbidden)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver messages until ``stop`` is set, then return (see :meth:`OutboxRelay.run`)."""
        check_has_methods("stop", stop, ("is_set", "wait"))
        self._core.start_running()
        try:
            await drive_async(self._core.loop(stop.is_set), lambda step: self._sleep(step, stop))
        finally:
            self._core.stop_running()

    async def _sleep(self, step: Sleep, stop: asyncio.Event) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + step.seconds
        stopped = asyncio.ensure_future(stop.wait())
        waiters: set[asyncio.Future[Literal[True]] | asyncio.Future[bool]] = {stopped}
        hint: asyncio.Future[bool] | None = None
        wake_up = self._wake_up
        if wake_up is not None and step.hint:
            hint = asyncio.ensure_future(wake_up.wait())
            waiters.add(hint)
        try:
            done, _ = await asyncio.wait(waiters, timeout=step.seconds, return_when=asyncio.FIRST_COMPLETED)
            if wake_up is not None and hint is not None and hint in done:
                error = hint.exception()
                if error is None:
                    wake_up.clear()
                    return True
                logger.warning("relay %s: the wake-up source failed; polling only", self.name, exc_info=error)
                if not stopped.done():
                    await asyncio.wait({stopped}, timeout=max(0.0, deadline - loop.time()))
            return False
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    @staticmethod
    async def _sleep_forbidden(step: Sleep) -> bool:  # pragma: no cover - a batch never sleeps
        raise AssertionError("a batch does not sleep")


def _checked_wake_up(wake_up: T) -> T:
    """``wake_up`` if it is None or has ``wait`` and ``clear``; else ``ConfigError``."""
    if wake_up is not None:
        check_has_methods("wake_up", wake_up, ("wait", "clear"), error=ConfigError)
    return wake_up


def _never() -> bool:
    return False
