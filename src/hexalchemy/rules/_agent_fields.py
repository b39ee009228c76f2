"""The field checks the agent rules share: bounded text and aware datetimes."""

from __future__ import annotations

from hexalchemy.ports import InvalidAgentDataError
from hexalchemy.rules.arguments import check_aware_datetime
from hexalchemy.rules.text import encodes_as_utf8

__all__ = ["check_datetime", "check_text"]


def check_text(field: str, value: object, limit: int, *, optional: bool = False) -> None:
    """Raise :class:`InvalidAgentDataError` unless ``value`` is a non-blank str of at most ``limit`` characters that can be stored."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidAgentDataError(field, value, "must be a str")
    if not value.strip():
        raise InvalidAgentDataError(field, value, "must not be blank")
    if len(value) > limit:
        raise InvalidAgentDataError(field, value, f"is longer than {limit} characters")
    if "\x00" in value:
        raise InvalidAgentDataError(field, value, "must not contain NUL characters")
    if not encodes_as_utf8(value):
        raise InvalidAgentDataError(field, value, "must be valid Unicode (it holds a lone surrogate)")


def check_datetime(field: str, value: object, *, optional: bool = False) -> None:
    """Raise :class:`InvalidAgentDataError` unless ``value`` is a timezone-aware datetime within years 1..9999 in UTC."""
    if value is None and optional:
        return
    check_aware_datetime(field, value, error=InvalidAgentDataError)
