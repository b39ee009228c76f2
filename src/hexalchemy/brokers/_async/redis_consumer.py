# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The Redis Streams consumer: :class:`AsyncRedisStreamConsumer`; see :mod:`hexalchemy.brokers.redis`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final

import redis.asyncio as aioredis
from redis import exceptions

from hexalchemy._guards import is_instance
from hexalchemy.brokers._async.consuming import AsyncInboxHandler
from hexalchemy.brokers._redis_core import MAX_BLOCK, StreamEntry, read_entries, stream_entry, unacknowledged
from hexalchemy.ports import ConfigError
from hexalchemy.rules import check_instance, check_positive_int, message_id_of
from hexalchemy.rules.arguments import check_duration

logger: Final = logging.getLogger("hexalchemy.brokers.redis")


class AsyncRedisStreamConsumer:
    """Reads a stream in a consumer group and acknowledges each entry only after its inbox transaction committed.

    Each :meth:`run_once` handles, in stream order: first the entries this consumer read
    but did not acknowledge (a handler that raised, a lost connection: ``XREADGROUP``
    from id 0), and the ones another consumer of the group read but did not acknowledge
    for ``claim_idle`` (it died: ``XAUTOCLAIM``); only when there are none, new entries
    (``XREADGROUP`` ``>``); at most ``count`` each. So a consumer that failed on an entry
    retries it before any later one: one consumer keeps the stream's order. Every entry
    goes through ``handler`` (:class:`~hexalchemy.brokers.consuming.AsyncInboxHandler`:
    the inbox record and the effects in one transaction) and is acknowledged (``XACK``)
    after it returned. An entry with no outbox message id in its headers is acknowledged
    and logged, never applied.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        handler: AsyncInboxHandler[StreamEntry],
        *,
        stream: str,
        group: str,
        consumer: str,
        count: int = 100,
        claim_idle: dt.timedelta = dt.timedelta(seconds=30),
    ) -> None:
        self._client = check_instance("client", client, aioredis.Redis, error=ConfigError)
        check_instance("handler", handler, AsyncInboxHandler, error=ConfigError)
        self._handler = handler
        for name, value in (("stream", stream), ("group", group), ("consumer", consumer)):
            if not is_instance(value, str) or not value:
                raise ConfigError(name, value, "must be a non-empty str")
        self.stream, self.group, self.consumer = stream, group, consumer
        self._count = check_positive_int("count", count, maximum=100_000, error=ConfigError)
        check_duration("claim_idle", claim_idle, error=ConfigError)
        self._claim_idle_ms = int(claim_idle.total_seconds() * 1000)
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def run_once(self, *, block: dt.timedelta | None = None) -> int:
        """Handle the entries due now (waiting up to ``block`` for new ones); return how many were handled.

        ``block`` is None (no wait) or a ``timedelta`` from 0 to :data:`MAX_BLOCK`
        (``InvalidArgumentError`` otherwise).
        """
        if block is not None:
            check_duration("block", block, allow_zero=True, maximum=MAX_BLOCK)
        await self._ensure_group()
        mine: Any = await self._client.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=self._count
        )
        reply: Any = await self._client.xautoclaim(
            self.stream, self.group, self.consumer, self._claim_idle_ms, start_id="0-0", count=self._count
        )
        entries = unacknowledged(read_entries(mine), list(reply[1]) if reply else [])
        if not entries:
            streams: Any = await self._client.xreadgroup(
                self.group,
                self.consumer,
                {self.stream: ">"},
                count=self._count,
                block=None if block is None else max(1, int(block.total_seconds() * 1000)),
            )
            entries = read_entries(streams)
        handled = 0
        for entry_id, fields in entries:
            if fields is None:  # deleted (trimmed) while pending
                await self._client.xack(self.stream, self.group, entry_id)
                continue
            entry = stream_entry(self.stream, entry_id, fields)
            message_id = message_id_of(entry.headers)
            if message_id is None:
                logger.warning(
                    "entry %s of %s carries no message id: acknowledged, not applied",
                    entry.entry_id,
                    self.stream,
                )
            else:
                await self._handler.handle(message_id, entry)
            await self._client.xack(self.stream, self.group, entry_id)
            handled += 1
        return handled
