"""Publishers that ship with hexalchemy: :class:`LoggingPublisher` and its async twin.

Real publishers are yours: a class with a ``publish(messages)`` method that sends the
batch to your broker and returns one :class:`~hexalchemy.ports.PublishResult` per message
(see :class:`~hexalchemy.ports.Publisher`). These two only log, which is enough for a
demo, for ``hexalchemy outbox relay`` without a broker, or to watch the traffic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from hexalchemy.ports import ConfigError, OutboxMessage, PublishResult
from hexalchemy.rules import check_instance, check_int, check_items

__all__ = ["AsyncLoggingPublisher", "LoggingPublisher"]

PAYLOAD_PREVIEW_BYTES: Final = 200
"""How many payload bytes a logging publisher shows; the rest is elided."""

_DEFAULT_LOGGER: Final = "hexalchemy.outbox.publisher"


class _Logger:
    """The logic shared by the two logging publishers."""

    __slots__ = ("level", "logger")

    def __init__(self, logger: logging.Logger | None, level: int) -> None:
        if logger is not None:
            check_instance("logger", logger, logging.Logger, error=ConfigError)
        self.logger = logger if logger is not None else logging.getLogger(_DEFAULT_LOGGER)
        self.level = check_int("level", level, minimum=0, maximum=logging.CRITICAL, error=ConfigError)

    def publish(self, messages: Sequence[OutboxMessage]) -> list[PublishResult]:
        messages = check_items("messages", messages, OutboxMessage)
        for message in messages:
            payload = message.payload
            shown = payload[:PAYLOAD_PREVIEW_BYTES]
            more = f" (+{len(payload) - len(shown)} bytes)" if len(payload) > len(shown) else ""
            self.logger.log(
                self.level,
                "outbox message %s topic=%s ordering_key=%s attempts=%d headers=%s payload=%r%s",
                message.id,
                message.topic,
                message.ordering_key,
                message.attempts,
                dict(message.headers),
                shown,
                more,
            )
        return [PublishResult(message.id) for message in messages]


class LoggingPublisher:
    """Logs every message (logger ``hexalchemy.outbox.publisher`` at INFO by default) and accepts it."""

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        self._logger = _Logger(logger, level)

    def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Log each message; every one succeeds."""
        return self._logger.publish(messages)


class AsyncLoggingPublisher:
    """The async twin of :class:`LoggingPublisher`."""

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        self._logger = _Logger(logger, level)

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Log each message; every one succeeds."""
        return self._logger.publish(messages)
