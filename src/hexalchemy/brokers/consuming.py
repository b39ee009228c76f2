"""Consumer helpers: acknowledge a delivered message only after its inbox transaction committed.

:class:`InboxHandler` (and :class:`AsyncInboxHandler`) hold the rule, written once: record
the message id in the inbox and apply the effects in one transaction, the effects only the
first time. The broker helpers build on it: ``RedisStreamConsumer`` /
``AsyncRedisStreamConsumer`` (:mod:`hexalchemy.brokers.redis`), :func:`handle_jetstream`
(:mod:`hexalchemy.brokers.nats`) and :func:`handle_rabbitmq`
(:mod:`hexalchemy.brokers.rabbitmq`). This module imports no broker client. The async
handler is written in ``_async/consuming.py``; the sync one is generated from it.
"""

from hexalchemy.brokers._async.consuming import AsyncInboxHandler
from hexalchemy.brokers._sync.consuming import InboxHandler

__all__ = ["AsyncInboxHandler", "InboxHandler"]
