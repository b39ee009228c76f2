"""What every broker publisher reports, written once: a batch's results, retryable or permanent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from hexalchemy._guards import is_instance
from hexalchemy.ports import ConfigError, OutboxMessage, PublishResult, Route
from hexalchemy.rules import check_callable, check_items, check_route, default_route, describe_error
from hexalchemy.rules.arguments import check_duration

__all__ = ["Routed", "all_failed", "check_timeout", "route_batch", "routing_function"]


def routing_function(route: Callable[[OutboxMessage], Route] | None) -> Callable[[OutboxMessage], Route]:
    """The publisher's routing function: ``route``, checked callable, or :func:`~hexalchemy.rules.default_route`."""
    if route is None:
        return default_route
    checked: Callable[[OutboxMessage], Route] = check_callable("route", route, error=ConfigError)
    return checked


def check_timeout(timeout: dt.timedelta | float) -> float:
    """A publisher's confirmation timeout in seconds (> 0); ``ConfigError`` otherwise."""
    if isinstance(timeout, dt.timedelta):
        check_duration("timeout", timeout, error=ConfigError)
        seconds = timeout.total_seconds()
    elif is_instance(timeout, int | float) and not isinstance(timeout, bool):
        seconds = float(timeout)
    else:
        raise ConfigError("timeout", timeout, "must be a timedelta or a number of seconds")
    if not seconds > 0:
        raise ConfigError("timeout", timeout, "must be more than 0 seconds")
    return seconds


class Routed:
    """A batch routed: the messages whose route is sound, in order, and the results of those whose route failed."""

    __slots__ = ("failed", "messages", "routes")

    def __init__(self) -> None:
        self.messages: list[OutboxMessage] = []
        self.routes: list[Route] = []
        self.failed: list[PublishResult] = []


def route_batch(messages: Sequence[OutboxMessage], route: Callable[[OutboxMessage], Route]) -> Routed:
    """Route every message; a routing function that raises or returns a bad route fails that message for good."""
    batch = check_items("messages", messages, OutboxMessage)
    check_callable("route", route)
    routed = Routed()
    for message in batch:
        try:
            target = check_route(route(message))
        except Exception as error:
            routed.failed.append(
                PublishResult(
                    message.id, f"the routing function failed: {describe_error(error)}", permanent=True
                )
            )
            continue
        routed.messages.append(message)
        routed.routes.append(target)
    return routed


def all_failed(
    messages: Iterable[OutboxMessage], error: BaseException | str, *, permanent: bool = False
) -> list[PublishResult]:
    """One failed result per message, with the same error (a lost connection: retryable)."""
    text = error if isinstance(error, str) else describe_error(error)
    return [PublishResult(message.id, text, permanent=permanent) for message in messages]
