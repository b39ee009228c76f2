"""Publish outcomes: how a publisher's results, or its exception, settle each message of a batch."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Final, cast

import attrs

from hexalchemy._guards import is_iterable, is_list_or_tuple
from hexalchemy.ports import InvalidArgumentError, OutboxMessage, PublishResult
from hexalchemy.rules.arguments import check_instance, check_items

__all__ = [
    "MAX_ERROR_LENGTH",
    "MISSING_RESULT",
    "Outcome",
    "describe_error",
    "publisher_raised",
    "sort_results",
    "stored_error",
]

logger: Final = logging.getLogger("hexalchemy.outbox")

MISSING_RESULT: Final = "the publisher returned no result for this message"
"""The error recorded for a message the publisher's results did not mention."""

MAX_ERROR_LENGTH: Final = 10_000
"""Longer error texts are cut to this many characters before they are stored."""


def stored_error(error: object) -> str:
    """A publisher's error as stored: a str (``repr`` of anything else), cut to :data:`MAX_ERROR_LENGTH`."""
    text = error if isinstance(error, str) else repr(error)
    return text[:MAX_ERROR_LENGTH]


@attrs.frozen
class Outcome:
    """What to do with each message of a published batch, in the batch's order."""

    published: tuple[uuid.UUID, ...]
    """Accepted by the broker: acknowledge."""
    failed: tuple[tuple[OutboxMessage, str], ...]
    """Refused (or not mentioned) by the publisher, with the error: reject."""
    permanent: frozenset[uuid.UUID] = frozenset()
    """Of ``failed``, the ids whose failure the publisher called permanent: dead-letter them now."""


def sort_results(messages: Sequence[OutboxMessage], results: object) -> Outcome:
    """Match the publisher's results to the batch.

    A message with no result failed (:data:`MISSING_RESULT`); when the publisher reported a
    message more than once, a failure wins over a success (a needless redelivery is safe, a
    lost message is not); a failure marked ``permanent`` is listed in :attr:`Outcome.permanent`; results for messages not in the batch are logged and ignored.

    Raises:
        InvalidArgumentError: ``results`` is not an iterable of :class:`~hexalchemy.ports.PublishResult`
            (what a publisher that returned something else gets), or ``messages`` not a
            sequence of :class:`~hexalchemy.ports.OutboxMessage`.
    """
    messages = _messages(messages)
    if isinstance(results, str | bytes) or not is_iterable(results):
        raise InvalidArgumentError(
            "results", results, "the publisher must return a sequence of PublishResult"
        )
    if is_list_or_tuple(results) and len(results) == len(messages):
        # The common case, checked without hashing: one success per message, in batch order.
        published_in_order = tuple(message.id for message in messages)
        if all(
            type(result) is PublishResult
            and result.error is None
            and (result.message_id is id or result.message_id == id)
            for result, id in zip(results, published_in_order, strict=True)
        ):
            return Outcome(published=published_in_order, failed=())
    by_id: dict[uuid.UUID, PublishResult] = {}
    for result in results:
        if not isinstance(result, PublishResult):
            raise InvalidArgumentError(
                "results", result, "the publisher returned this where a PublishResult was expected"
            )
        previous = by_id.get(result.message_id)
        if previous is None or previous.ok:
            by_id[result.message_id] = result
    published: list[uuid.UUID] = []
    failed: list[tuple[OutboxMessage, str]] = []
    permanent: set[uuid.UUID] = set()
    for message in messages:
        outcome = by_id.pop(message.id, None)
        if outcome is None:
            failed.append((message, MISSING_RESULT))
        elif outcome.error is not None:
            failed.append((message, outcome.error))
            if outcome.permanent is True:
                permanent.add(message.id)
        else:
            published.append(message.id)
    if by_id:
        logger.warning(
            "the publisher returned results for %d message(s) not in the batch, ignored: %s",
            len(by_id),
            ", ".join(sorted(str(key) for key in by_id)),
        )
    return Outcome(published=tuple(published), failed=tuple(failed), permanent=frozenset(permanent))


def _messages(messages: object) -> Sequence[OutboxMessage]:
    if is_list_or_tuple(messages) and all(type(message) is OutboxMessage for message in messages):
        return cast(
            "Sequence[OutboxMessage]", messages
        )  # a batch as the stores build it: checked without a copy
    return check_items("messages", messages, OutboxMessage)


def describe_error(error: BaseException) -> str:
    """The text recorded as a message's last error when the whole batch failed."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def publisher_raised(messages: Sequence[OutboxMessage], error: BaseException) -> Outcome:
    """The outcome of a batch whose publisher raised ``error``: every message failed."""
    messages = _messages(messages)
    check_instance("error", error, BaseException)
    reason = f"the publisher raised {describe_error(error)}"
    return Outcome(published=(), failed=tuple((message, reason) for message in messages))
