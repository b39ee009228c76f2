"""Publishers that ship with hexalchemy: :class:`LoggingPublisher` and its async twin.

Real publishers are yours: a class with a ``publish(messages)`` method that sends the
batch to your broker and returns one :class:`~hexalchemy.ports.PublishResult` per message
(see :class:`~hexalchemy.ports.Publisher`). These two only log, which is enough for a
demo, for ``hexalchemy outbox relay`` without a broker, or to watch the traffic.

The async publisher is written in ``_async/publishers.py`` and the sync one generated from
it (``make generate``); both are shells over ``_logging_core.py``.
"""

from __future__ import annotations

from hexalchemy.outbox._async.publishers import AsyncLoggingPublisher
from hexalchemy.outbox._logging_core import PAYLOAD_PREVIEW_BYTES as PAYLOAD_PREVIEW_BYTES
from hexalchemy.outbox._sync.publishers import LoggingPublisher

__all__ = ["AsyncLoggingPublisher", "LoggingPublisher"]
