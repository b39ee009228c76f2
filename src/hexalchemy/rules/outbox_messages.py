"""Outbox messages: their limits, how a new one is built, how one is validated, and how a batch is prepared."""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from collections.abc import Iterable, Mapping
from typing import Final, cast

import attrs

from hexalchemy._guards import is_instance, is_mapping
from hexalchemy.ports import InvalidMessageError, OutboxMessage
from hexalchemy.rules.arguments import check_aware_datetime, check_int, check_iterable, check_positive_int
from hexalchemy.rules.ids import time_ordered_uuid
from hexalchemy.rules.text import encodes_as_utf8

__all__ = [
    "MAX_HEADER_COUNT",
    "MAX_KEY_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_TOPIC_LENGTH",
    "new_message",
    "prepare_batch",
    "validate_message",
]

MAX_TOPIC_LENGTH: Final = 255
"""The longest topic, in characters."""
MAX_KEY_LENGTH: Final = 255
"""The longest ordering or idempotency key, and the longest header name, in characters."""
MAX_PAYLOAD_BYTES: Final = 1024 * 1024
"""The default largest payload, in bytes (a writer may be configured with another)."""
MAX_HEADER_COUNT: Final = 64
"""The most headers one message may carry."""
_MAX_HEADER_VALUE: Final = 4096
_MAX_ATTEMPTS: Final = 2**31 - 1  # the attempts column is a 32-bit integer
_MAX_PAYLOAD_LIMIT: Final = 2**63 - 1

_NO_HEADER: Final = object()

_last_built: tuple[weakref.ref[OutboxMessage], dict[str, str], int] | None = None
"""The message :func:`new_message` built last (weakly), a copy of its headers, and the payload limit it was checked against.

:func:`prepare_batch` does not check that message again (the common ``writer.add(new_message(...))``):
every field but the headers is immutable, and its headers are compared with the copy. Another
thread's message in between only means a second validation.
"""


def _check_text(
    field: str, value: object, limit: int, *, blank_ok: bool = False, header: object = _NO_HEADER
) -> None:
    """Raise ``InvalidMessageError`` if ``value`` is not acceptable text for ``field`` (``header``: the field is that header)."""
    problem = _text_problem(value, limit, blank_ok)
    if problem is not None:  # the header's name is rendered only for the error
        raise InvalidMessageError(field if header is _NO_HEADER else f"headers[{header!r}]", value, problem)


def _text_problem(value: object, limit: int, blank_ok: bool) -> str | None:
    if not isinstance(value, str):
        return "must be a str"
    if not blank_ok and not value.strip():
        return "must not be blank"
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    if not (value.isascii() or encodes_as_utf8(value)):
        return "must be valid Unicode (it holds a lone surrogate)"
    return None


def _check_headers(headers: object) -> None:
    if not is_mapping(headers):
        raise InvalidMessageError("headers", headers, "must be a mapping of str to str")
    if len(headers) > MAX_HEADER_COUNT:
        raise InvalidMessageError("headers", headers, f"has more than {MAX_HEADER_COUNT} entries")
    for name, value in headers.items():
        _check_text("headers", name, MAX_KEY_LENGTH, header=name)
        _check_text("headers", value, _MAX_HEADER_VALUE, blank_ok=True, header=name)


def new_message(
    topic: str,
    payload: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    ordering_key: str | None = None,
    idempotency_key: str | None = None,
    available_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
) -> OutboxMessage:
    """Validate and build a new message; raise :class:`~hexalchemy.ports.InvalidMessageError` on bad input.

    ``now`` (the message's ``created_at``, the current time by default) must be an aware datetime,
    ``max_payload_bytes`` an int >= 1 (:class:`~hexalchemy.ports.InvalidArgumentError` otherwise).
    """
    created_at = dt.datetime.now(dt.UTC) if now is None else check_aware_datetime("now", now)
    check_positive_int("max_payload_bytes", max_payload_bytes, maximum=_MAX_PAYLOAD_LIMIT)
    if headers is not None and not (is_instance(headers, dict) or is_instance(headers, Mapping)):
        raise InvalidMessageError("headers", headers, "must be a mapping of str to str")
    message = OutboxMessage(
        id=time_ordered_uuid(created_at),
        topic=topic,
        payload=payload,
        headers=dict(headers) if headers is not None else {},
        ordering_key=ordering_key,
        idempotency_key=idempotency_key,
        created_at=created_at,
        available_at=available_at if available_at is not None else created_at,
    )
    _check_contents(message, max_payload_bytes)  # the id, created_at and attempts are this function's own
    if available_at is not None:
        check_aware_datetime("available_at", available_at, error=InvalidMessageError)
    global _last_built
    _last_built = (weakref.ref(message), dict(message.headers), max_payload_bytes)
    return message


def _validated(message: object, max_payload_bytes: int) -> bool:
    """Whether ``message`` is the one :func:`new_message` built last, as it was, checked against this payload limit or a lower one."""
    last = _last_built
    if last is None:
        return False
    built = last[0]()  # None once that message is gone
    return (
        built is not None and built is message and last[2] <= max_payload_bytes and built.headers == last[1]
    )


def validate_message(message: OutboxMessage, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> None:
    """Raise :class:`~hexalchemy.ports.InvalidMessageError` naming the first thing wrong with ``message``.

    Datetimes must be aware, their UTC value within years 1..9999.
    """
    if not is_instance(message, OutboxMessage):
        raise InvalidMessageError("message", message, "must be an OutboxMessage")
    check_positive_int("max_payload_bytes", max_payload_bytes, maximum=_MAX_PAYLOAD_LIMIT)
    if not is_instance(message.id, uuid.UUID):
        raise InvalidMessageError("id", message.id, "must be a UUID")
    _check_contents(message, max_payload_bytes)
    for field in ("created_at", "available_at"):
        check_aware_datetime(field, getattr(message, field), error=InvalidMessageError)
    check_int("attempts", message.attempts, minimum=0, maximum=_MAX_ATTEMPTS, error=InvalidMessageError)


def _check_contents(message: OutboxMessage, max_payload_bytes: int) -> None:
    """The checks of :func:`validate_message` on what a caller gives :func:`new_message`: topic, payload, headers, keys."""
    _check_text("topic", message.topic, MAX_TOPIC_LENGTH)
    if not is_instance(message.payload, bytes):
        raise InvalidMessageError("payload", message.payload, "must be bytes (serialise it first)")
    if len(message.payload) > max_payload_bytes:
        raise InvalidMessageError(
            "payload", f"<{len(message.payload)} bytes>", f"is larger than {max_payload_bytes} bytes"
        )
    _check_headers(message.headers)
    for field in ("ordering_key", "idempotency_key"):
        value = getattr(message, field)
        if value is not None:
            _check_text(field, value, MAX_KEY_LENGTH)


def prepare_batch(messages: Iterable[OutboxMessage], max_payload_bytes: int) -> list[OutboxMessage]:
    """Validate every message (``InvalidMessageError`` before anything is written) and normalise them.

    Messages repeating an id, or an idempotency key of the same topic, earlier in the
    batch are dropped (the first wins), as the database drops those repeating a stored
    message. The kept ones are new: zero attempts, no error, datetimes in UTC, headers in a
    ``dict``. A message already so (as :func:`new_message` builds them) is kept as it is,
    its headers included: a store that keeps messages copies their headers itself. A message just
    built by :func:`new_message` is not validated a second time.
    """
    batch = check_iterable("messages", messages)
    for message in batch:
        if _validated(message, max_payload_bytes):
            continue
        if not isinstance(message, OutboxMessage):
            raise InvalidMessageError("message", message, "must be an OutboxMessage")
        validate_message(message, max_payload_bytes=max_payload_bytes)
    ids: set[uuid.UUID] = set()
    keys: set[tuple[str, str]] = set()
    kept: list[OutboxMessage] = []
    for message in cast(list[OutboxMessage], batch):
        key = (message.topic, message.idempotency_key) if message.idempotency_key is not None else None
        if message.id in ids or (key is not None and key in keys):
            continue
        ids.add(message.id)
        if key is not None:
            keys.add(key)
        if (
            message.attempts == 0
            and message.last_error is None
            and message.created_at.tzinfo is dt.UTC
            and message.available_at.tzinfo is dt.UTC
            and type(message.headers) is dict
        ):
            kept.append(message)
        else:
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
