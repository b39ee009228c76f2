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
(``hexalchemy.outbox._core``); the async class is written in ``_async/relay.py`` and the
sync one generated from it (``make generate``). They differ only in ``await`` and in how
they sleep when idle (``_wake_up.py``: a thread blocks, a task waits cancellably). Run as
many relays as you like, on as many hosts: the store's leases keep them from publishing
the same message at the same time.
"""

from __future__ import annotations

from hexalchemy.outbox._async.relay import AsyncOutboxRelay
from hexalchemy.outbox._core import DeliveryMode, RelayCounters, RelaySettings
from hexalchemy.outbox._sync.relay import OutboxRelay
from hexalchemy.outbox._wake_up import STOP_CHECK_INTERVAL as STOP_CHECK_INTERVAL  # the sync relay's pace
from hexalchemy.outbox._wake_up import AsyncWakeUp, WakeUp

__all__ = [
    "AsyncOutboxRelay",
    "AsyncWakeUp",
    "DeliveryMode",
    "OutboxRelay",
    "RelayCounters",
    "RelaySettings",
    "WakeUp",
]
