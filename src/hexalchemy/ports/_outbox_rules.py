"""The relay store's policy and the outbox rules that involve no I/O.

Shared by every outbox store (the SQL stores and the in-memory ones), so they validate,
retry, dead-letter and order messages the same way. Standard library and attrs only.
"""

from __future__ import annotations

import datetime as dt
import logging
import random as _random
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Final

import attrs

from hexalchemy.ports.errors import ConfigError
from hexalchemy.ports.outbox import InvalidMessageError, OutboxMessage, PublishResult

__all__ = [
    "MAX_ERROR_LENGTH",
    "MISSING_RESULT",
    "OutboxPolicy",
    "Outcome",
    "check_claim",
    "check_limit",
    "check_error",
    "check_retry_after",
    "delivery_order",
    "describe_error",
    "exhausted_error",
    "prepare_batch",
    "publisher_raised",
    "sort_results",
    "stored_error",
]

logger: Final = logging.getLogger("hexalchemy.outbox")

MISSING_RESULT: Final = "the publisher returned no result for this message"
"""The error recorded for a message the publisher's results did not mention."""

MAX_ERROR_LENGTH: Final = 10_000
"""Longer error texts are cut to this many characters before they are stored."""

_MAX_EXPONENT: Final = 62


def _check_max_attempts(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError("max_attempts", value, "must be an int >= 1")


def _check_delay(_instance: object, attribute: attrs.Attribute[dt.timedelta], value: object) -> None:
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise ConfigError(attribute.name, value, "must be a timedelta > 0")


def _check_archive(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError("archive", value, "must be a bool")


@attrs.frozen(kw_only=True)
class OutboxPolicy:
    """How a relay store retries and finishes messages; every value is checked (``ConfigError``).

    - ``max_attempts``: how many times a message is claimed before it is dead-lettered.
      An attempt is counted when the message is claimed, so a message whose delivery
      kills the relay every time (the lease expires with no outcome) still reaches the
      dead letters: the claim that finds it at ``max_attempts`` moves it there instead of
      leasing it again.
    - ``base_delay``, ``max_delay``: a rejected message without ``retry_after`` waits a
      random delay between 0 and ``min(max_delay, base_delay * 2 ** (attempts - 1))``
      ("full jitter").
    - ``archive``: keep acknowledged messages in the archive table instead of deleting them
      (the tables must have been built with ``outbox_tables(..., archive=True)``).
    """

    max_attempts: int = attrs.field(default=10, validator=_check_max_attempts)
    base_delay: dt.timedelta = attrs.field(default=dt.timedelta(seconds=1), validator=_check_delay)
    max_delay: dt.timedelta = attrs.field(default=dt.timedelta(minutes=5), validator=_check_delay)
    archive: bool = attrs.field(default=False, validator=_check_archive)

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.base_delay:
            raise ConfigError("max_delay", self.max_delay, f"must be >= base_delay ({self.base_delay})")

    def retry_delay(self, attempts: int, *, random: Callable[[], float] = _random.random) -> dt.timedelta:
        """The backoff before the next attempt of a message rejected after ``attempts`` claims.

        Uniform between 0 and ``min(max_delay, base_delay * 2 ** (attempts - 1))``;
        ``random`` returns a float in [0, 1).
        """
        exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
        cap = min(self.max_delay.total_seconds(), self.base_delay.total_seconds() * 2.0**exponent)
        return dt.timedelta(seconds=cap * random())


def exhausted_error(attempts: int) -> str:
    """The error recorded for a message a claim dead-letters at the attempt limit."""
    return (
        f"gave up after {attempts} attempts: each lease expired before the relay "
        "acknowledged or rejected the message"
    )


def check_limit(limit: object) -> None:
    """Refuse a ``limit`` that is not an int >= 1 with ``ValueError``."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"limit must be an int >= 1, not {limit!r}")


def check_claim(limit: object, lease_for: object) -> None:
    """Refuse a bad ``limit`` or ``lease_for`` with ``ValueError``."""
    check_limit(limit)
    if not isinstance(lease_for, dt.timedelta) or lease_for <= dt.timedelta(0):
        raise ValueError(f"lease_for must be a timedelta > 0, not {lease_for!r}")


def check_retry_after(retry_after: object) -> None:
    """Refuse a ``retry_after`` that is neither None nor a timedelta >= 0 with ``ValueError``."""
    if retry_after is not None and (
        not isinstance(retry_after, dt.timedelta) or retry_after < dt.timedelta(0)
    ):
        raise ValueError(f"retry_after must be None or a timedelta >= 0, not {retry_after!r}")


def stored_error(error: object) -> str:
    """A publisher's error as stored: a str (``repr`` of anything else), cut to :data:`MAX_ERROR_LENGTH`."""
    text = error if isinstance(error, str) else repr(error)
    return text[:MAX_ERROR_LENGTH]


def check_error(error: object) -> str:
    """Return the error text to store (cut to :data:`MAX_ERROR_LENGTH`); ``ValueError`` if not a str."""
    if not isinstance(error, str):
        raise ValueError(f"error must be a str, not {error!r}")
    return error[:MAX_ERROR_LENGTH]


def prepare_batch(messages: Iterable[OutboxMessage], max_payload_bytes: int) -> list[OutboxMessage]:
    """Validate every message (``InvalidMessageError`` before anything is written) and normalise them.

    Messages repeating an id, or an idempotency key of the same topic, earlier in the
    batch are dropped (the first wins), as the database drops those repeating a stored
    message. The kept ones are new: zero attempts, no error, datetimes in UTC, their own
    copy of the headers.
    """
    batch = list(messages)
    for message in batch:
        if not isinstance(message, OutboxMessage):
            raise InvalidMessageError("message", message, "must be an OutboxMessage")
        message.validate(max_payload_bytes=max_payload_bytes)
    ids: set[uuid.UUID] = set()
    keys: set[tuple[str, str]] = set()
    kept: list[OutboxMessage] = []
    for message in batch:
        key = (message.topic, message.idempotency_key) if message.idempotency_key is not None else None
        if message.id in ids or (key is not None and key in keys):
            continue
        ids.add(message.id)
        if key is not None:
            keys.add(key)
        kept.append(
            attrs.evolve(
                message,
                headers=dict(message.headers),
                attempts=0,
                last_error=None,
                created_at=message.created_at.astimezone(dt.UTC),
                available_at=message.available_at.astimezone(dt.UTC),
            )
        )
    return kept


def delivery_order(message: OutboxMessage) -> tuple[dt.datetime, uuid.UUID]:
    """The sort key of claimed messages: when they became available, then their (time-ordered) id."""
    return message.available_at, message.id


@attrs.frozen
class Outcome:
    """What to do with each message of a published batch, in the batch's order."""

    published: tuple[uuid.UUID, ...]
    """Accepted by the broker: acknowledge."""
    failed: tuple[tuple[OutboxMessage, str], ...]
    """Refused (or not mentioned) by the publisher, with the error: reject."""


def sort_results(messages: Sequence[OutboxMessage], results: object) -> Outcome:
    """Match the publisher's results to the batch.

    A message with no result failed (:data:`MISSING_RESULT`); when the publisher reported a
    message more than once, a failure wins over a success (a needless redelivery is safe, a
    lost message is not); results for messages not in the batch are logged and ignored.

    Raises:
        TypeError: ``results`` is not an iterable of :class:`~hexalchemy.ports.PublishResult`.
    """
    if isinstance(results, str | bytes) or not isinstance(results, Iterable):
        raise TypeError(f"the publisher must return a sequence of PublishResult, not {results!r}")
    if isinstance(results, list | tuple) and len(results) == len(messages):
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
            raise TypeError(f"the publisher returned {result!r} where a PublishResult was expected")
        previous = by_id.get(result.message_id)
        if previous is None or previous.ok:
            by_id[result.message_id] = result
    published: list[uuid.UUID] = []
    failed: list[tuple[OutboxMessage, str]] = []
    for message in messages:
        outcome = by_id.pop(message.id, None)
        if outcome is None:
            failed.append((message, MISSING_RESULT))
        elif outcome.error is not None:
            failed.append((message, outcome.error))
        else:
            published.append(message.id)
    if by_id:
        logger.warning(
            "the publisher returned results for %d message(s) not in the batch, ignored: %s",
            len(by_id),
            ", ".join(sorted(str(key) for key in by_id)),
        )
    return Outcome(published=tuple(published), failed=tuple(failed))


def describe_error(error: BaseException) -> str:
    """The text recorded as a message's last error when the whole batch failed."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def publisher_raised(messages: Sequence[OutboxMessage], error: BaseException) -> Outcome:
    """The outcome of a batch whose publisher raised ``error``: every message failed."""
    reason = f"the publisher raised {describe_error(error)}"
    return Outcome(published=(), failed=tuple((message, reason) for message in messages))
