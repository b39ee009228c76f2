"""What the logging publishers do, written once: :class:`LoggingCore`, behind both twins.

:class:`~hexalchemy.outbox.LoggingPublisher` is generated from
:class:`~hexalchemy.outbox.AsyncLoggingPublisher` (``_async/publishers.py``); each is a
shell whose ``publish`` calls :meth:`LoggingCore.publish`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from hexalchemy.ports import ConfigError, OutboxMessage, PublishResult
from hexalchemy.rules import check_instance, check_int, check_items

PAYLOAD_PREVIEW_BYTES: Final = 200
"""How many payload bytes a logging publisher shows; the rest is elided."""

_DEFAULT_LOGGER: Final = "hexalchemy.outbox.publisher"


class LoggingCore:
    """Logs every message of a batch, and accepts it; the logger and level are checked when built."""

    __slots__ = ("level", "logger")

    def __init__(self, logger: logging.Logger | None, level: int) -> None:
        if logger is not None:
            check_instance("logger", logger, logging.Logger, error=ConfigError)
        self.logger = logger if logger is not None else logging.getLogger(_DEFAULT_LOGGER)
        self.level = check_int("level", level, minimum=0, maximum=logging.CRITICAL, error=ConfigError)

    def publish(self, messages: Sequence[OutboxMessage]) -> list[PublishResult]:
        """Log each message (its payload shortened to :data:`PAYLOAD_PREVIEW_BYTES`); every one succeeds."""
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
