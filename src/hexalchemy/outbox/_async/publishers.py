# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The logging publisher: :class:`AsyncLoggingPublisher`; see :mod:`hexalchemy.outbox.publishers`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hexalchemy.outbox._logging_core import LoggingCore
from hexalchemy.ports import OutboxMessage, PublishResult


class AsyncLoggingPublisher:
    """Logs every message (logger ``hexalchemy.outbox.publisher`` at INFO by default) and accepts it; implements ``AsyncPublisher``."""

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        self._core = LoggingCore(logger, level)

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Log each message; every one succeeds."""
        return self._core.publish(messages)
