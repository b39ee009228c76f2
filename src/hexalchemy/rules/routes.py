"""Broker routing rules: the default :class:`~hexalchemy.ports.Route` of a message, and the checks of any route.

The default route sends a message to ``topic`` (a Redis stream, a NATS subject, a
RabbitMQ routing key), with the message's headers plus the ones named here, and
deduplicates on the outbox message id. Consumers read the message id back from
:data:`MESSAGE_ID_HEADER`; ``hexalchemy.brokers`` consumer helpers do.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable, Mapping
from typing import Final

from hexalchemy._guards import is_dict, is_instance
from hexalchemy.ports import InvalidArgumentError, OutboxMessage, Route
from hexalchemy.rules.arguments import check_callable, check_instance
from hexalchemy.rules.text import text_problem

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "MESSAGE_ID_HEADER",
    "ORDERING_KEY_HEADER",
    "TOPIC_HEADER",
    "check_route",
    "checked_route",
    "default_route",
    "destination_route",
    "message_id_of",
]

MESSAGE_ID_HEADER: Final = "hexalchemy-message-id"
"""The header carrying the outbox message id (a UUID's text): what an inbox records."""
TOPIC_HEADER: Final = "hexalchemy-topic"
"""The header carrying the message's topic."""
ORDERING_KEY_HEADER: Final = "hexalchemy-ordering-key"
"""The header carrying the message's ordering key, when it has one."""
IDEMPOTENCY_KEY_HEADER: Final = "hexalchemy-idempotency-key"
"""The header carrying the message's idempotency key, when it has one."""


def default_route(message: OutboxMessage) -> Route:
    """The route of ``message`` unless told otherwise: to its topic, deduplicated on its id.

    The headers are the message's own plus :data:`MESSAGE_ID_HEADER`, :data:`TOPIC_HEADER`
    and, when set, :data:`ORDERING_KEY_HEADER` and :data:`IDEMPOTENCY_KEY_HEADER`.
    """
    check_instance("message", message, OutboxMessage)
    return _route_to(message.topic, message)


def _route_to(destination: str, message: OutboxMessage) -> Route:
    """:func:`default_route`'s route of a checked ``message``, sent to ``destination``."""
    message_id = str(message.id)
    headers = dict(message.headers)
    headers[MESSAGE_ID_HEADER] = message_id
    headers[TOPIC_HEADER] = message.topic
    if message.ordering_key is not None:
        headers[ORDERING_KEY_HEADER] = message.ordering_key
    if message.idempotency_key is not None:
        headers[IDEMPOTENCY_KEY_HEADER] = message.idempotency_key
    return Route(destination=destination, payload=message.payload, headers=headers, dedup_id=message_id)


DESTINATION_FIELDS: Final = ("topic",)
"""The placeholders a destination template may hold (see :func:`destination_route`)."""


def destination_route(template: str) -> Callable[[OutboxMessage], Route]:
    """A routing function: :func:`default_route`, sent to ``template`` with ``{topic}`` replaced by the message's topic.

    ``"orders"`` sends every message to ``orders`` (one Redis stream, one RabbitMQ routing
    key), ``"events.{topic}"`` prefixes the topic (a NATS subject under ``events.``).
    ``{{`` and ``}}`` stand for a brace. A template that is not a non-empty str, holds
    another placeholder than ``{topic}``, a conversion or a format spec, or whose braces
    do not pair is refused (``InvalidArgumentError`` naming ``template``).
    """
    if not is_instance(template, str) or not template:
        raise InvalidArgumentError("template", template, "must be a non-empty str")
    problem = text_problem(template)
    if problem is not None:
        raise InvalidArgumentError("template", template, problem)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InvalidArgumentError("template", template, f"braces do not pair ({error})") from None
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in DESTINATION_FIELDS or spec or conversion:
            raise InvalidArgumentError(
                "template", template, f"holds {{{field}}}: the only placeholder is {{topic}}, as is"
            )

    def route(message: OutboxMessage) -> Route:
        check_instance("message", message, OutboxMessage)
        return _route_to(template.format(topic=message.topic), message)

    return route


def checked_route(route: Callable[[OutboxMessage], Route], message: OutboxMessage) -> Route:
    """``route(message)``, checked: ``InvalidArgumentError`` naming what a routing function got wrong."""
    check_callable("route", route)
    check_instance("message", message, OutboxMessage)
    try:
        result = route(message)
    except Exception as error:
        raise InvalidArgumentError("route", route, f"the routing function raised {error!r}") from error
    return check_route(result)


def check_route(route: object) -> Route:
    """``route`` if it is a sound :class:`~hexalchemy.ports.Route` (what a routing function returned); ``InvalidArgumentError`` naming what is wrong.

    A non-empty destination and dedup id without NUL or lone surrogates, bytes as payload,
    headers mapping non-empty str to str.
    """
    if type(route) is Route and _sound_at_a_glance(route):
        return route  # the common case, in exact type checks only
    if not isinstance(route, Route):
        raise InvalidArgumentError("route", route, "a routing function must return a Route")
    _check_name("route.destination", route.destination)
    _check_name("route.dedup_id", route.dedup_id)
    if not is_instance(route.payload, bytes):
        raise InvalidArgumentError("route.payload", route.payload, "must be bytes")
    headers = route.headers
    if not is_instance(headers, Mapping):
        raise InvalidArgumentError("route.headers", headers, "must map non-empty str to str")
    for key, value in headers.items():
        if not (is_instance(key, str) and key and is_instance(value, str)):
            raise InvalidArgumentError("route.headers", {key: value}, "must map non-empty str to str")
    return route


def _sound_at_a_glance(route: Route) -> bool:
    """Whether ``route`` holds only values of the exact types :func:`check_route` wants, its names ASCII without NUL.

    False says nothing: :func:`check_route` then checks it field by field.
    """
    destination, dedup_id, headers = route.destination, route.dedup_id, route.headers
    if not (
        type(destination) is str
        and type(dedup_id) is str
        and type(route.payload) is bytes
        and is_dict(headers)
        and destination
        and dedup_id
        and destination.isascii()
        and dedup_id.isascii()
        and "\x00" not in destination
        and "\x00" not in dedup_id
    ):
        return False
    for key, value in headers.items():
        if type(key) is not str or type(value) is not str or not key:
            return False
    return True


def _check_name(name: str, text: object) -> None:
    if type(text) is str and text.isascii() and text and "\x00" not in text:
        return  # the common case, at no cost: ASCII without NUL can be sent
    if not isinstance(text, str) or not text:
        raise InvalidArgumentError(name, text, "must be a non-empty str")
    problem = text_problem(text)
    if problem is not None:
        raise InvalidArgumentError(name, text, problem)


def message_id_of(headers: object) -> uuid.UUID | None:
    """The outbox message id a delivered message carries in :data:`MESSAGE_ID_HEADER`, or None (absent or not a UUID)."""
    get = getattr(headers, "get", None)
    if not callable(get):
        return None
    value: object = get(MESSAGE_ID_HEADER)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
