# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The collecting publisher: :class:`AsyncCollectingPublisher`; see :mod:`hexalchemy.testing.publishers`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hexalchemy.ports import OutboxMessage, PublishResult
from hexalchemy.testing._publishers_core import CollectingShell, Collector


class AsyncCollectingPublisher(CollectingShell):
    """A publisher (:class:`~hexalchemy.ports.AsyncPublisher`) that records what it accepts, for tests.

    ``on_publish``, when given, is called with each batch before anything else (outside the
    lock): a test uses it to stop a relay mid-batch or to break the database in flight.
    """

    def __init__(self, *, on_publish: Callable[[Sequence[OutboxMessage]], object] | None = None) -> None:
        self._collector = Collector(on_publish)

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Record and accept each message, or refuse it by the failure rules, or raise."""
        return self._collector.publish(messages)
