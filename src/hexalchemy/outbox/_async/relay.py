# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The outbox relay: :class:`AsyncOutboxRelay`; see :mod:`hexalchemy.outbox.relay`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Final

from hexalchemy.outbox._core import DeliveryMode, RelayCore, RelayCounters, RelaySettings, Sleep, drive_async
from hexalchemy.outbox._wake_up import AsyncWakeUp, checked_wake_up, idle_sleep_async
from hexalchemy.ports import AsyncOutboxDelivery, AsyncPublisher
from hexalchemy.rules import check_has_methods

_DEFAULT_LEASE: Final = dt.timedelta(seconds=30)


class AsyncOutboxRelay:
    """Delivers outbox messages from ``store`` through ``publisher``, until told to stop.

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
      :meth:`~hexalchemy.ports.AsyncLockedDelivery.deliver`). ``lease_for`` applies to
      leased delivery only.
    * ``pipelined`` -- in leased delivery, claim the next batch and settle (acknowledge,
      reject) the previous one while a batch is being published, instead of one step after
      the other: a batch costs about its slowest step rather than the sum of the three.
      One batch is published at a time, in claim order, and per-key order holds (a claim
      takes no message whose key has an earlier message not yet confirmed). The store is
      called for up to three batches at once (from a second and third thread in the sync
      relay: the store must allow it, as the SQL and in-memory stores do), a batch claimed
      ahead waits for the batch before it (keep ``lease_for`` above two batches' publishing
      time), and after a crash the messages of up to two batches count as suspects
      (published one at a time once). A ``ConfigError`` with locked delivery.
    * ``wake_up`` -- an optional :class:`~hexalchemy.outbox.AsyncWakeUp` that ends an idle
      sleep early (:class:`asyncio.Event` is one, and
      :class:`~hexalchemy.sqlalchemy.AsyncPostgresNotifyWakeUp`).
    * ``name`` -- shown in the log messages (logger ``hexalchemy.outbox.relay``).

    ``store`` is the relay's :class:`~hexalchemy.ports.AsyncOutboxDelivery` (any
    :class:`~hexalchemy.ports.AsyncOutboxRelayStore` is one) and ``publisher`` its
    :class:`~hexalchemy.ports.AsyncPublisher`. Every value is checked here: a bad one raises
    :class:`~hexalchemy.ports.ConfigError`. One relay runs one loop at a time, in the calling
    thread or task; run more relays (threads, tasks, processes, hosts) for more throughput
    or availability. Stopping it otherwise than by its stop event (cancelling its task, an
    exception such as ``KeyboardInterrupt``) stops it at once: the messages of the batch in
    flight are published again once their lease expires (at once in locked delivery: its
    transaction rolls back).
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
        pipelined: bool = False,
        wake_up: AsyncWakeUp | None = None,
        name: str = "relay",
    ) -> None:
        settings = RelaySettings(
            delivery=delivery,
            batch_size=batch_size,
            lease_for=lease_for,
            min_idle_delay=min_idle_delay,
            max_idle_delay=max_idle_delay,
            error_backoff=error_backoff,
            max_error_backoff=max_error_backoff,
            pipelined=pipelined,
        )
        self._core = RelayCore(store, publisher, settings, name)
        self._wake_up = checked_wake_up(wake_up)

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

        0 means nothing was due. Raises what the store raised, or what the publisher raised
        after the whole batch was rejected (counted in ``errors`` either way).
        """
        return await drive_async(self._core.batch(_never), self._sleep_forbidden)

    async def drain(self, stop: asyncio.Event | None = None) -> int:
        """Run batches until a claim finds nothing, or ``stop`` is set; return how many messages were claimed.

        What :meth:`run_once` called until it returns 0 does, pipelined when ``pipelined``
        (the next claim waits for no acknowledgement). When ``stop`` is set the batches in
        flight are finished as :meth:`run` finishes them. Raises what the store or the
        publisher raised (counted in ``errors``), once the batches in flight are settled
        or given back.
        """
        if stop is None:
            return await drive_async(self._core.stream(_never), self._sleep_forbidden)
        check_has_methods("stop", stop, ("is_set", "wait"))
        return await drive_async(self._core.stream(stop.is_set), self._sleep_forbidden)

    async def run(self, stop: asyncio.Event) -> None:
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
            await drive_async(
                self._core.loop(stop.is_set),
                lambda step: idle_sleep_async(step, stop, self._wake_up, self._core.name),
            )
        finally:
            self._core.stop_running()

    @staticmethod
    async def _sleep_forbidden(step: Sleep) -> bool:  # pragma: no cover - a batch never sleeps
        raise AssertionError("a batch does not sleep")


def _never() -> bool:
    return False
