"""Where a broker publisher sends an outbox message: :class:`Route`, the value a routing function returns.

Every publisher of :mod:`hexalchemy.brokers` maps each :class:`~hexalchemy.ports.OutboxMessage`
onto its broker through a routing function ``route(message) -> Route``;
:func:`hexalchemy.rules.default_route` is the default, and you may pass your own.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["Route"]


@attrs.frozen(kw_only=True)
class Route:
    """What a broker publisher sends for one message, and where.

    - ``destination``: the Redis stream key, the NATS subject, or the RabbitMQ routing key;
    - ``payload``: the message body;
    - ``headers``: the broker's message headers (Redis: the entry's ``headers`` field, as JSON);
    - ``dedup_id``: what the broker deduplicates on (JetStream's ``Nats-Msg-Id``, RabbitMQ's
      ``message_id`` property, the Redis publisher's dedup key); a republished message must
      keep it, so it is derived from the outbox message id.
    """

    destination: str
    payload: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict[str, str])
    dedup_id: str
