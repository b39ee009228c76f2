"""The checks of the outbox calls' arguments: limits, leases, ids, delays, error texts and times.

Every adapter (in-memory and SQL) calls these at the top of its methods, so that they
refuse a bad argument the same way: :class:`~hexalchemy.ports.InvalidArgumentError` naming
it, before anything is read or written. The bounds are those of
:mod:`hexalchemy.rules.arguments` (:data:`~hexalchemy.rules.arguments.MAX_BATCH`,
:data:`~hexalchemy.rules.arguments.MAX_DURATION`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from hexalchemy._guards import is_instance
from hexalchemy.ports import InvalidArgumentError, Lease
from hexalchemy.rules.arguments import (
    MAX_BATCH,
    check_aware_datetime,
    check_callable,
    check_duration,
    check_items,
    check_positive_int,
    check_uuid,
)
from hexalchemy.rules.outbox_results import MAX_ERROR_LENGTH
from hexalchemy.rules.text import encodes_as_utf8

__all__ = [
    "check_claim",
    "check_dead_before",
    "check_error",
    "check_lease",
    "check_message_id",
    "check_message_ids",
    "check_outbox_limit",
    "check_publish",
    "check_retry_after",
]


def check_outbox_limit(limit: object) -> int:
    """Return ``limit`` if it is an int from 1 to :data:`~hexalchemy.rules.arguments.MAX_BATCH`."""
    return check_positive_int("limit", limit, maximum=MAX_BATCH)


def check_claim(limit: object, lease_for: object) -> tuple[int, dt.timedelta]:
    """Return ``(limit, lease_for)`` of a claim: a limit as :func:`check_outbox_limit`, a lease above 0 and at most :data:`~hexalchemy.rules.arguments.MAX_DURATION`."""
    return check_outbox_limit(limit), check_duration("lease_for", lease_for)


def check_retry_after(retry_after: object) -> dt.timedelta | None:
    """Return ``retry_after`` if it is None or a timedelta from 0 to :data:`~hexalchemy.rules.arguments.MAX_DURATION`."""
    if retry_after is None:
        return None
    return check_duration("retry_after", retry_after, allow_zero=True)


def check_error(error: object) -> str:
    """Return the error text to store: a str, cut to :data:`~hexalchemy.rules.outbox_results.MAX_ERROR_LENGTH`.

    An error text is a diagnostic, often a broker's: the characters no database stores (NUL,
    lone surrogates) are replaced by U+FFFD rather than refused.
    """
    if not isinstance(error, str):
        raise InvalidArgumentError("error", error, "must be a str")
    text = error[:MAX_ERROR_LENGTH]
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not encodes_as_utf8(text):
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def check_lease(lease: object) -> Lease:
    """Return ``lease`` if it is a :class:`~hexalchemy.ports.Lease` (from a claim)."""
    if not isinstance(lease, Lease) or not is_instance(lease.token, uuid.UUID):
        raise InvalidArgumentError("lease", lease, "must be a Lease from claim")
    return lease


def check_message_id(id: object) -> uuid.UUID:
    """Return ``id`` if it is a UUID (a message's id)."""
    return check_uuid("id", id)


def check_message_ids(ids: object) -> list[uuid.UUID]:
    """Return ``ids`` without repeats, in order, if it is an iterable of at most :data:`~hexalchemy.rules.arguments.MAX_BATCH` UUIDs."""
    return list(dict.fromkeys(check_items("ids", ids, uuid.UUID, maximum=MAX_BATCH)))


def check_publish(publish: object) -> Callable[..., Any]:
    """Return ``publish`` if it is callable (a publisher's ``publish``)."""
    return check_callable("publish", publish)


def check_dead_before(dead_before: object) -> dt.datetime:
    """Return ``dead_before`` in UTC if it is an aware datetime within years 1..9999 (see :func:`~hexalchemy.rules.arguments.check_aware_datetime`)."""
    return check_aware_datetime("dead_before", dead_before)
