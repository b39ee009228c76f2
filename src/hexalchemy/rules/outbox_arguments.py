"""The checks of the relay store's arguments: limits, lease lengths, retry delays and error texts.

A bad argument is refused with ``ValueError`` before anything is read or written.
"""

from __future__ import annotations

import datetime as dt

from hexalchemy.rules.outbox_results import MAX_ERROR_LENGTH

__all__ = ["check_claim", "check_error", "check_outbox_limit", "check_retry_after"]


def check_outbox_limit(limit: object) -> None:
    """Refuse a ``limit`` that is not an int >= 1 with ``ValueError``."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"limit must be an int >= 1, not {limit!r}")


def check_claim(limit: object, lease_for: object) -> None:
    """Refuse a bad ``limit`` or ``lease_for`` with ``ValueError``."""
    check_outbox_limit(limit)
    if not isinstance(lease_for, dt.timedelta) or lease_for <= dt.timedelta(0):
        raise ValueError(f"lease_for must be a timedelta > 0, not {lease_for!r}")


def check_retry_after(retry_after: object) -> None:
    """Refuse a ``retry_after`` that is neither None nor a timedelta >= 0 with ``ValueError``."""
    if retry_after is not None and (
        not isinstance(retry_after, dt.timedelta) or retry_after < dt.timedelta(0)
    ):
        raise ValueError(f"retry_after must be None or a timedelta >= 0, not {retry_after!r}")


def check_error(error: object) -> str:
    """Return the error text to store (cut to :data:`MAX_ERROR_LENGTH`); ``ValueError`` if not a str."""
    if not isinstance(error, str):
        raise ValueError(f"error must be a str, not {error!r}")
    return error[:MAX_ERROR_LENGTH]
