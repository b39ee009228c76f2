"""Redis Streams publishers (the ``hexalchemy[redis]`` extra): :class:`RedisStreamPublisher` and its async twin.

::

    publisher = RedisStreamPublisher("redis://127.0.0.1:6379/0", max_length=100_000)
    relay = OutboxRelay(store, publisher)

Each batch is one pipeline of one ``EVALSHA`` per stream it writes to (per
``SCRIPT_ENTRIES`` messages), sent and answered in one round trip. For each message the
script adds the entry (``XADD``, with the ``MAXLEN`` trimming you set) only when the
message's dedup key is absent, then keeps that key for ``dedup_window``: a message the
relay publishes again (its acknowledgement was lost) is not added twice. The consumers
(:class:`RedisStreamConsumer`, :class:`AsyncRedisStreamConsumer`) read a consumer group
and acknowledge an entry only after its inbox transaction committed. See
``docs/brokers.md``. The async publisher is written in ``_async/redis.py`` over
``redis.asyncio``; the sync one is generated from it, over ``redis.Redis``.
"""

from hexalchemy.brokers._async.redis import AsyncRedisStreamPublisher
from hexalchemy.brokers._async.redis_consumer import AsyncRedisStreamConsumer
from hexalchemy.brokers._redis_core import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_MAX_LENGTH,
    MAX_BLOCK,
    SCRIPT,
    SCRIPT_BYTES,
    SCRIPT_ENTRIES,
    StreamEntry,
    is_retryable,
    stream_entry,
)
from hexalchemy.brokers._sync.redis import RedisStreamPublisher
from hexalchemy.brokers._sync.redis_consumer import RedisStreamConsumer

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "DEFAULT_MAX_LENGTH",
    "MAX_BLOCK",
    "SCRIPT",
    "SCRIPT_BYTES",
    "SCRIPT_ENTRIES",
    "AsyncRedisStreamConsumer",
    "AsyncRedisStreamPublisher",
    "RedisStreamConsumer",
    "RedisStreamPublisher",
    "StreamEntry",
    "is_retryable",
    "stream_entry",
]
