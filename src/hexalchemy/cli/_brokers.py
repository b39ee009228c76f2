"""The broker publishers ``hexalchemy outbox relay --publisher URL`` builds: RabbitMQ, NATS JetStream, Redis Streams.

A URL's scheme names the broker (``amqp://``/``amqps://``: RabbitMQ, ``nats://``/``tls://``:
NATS JetStream, ``redis://``/``rediss://``/``unix://``: Redis Streams). The URL and every
broker option are checked here, and the publisher is built, before the relay starts;
no publisher connects before its first batch. A bad URL, an option the broker does not
take, or a broker whose extra is not installed is a :class:`~hexalchemy.ports.ConfigError`
naming the option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import SplitResult, urlsplit

import attrs

from hexalchemy.ports import AsyncPublisher, ConfigError, OutboxMessage, Publisher, Route
from hexalchemy.rules.text import text_problem

__all__ = ["ASYNC_ONLY", "BROKERS", "BrokerOptions", "broker_of", "build_publisher", "close_publisher"]

BROKERS: Final = {
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "nats": "nats",
    "tls": "nats",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
}
"""The URL schemes ``--publisher`` takes, and the broker (and extra) of each."""

ASYNC_ONLY: Final = frozenset({"rabbitmq", "nats"})
"""The brokers whose publisher is async only: the command runs the asyncio relay for them."""

_DEFAULT_PORT: Final = {"rabbitmq": 5672, "nats": 4222, "redis": 6379}


@attrs.frozen
class BrokerOptions:
    """The broker options of the relay command (None: not given)."""

    exchange: str | None = None
    """RabbitMQ: the exchange published to (it must exist; default: the default exchange)."""
    stream: str | None = None
    """NATS: the JetStream stream every message must land in."""
    max_length: int | None = None
    """Redis: the MAXLEN (approximate) of every stream written."""
    timeout: float | None = None
    """RabbitMQ and NATS: seconds a batch waits for its confirmations."""
    route: Callable[[OutboxMessage], Route] | None = None
    """Any broker: the routing function (from ``--route`` or ``--destination``)."""


_APPLIES_TO: Final = {
    "exchange": ("--exchange", frozenset({"rabbitmq"})),
    "stream": ("--stream", frozenset({"nats"})),
    "max_length": ("--max-length", frozenset({"redis"})),
    "timeout": ("--timeout", frozenset({"rabbitmq", "nats"})),
    "route": ("--route/--destination", frozenset({"rabbitmq", "nats", "redis"})),
}


def broker_of(spec: str) -> str | None:
    """The broker ``--publisher spec`` names when it is a URL (``scheme://``), else None (a ``module:factory``)."""
    if "://" not in spec:
        return None
    scheme = spec.partition("://")[0].lower()
    broker = BROKERS.get(scheme)
    if broker is None:
        schemes = ", ".join(f"{name}://" for name in BROKERS)
        raise ConfigError("--publisher", spec, f"unknown broker URL scheme {scheme!r} (one of {schemes})")
    return broker


def _checked_url(spec: str, broker: str) -> SplitResult:
    problem = text_problem(spec)
    if problem is not None:
        raise ConfigError("--publisher", spec, problem)
    if any(character.isspace() for character in spec):
        raise ConfigError("--publisher", spec, "a URL holds no white space")
    parts = urlsplit(spec)
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError("--publisher", spec, "a unix:// URL needs a socket path")
        return parts
    try:
        port = parts.port
    except ValueError as error:
        raise ConfigError("--publisher", spec, f"bad port ({error})") from None
    if not parts.hostname:
        raise ConfigError("--publisher", spec, "the URL names no host")
    if port == 0:
        raise ConfigError(
            "--publisher", spec, f"bad port 0 (the {broker} default is {_DEFAULT_PORT[broker]})"
        )
    return parts


def build_publisher(
    spec: str, broker: str, options: BrokerOptions, *, use_async: bool
) -> Publisher | AsyncPublisher:
    """The publisher of ``broker`` for the URL ``spec`` with ``options``, checked, not yet connected."""
    _checked_url(spec, broker)
    for name, (option, brokers) in _APPLIES_TO.items():
        if getattr(options, name) is not None and broker not in brokers:
            takers = " and ".join(sorted(brokers))
            raise ConfigError(
                option, getattr(options, name), f"applies to {takers} publishers only, not {broker}"
            )
    try:
        return _built(spec, broker, options, use_async=use_async)
    except ImportError as error:
        raise ConfigError(
            "--publisher", spec, f"needs the {broker} extra: pip install 'hexalchemy[{broker}]' ({error})"
        ) from None


def _built(spec: str, broker: str, options: BrokerOptions, *, use_async: bool) -> Publisher | AsyncPublisher:
    if broker == "rabbitmq":
        from hexalchemy.brokers.rabbitmq import DEFAULT_TIMEOUT, AsyncRabbitMQPublisher

        return AsyncRabbitMQPublisher(
            spec,
            exchange=options.exchange or "",
            timeout=options.timeout or DEFAULT_TIMEOUT,
            route=options.route,
        )
    if broker == "nats":
        from hexalchemy.brokers.nats import DEFAULT_TIMEOUT as NATS_TIMEOUT
        from hexalchemy.brokers.nats import AsyncJetStreamPublisher

        return AsyncJetStreamPublisher(
            spec, timeout=options.timeout or NATS_TIMEOUT, route=options.route, stream=options.stream
        )
    from hexalchemy.brokers.redis import DEFAULT_MAX_LENGTH, AsyncRedisStreamPublisher, RedisStreamPublisher

    max_length = options.max_length or DEFAULT_MAX_LENGTH
    if use_async:
        return AsyncRedisStreamPublisher(spec, max_length=max_length, route=options.route)
    return RedisStreamPublisher(spec, max_length=max_length, route=options.route)


def close_publisher(publisher: object) -> Callable[[], object] | None:
    """The method that closes a publisher :func:`build_publisher` built (``aclose`` returns an awaitable), if any."""
    for name in ("aclose", "close"):
        method = getattr(publisher, name, None)
        if callable(method):
            closer: Callable[[], object] = method
            return closer
    return None
