"""The outbox relay: an application service that delivers outbox messages to a broker.

It speaks only to the ports (:class:`~hexalchemy.ports.OutboxDelivery`,
:class:`~hexalchemy.ports.Publisher` and their async twins), so it runs the same over the
SQL store and the in-memory one. See ``docs/outbox.md``.
"""

from hexalchemy.outbox.events import AsyncEventRecordingRepository, EventRecordingRepository, EventSerializer
from hexalchemy.outbox.publishers import AsyncLoggingPublisher, LoggingPublisher
from hexalchemy.outbox.relay import (
    AsyncOutboxRelay,
    AsyncWakeUp,
    DeliveryMode,
    OutboxRelay,
    RelayCounters,
    RelaySettings,
    WakeUp,
)

__all__ = [
    "AsyncEventRecordingRepository",
    "EventRecordingRepository",
    "EventSerializer",
    "AsyncLoggingPublisher",
    "AsyncOutboxRelay",
    "AsyncWakeUp",
    "DeliveryMode",
    "LoggingPublisher",
    "OutboxRelay",
    "RelayCounters",
    "RelaySettings",
    "WakeUp",
]
