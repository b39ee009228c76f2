"""The NATS JetStream publisher (the ``hexalchemy[nats]`` extra): :class:`AsyncJetStreamPublisher`.

::

    publisher = AsyncJetStreamPublisher("nats://127.0.0.1:4222")
    relay = AsyncOutboxRelay(store, publisher)

A batch is published with ``publish_async`` (nats-py's pipelined JetStream publish: every
message goes out without waiting), then the publisher waits once, up to ``timeout``, for
all the PubAcks. Each message carries ``Nats-Msg-Id`` = its dedup id (the outbox message
id), so JetStream's duplicate window drops a republication.

Only an async publisher: nats-py, NATS's Python client, is an asyncio client and has no
blocking API; run :class:`~hexalchemy.outbox.AsyncOutboxRelay` (or publish from your own
event loop). See ``docs/brokers.md``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Protocol

import nats
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck

from hexalchemy._guards import is_instance
from hexalchemy.brokers._async.consuming import AsyncInboxHandler
from hexalchemy.brokers._nats_core import MSG_ID_HEADER, headers_of, is_retryable
from hexalchemy.brokers._results import Routed, all_failed, check_timeout, route_batch, routing_function
from hexalchemy.ports import ConfigError, OutboxMessage, PublishResult, Route
from hexalchemy.rules import check_instance, describe_error, message_id_of
from hexalchemy.rules.arguments import MAX_BATCH

__all__ = ["DEFAULT_TIMEOUT", "MSG_ID_HEADER", "AsyncJetStreamPublisher", "handle_jetstream", "is_retryable"]

logger: Final = logging.getLogger("hexalchemy.brokers.nats")

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds a batch waits for its PubAcks unless told otherwise."""

MAX_PENDING: Final = 2 * MAX_BATCH
"""The most publishes of one publisher waiting for their PubAck (its JetStream context's limit)."""


class _Connecting(Protocol):
    """The ``nats`` module's ``connect``, as the publisher calls it (nats-py leaves its options untyped)."""

    def connect(self, servers: list[str], **options: object) -> Awaitable[Client]: ...


def _connecting(module: _Connecting) -> _Connecting:
    return module


class _JetStream(Protocol):
    """The JetStream calls the publisher makes (nats-py's ``JetStreamContext``, whose ``headers`` are an untyped dict)."""

    async def publish_async(
        self,
        subject: str,
        payload: bytes = b"",
        wait_stall: float | None = None,
        stream: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> asyncio.Future[PubAck]:
        """Send a message; the future gets its PubAck."""
        ...

    def publish_async_pending(self) -> int:
        """How many of this context's publishes wait for their PubAck."""
        ...

    async def find_stream_name_by_subject(self, subject: str) -> str:
        """The stream bound to ``subject`` (``NotFoundError`` when none is)."""
        ...


class AsyncJetStreamPublisher:
    """Publishes outbox messages to NATS JetStream, a batch with one wait for its PubAcks; implements ``AsyncPublisher``.

    * ``client`` -- a connected ``nats.aio.client.Client``, or a server URL (or a list of
      them, for a cluster) for a client the publisher connects at its first batch, with
      reconnection forever, and closes in :meth:`aclose`;
    * ``timeout`` -- seconds (or a ``timedelta``) a batch waits for its PubAcks: a message
      not confirmed by then fails as retryable (a republication is deduplicated);
    * ``route`` -- the routing function (:func:`~hexalchemy.rules.default_route`: the
      subject is the topic; a stream must be bound to it);
    * ``stream`` -- when set, JetStream refuses a message that would land in another stream.

    A lost connection fails the unconfirmed messages as retryable; the client reconnects
    by itself. A subject no stream listens on, or a payload over the server's limit, fails
    its message for good.
    """

    def __init__(
        self,
        client: Client | str | Sequence[str],
        *,
        timeout: dt.timedelta | float = DEFAULT_TIMEOUT,
        route: Callable[[OutboxMessage], Route] | None = None,
        stream: str | None = None,
    ) -> None:
        self._timeout = check_timeout(timeout)
        self._route = routing_function(route)
        if stream is not None and (not is_instance(stream, str) or not stream):
            raise ConfigError("stream", stream, "must be a non-empty str or None")
        self._stream = stream
        self._servers: list[str] = []
        self._client: Client | None = None
        if isinstance(client, Client):
            self._client = client
        elif isinstance(client, str):
            self._servers = [client]
        elif is_instance(client, Sequence) and client and all(is_instance(url, str) for url in client):
            self._servers = list(client)
        else:
            raise ConfigError("client", client, "must be a NATS client, a nats:// URL or a list of them")
        self._owned = not isinstance(client, Client)
        self._jetstream: JetStreamContext | None = None
        self._connecting = asyncio.Lock()

    async def _context(self) -> _JetStream:
        async with self._connecting:
            if self._client is None:
                # nats-py retries a first connection forever when told to reconnect forever:
                # the batch waits at most its timeout, then fails as retryable
                self._client = await asyncio.wait_for(
                    _connecting(nats).connect(
                        servers=self._servers,
                        max_reconnect_attempts=-1,
                        reconnect_time_wait=0.2,
                        connect_timeout=min(self._timeout, 5.0),
                        error_cb=_log_error,
                    ),
                    self._timeout,
                )
            if self._jetstream is None:
                self._jetstream = JetStreamContext(
                    self._client, timeout=self._timeout, publish_async_max_pending=MAX_PENDING
                )
            return self._jetstream

    async def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        """Publish the batch, wait once for every PubAck (up to ``timeout``); return one result per message."""
        routed = route_batch(messages, self._route)
        if not routed.messages:
            return routed.failed
        try:
            jetstream = await self._context()
        except Exception as error:
            return [*routed.failed, *all_failed(routed.messages, error)]
        return await self._publish(jetstream, routed)

    async def _publish(self, jetstream: _JetStream, routed: Routed) -> list[PublishResult]:
        results = list(routed.failed)
        futures: list[asyncio.Future[PubAck] | BaseException] = []
        for route in routed.routes:
            # ``wait_stall`` makes nats-py wait for a free slot in a task of its own, a loop
            # iteration per message (and a write to the socket each): pass it only when the
            # context has no slot free for sure, which one batch alone never fills
            stall = None if jetstream.publish_async_pending() < MAX_PENDING else self._timeout
            try:
                futures.append(
                    await jetstream.publish_async(
                        route.destination,
                        route.payload,
                        wait_stall=stall,
                        stream=self._stream,
                        headers=headers_of(route),
                    )
                )
            except Exception as error:  # refused before it was sent: too large, a bad subject, closed
                futures.append(error)
        pending = [future for future in futures if isinstance(future, asyncio.Future)]
        if pending:
            await asyncio.wait(pending, timeout=self._timeout)
        bound = await self._bound_subjects(jetstream, routed, futures)
        for message, route, future in zip(routed.messages, routed.routes, futures, strict=True):
            if isinstance(future, BaseException):
                results.append(_failed(message, future))
            elif not future.done():
                future.cancel()
                results.append(
                    PublishResult(message.id, f"no PubAck within {self._timeout:g} s", permanent=False)
                )
            elif future.cancelled():
                results.append(PublishResult(message.id, "the publish was cancelled", permanent=False))
            elif (failure := future.exception()) is not None:
                results.append(_failed(message, failure, stream_bound=route.destination in bound))
            else:
                results.append(PublishResult(message.id))
        return results

    async def _bound_subjects(
        self,
        jetstream: _JetStream,
        routed: Routed,
        futures: Sequence[asyncio.Future[PubAck] | BaseException],
    ) -> set[str]:
        """The subjects of the batch that JetStream answered with "no responders" but that a stream listens on.

        A replicated stream whose leader died answers nothing until a new one is elected:
        those messages are retryable. A subject JetStream cannot say anything about (it
        does not answer either) counts as bound; only one it says no stream listens on is
        unroutable.
        """
        unanswered = {
            route.destination
            for route, future in zip(routed.routes, futures, strict=True)
            if isinstance(future, asyncio.Future)
            and future.done()
            and not future.cancelled()
            and isinstance(future.exception(), nats.js.errors.NoStreamResponseError)
        }
        bound: set[str] = set()
        for subject in unanswered:
            try:
                await jetstream.find_stream_name_by_subject(subject)
            except nats.js.errors.NotFoundError:
                continue
            except Exception:  # JetStream cannot answer now either: not a verdict on the subject
                pass
            bound.add(subject)
        return bound

    async def aclose(self) -> None:
        """Close the client if the publisher connected it itself."""
        if self._owned and self._client is not None and not self._client.is_closed:
            await self._client.close()


async def _log_error(error: Exception) -> None:
    logger.debug("NATS client: %s", describe_error(error))


def _failed(message: OutboxMessage, error: BaseException, *, stream_bound: bool = False) -> PublishResult:
    return PublishResult(
        message.id, describe_error(error), permanent=not is_retryable(error, stream_bound=stream_bound)
    )


async def handle_jetstream(handler: AsyncInboxHandler[Msg], message: Msg) -> bool:
    """Apply a JetStream message once through ``handler`` (inbox and effects in one transaction), then ack it (``ack_sync``).

    The ack is sent only after the handler's transaction committed; a message with no
    outbox message id (:data:`~hexalchemy.rules.routes.MESSAGE_ID_HEADER`, else a UUID in
    ``Nats-Msg-Id``) is acknowledged and logged, never applied. Returns whether the effects
    were applied now (False: a duplicate, or no id).
    """
    check_instance("handler", handler, AsyncInboxHandler)
    check_instance("message", message, Msg)
    headers = message.headers or {}
    message_id = message_id_of(headers) or message_id_of(
        {"hexalchemy-message-id": headers.get(MSG_ID_HEADER)}
    )
    applied = False
    if message_id is None:
        logger.warning("a message on %s carries no message id: acknowledged, not applied", message.subject)
    else:
        applied = await handler.handle(message_id, message)
    await message.ack_sync(timeout=DEFAULT_TIMEOUT)  # the server confirms it took the ack
    return applied
