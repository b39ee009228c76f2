# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The Redis Streams publisher: :class:`AsyncRedisStreamPublisher`; see :mod:`hexalchemy.brokers.redis`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
from redis import exceptions

from hexalchemy._guards import is_instance
from hexalchemy.brokers._redis_core import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_MAX_LENGTH,
    SCRIPT,
    SCRIPT_SHA,
    RedisCore,
    ScriptCall,
    async_redis_client_from_url,
    batch_pipeline,
)
from hexalchemy.ports import ConfigError, OutboxMessage, PublishResult, Route


class AsyncRedisStreamPublisher:
    """Publishes outbox messages to Redis Streams with ``XADD``, a batch in one round trip; implements ``AsyncPublisher``.

    * ``client`` -- a ``redis.asyncio.Redis`` client, or a URL (``redis://host:6379/0``) for
      one the publisher owns and closes in :meth:`aclose`;
    * ``max_length`` -- trim each stream to about this many entries (``MAXLEN ~``; exactly
      with ``approximate=False``; None: never trim);
    * ``dedup_window`` -- how long a message's dedup key (``dedup_prefix`` + stream + ``:`` +
      the route's ``dedup_id``) is kept: a message republished within it is not added again;
    * ``route`` -- the routing function (:func:`~hexalchemy.rules.default_route`: the stream
      is the topic). The entry's fields are ``payload`` (the bytes) and ``headers`` (JSON).

    A lost connection or a timeout fails the batch's messages as retryable, and the
    client reconnects at the next batch; a command Redis refuses fails its message for
    good (``PublishResult.permanent``).
    """

    def __init__(
        self,
        client: aioredis.Redis | str,
        *,
        max_length: int | None = DEFAULT_MAX_LENGTH,
        approximate: bool = True,
        dedup_window: dt.timedelta = DEFAULT_DEDUP_WINDOW,
        dedup_prefix: str = "hexalchemy:dedup:",
        route: Callable[[OutboxMessage], Route] | None = None,
    ) -> None:
        self._core = RedisCore(
            max_length=max_length,
            approximate=approximate,
            dedup_window=dedup_window,
            dedup_prefix=dedup_prefix,
            route=route,
        )
        if isinstance(client, str):
            self._client: aioredis.Redis = async_redis_client_from_url(client)
            self._owned = True
        elif is_instance(client, aioredis.Redis):
            self._client, self._owned = client, False
        else:
            raise ConfigError("client", client, "must be a Redis client or a redis:// URL")

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Add each message to its stream (once per dedup window); return one result per message."""
        routed = self._core.routed(messages)
        if not routed.messages:
            return routed.failed
        calls = self._core.calls(routed.routes)
        try:
            replies = await self._send(calls)
            if self._core.missing_script(replies):
                await self._client.script_load(SCRIPT)
                replies = await self._send(calls)
        except (exceptions.RedisError, OSError) as error:
            return self._core.lost(routed, error)
        return self._core.results(routed, calls, replies)

    async def _send(self, calls: Sequence[ScriptCall]) -> list[object]:
        async with batch_pipeline(self._client) as pipe:
            for call in calls:
                pipe.evalsha(SCRIPT_SHA, *call.arguments)
            replies: list[object] = await pipe.execute(raise_on_error=False)
        return replies

    async def aclose(self) -> None:
        """Close the client if the publisher made it from a URL."""
        if self._owned:
            await self._client.aclose()
