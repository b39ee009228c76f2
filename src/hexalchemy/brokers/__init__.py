"""Broker adapters: outbox publishers for Redis Streams, NATS JetStream and RabbitMQ, and consumer helpers.

Each broker lives in its own module, importable only with its extra installed:
:mod:`hexalchemy.brokers.redis` (``hexalchemy[redis]``), :mod:`hexalchemy.brokers.nats`
(``hexalchemy[nats]``) and :mod:`hexalchemy.brokers.rabbitmq` (``hexalchemy[rabbitmq]``).
Every publisher implements :class:`~hexalchemy.ports.Publisher` (or its async twin):
one batch, one wait for the broker's confirmations, one
:class:`~hexalchemy.ports.PublishResult` per message, retryable or permanent. Each maps a
message onto its broker through a routing function returning a
:class:`~hexalchemy.ports.Route` (:func:`~hexalchemy.rules.default_route` unless you pass
your own). See ``docs/brokers.md``.

This package imports no broker client itself.
"""

__all__: list[str] = []
