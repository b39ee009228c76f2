"""The RabbitMQ publisher (the ``hexalchemy[rabbitmq]`` extra): :class:`AsyncRabbitMQPublisher`, over aio-pika.

::

    publisher = AsyncRabbitMQPublisher("amqp://guest:guest@127.0.0.1:5672/", exchange="orders")
    relay = AsyncOutboxRelay(store, publisher)

The channel uses publisher confirms; every message of a batch is published at once,
persistent and ``mandatory`` (an unroutable message comes back: a permanent failure,
not silence), and the publisher waits once for all the confirmations. RabbitMQ keeps no
duplicate window: a republished message reaches the queue again, with the same
``message_id`` (the outbox message id), which an inbox on the consumer's side drops.

Only an async publisher: pika's blocking channel, the sync client, waits for each
message's confirmation inside ``basic_publish`` (one round trip per message), which the
batch-with-one-wait design rules out. See ``docs/brokers.md``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Final

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from aiormq.abc import DeliveredMessage

from hexalchemy._guards import is_instance
from hexalchemy.brokers._async.consuming import AsyncInboxHandler
from hexalchemy.brokers._rabbitmq_core import is_retryable
from hexalchemy.brokers._results import Routed, all_failed, check_timeout, route_batch, routing_function
from hexalchemy.ports import ConfigError, InvalidArgumentError, OutboxMessage, PublishResult, Route
from hexalchemy.rules import check_has_methods, check_instance, describe_error, message_id_of
from hexalchemy.rules.routes import MESSAGE_ID_HEADER

__all__ = ["DEFAULT_TIMEOUT", "AsyncRabbitMQPublisher", "handle_rabbitmq", "is_retryable"]

logger: Final = logging.getLogger("hexalchemy.brokers.rabbitmq")

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds a batch waits for its confirmations unless told otherwise."""


class AsyncRabbitMQPublisher:
    """Publishes outbox messages to RabbitMQ with publisher confirms, a batch with one wait; implements ``AsyncPublisher``.

    * ``connection`` -- an aio-pika robust connection, or an ``amqp://`` URL for one the
      publisher opens at its first batch (``connect_robust``: it reconnects by itself) and
      closes in :meth:`aclose`;
    * ``exchange`` -- the exchange's name (``""``: the default exchange, which routes to
      the queue named by the routing key); it must exist: :meth:`publish` raises
      :class:`~hexalchemy.ports.ConfigError` naming ``exchange`` when it does not (the
      relay retries the batch later, it does not dead-letter it);
    * ``timeout`` -- seconds (or a ``timedelta``) a batch waits for its confirmations;
    * ``route`` -- the routing function (:func:`~hexalchemy.rules.default_route`: the
      routing key is the topic); the route's headers become the message's headers and its
      ``dedup_id`` the ``message_id`` property;
    * ``persistent`` -- delivery mode 2 (the default), so a durable queue keeps the message
      across a broker restart.
    """

    def __init__(
        self,
        connection: AbstractRobustConnection | str,
        *,
        exchange: str = "",
        timeout: dt.timedelta | float = DEFAULT_TIMEOUT,
        route: Callable[[OutboxMessage], Route] | None = None,
        persistent: bool = True,
    ) -> None:
        self._timeout = check_timeout(timeout)
        self._route = routing_function(route)
        if not is_instance(exchange, str):
            raise ConfigError("exchange", exchange, "must be a str ('' for the default exchange)")
        if not is_instance(persistent, bool):
            raise ConfigError("persistent", persistent, "must be a bool")
        self._exchange_name = exchange
        self._delivery_mode = (
            aio_pika.DeliveryMode.PERSISTENT if persistent else aio_pika.DeliveryMode.NOT_PERSISTENT
        )
        self._url: str | None = None
        self._connection: AbstractRobustConnection | None = None
        if isinstance(connection, str):
            self._url = connection
        elif is_instance(connection, AbstractRobustConnection):
            self._connection = connection
        else:
            raise ConfigError(
                "connection", connection, "must be an aio-pika robust connection or an amqp:// URL"
            )
        self._owned = self._url is not None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._opening = asyncio.Lock()

    async def _opened(self) -> AbstractExchange:
        async with self._opening:
            if self._connection is None:
                assert self._url is not None
                self._connection = await asyncio.wait_for(aio_pika.connect_robust(self._url), self._timeout)
            if self._channel is None or self._channel.is_closed or self._exchange is None:
                self._channel = await asyncio.wait_for(
                    self._connection.channel(publisher_confirms=True, on_return_raises=True), self._timeout
                )
                self._exchange = (
                    self._channel.default_exchange
                    if self._exchange_name == ""
                    else await self._channel.get_exchange(self._exchange_name, ensure=True)
                )
            return self._exchange

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Publish the batch, wait once for every confirmation (up to ``timeout``); return one result per message.

        Raises :class:`~hexalchemy.ports.ConfigError` naming ``exchange`` when the exchange
        does not exist.
        """
        routed = route_batch(messages, self._route)
        if not routed.messages:
            return routed.failed
        try:
            exchange = await self._opened()
        except aiormq.exceptions.ChannelNotFoundEntity as error:
            self._exchange = None
            raise ConfigError(
                "exchange",
                self._exchange_name,
                "does not exist on the broker: declare it before the relay publishes",
            ) from error
        except Exception as error:
            self._exchange = None
            return [*routed.failed, *all_failed(routed.messages, error, permanent=not is_retryable(error))]
        return await self._publish(exchange, routed)

    async def _publish(self, exchange: AbstractExchange, routed: Routed) -> list[PublishResult]:
        sends = [
            exchange.publish(
                aio_pika.Message(
                    route.payload,
                    headers=dict(route.headers),
                    message_id=route.dedup_id,
                    delivery_mode=self._delivery_mode,
                ),
                routing_key=route.destination,
                mandatory=True,
                timeout=self._timeout,
            )
            for route in routed.routes
        ]
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        results = list(routed.failed)
        for message, outcome in zip(routed.messages, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome  # a cancellation: the relay stops
                results.append(
                    PublishResult(message.id, describe_error(outcome), permanent=not is_retryable(outcome))
                )
            elif isinstance(outcome, DeliveredMessage):  # returned: unroutable
                results.append(
                    PublishResult(message.id, "the broker returned the message: unroutable", permanent=True)
                )
            else:
                results.append(PublishResult(message.id))
        if self._channel is not None and self._channel.is_closed:
            self._exchange = None  # a refusal closed the channel: the next batch opens another
        return results

    async def aclose(self) -> None:
        """Close the connection if the publisher opened it itself (else only its channel)."""
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            await channel.close()
        if self._owned and self._connection is not None and not self._connection.is_closed:
            await self._connection.close()
            self._connection = None


async def handle_rabbitmq(
    handler: AsyncInboxHandler[AbstractIncomingMessage], message: AbstractIncomingMessage
) -> bool:
    """Apply a RabbitMQ message once through ``handler`` (inbox and effects in one transaction), then ack it.

    The ack is sent only after the handler's transaction committed (consume with
    ``no_ack=False``); the outbox message id comes from the
    :data:`~hexalchemy.rules.routes.MESSAGE_ID_HEADER` header, else the ``message_id``
    property. A message with neither is acknowledged and logged, never applied. Returns
    whether the effects were applied now (False: a duplicate, or no id).
    """
    check_instance("handler", handler, AsyncInboxHandler)
    check_has_methods("message", message, ("ack", "nack"), error=InvalidArgumentError)
    headers = {str(k): v for k, v in (message.headers or {}).items()}
    message_id = message_id_of(headers) or message_id_of({MESSAGE_ID_HEADER: message.message_id})
    applied = False
    if message_id is None:
        logger.warning(
            "a message from %s carries no message id: acknowledged, not applied", message.routing_key
        )
    else:
        applied = await handler.handle(message_id, message)
    await message.ack()
    return applied
