"""The checks of the arguments of public calls: counts, durations, datetimes, flags, collections.

Each check returns the argument as the call uses it, or raises a
:class:`~hexalchemy.ports.HexalchemyError` naming it, before anything is read or written.
The error is :class:`~hexalchemy.ports.InvalidArgumentError` by default; a constructor
passes ``error=ConfigError`` (building an adapter is configuration), and a check of a
stored value its port's validation error (``InvalidMessageError``...): every one of them
takes ``(name, value, reason)``.

The bounds, and why:

- :data:`MAX_BATCH` (10,000): the most items one call takes or returns (a claim's or a
  delivery's ``limit``, a relay's ``batch_size``, the ids given to ``acknowledge``,
  ``release`` or ``requeue``, a page of dead letters). A statement binds one parameter per
  id, and SQLite takes at most 32,766 per statement; a batch that size is already more than
  one transaction should hold locks on, and more than a broker takes in one call.
- :data:`MAX_DURATION` (365 days): the longest lease or delay. A lease is how long a
  crashed holder keeps its messages or agent from everyone else; beyond a year it is a unit
  mistake (seconds given as days), and ``now + lease_for`` stays far from the year 9999
  where Python's datetimes end.
- :data:`MAX_BIGINT` (``2**63 - 1``): the largest cursor, the largest value a 64-bit
  column holds.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Final, NoReturn, TypeVar, cast

from hexalchemy._guards import is_instance, is_iterable
from hexalchemy.ports import ConfigError, HexalchemyError, InvalidArgumentError

__all__ = [
    "MAX_BATCH",
    "MAX_BIGINT",
    "MAX_DURATION",
    "ArgumentError",
    "check_aware_datetime",
    "check_bool",
    "check_callable",
    "check_duration",
    "check_has_methods",
    "check_instance",
    "check_int",
    "check_items",
    "check_iterable",
    "check_list",
    "check_positive_int",
    "check_seconds",
    "check_uuid",
    "clock_time",
    "random_fraction",
    "utc_or_none",
]

T = TypeVar("T")

ArgumentError = Callable[[str, object, str], HexalchemyError]
"""What a check raises: a class taking ``(name, value, reason)``, such as ``InvalidArgumentError``."""

MAX_BATCH: Final = 10_000
"""The most items one call takes or returns (claim and delivery limits, ids per call, a relay's batch)."""
MAX_DURATION: Final = dt.timedelta(days=365)
"""The longest lease or delay a call takes."""
MAX_BIGINT: Final = 2**63 - 1
"""The largest value of a 64-bit column (and so of a cursor)."""

_TEXT_LIKE: Final = (str, bytes, bytearray, memoryview)
_ZERO: Final = dt.timedelta(0)


def _refuse(error: ArgumentError, name: str, value: object, reason: str) -> NoReturn:
    raise error(name, value, reason)


def check_int(
    name: str,
    value: object,
    *,
    minimum: int,
    maximum: int,
    error: ArgumentError = InvalidArgumentError,
) -> int:
    """Return ``value`` if it is an int (not a bool) from ``minimum`` to ``maximum``, else raise ``error``."""
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        _refuse(error, name, value, f"must be an int from {minimum} to {maximum}")
    return value


def check_positive_int(
    name: str, value: object, *, maximum: int, error: ArgumentError = InvalidArgumentError
) -> int:
    """Return ``value`` if it is an int from 1 to ``maximum``, else raise ``error``."""
    return check_int(name, value, minimum=1, maximum=maximum, error=error)


def check_bool(name: str, value: object, *, error: ArgumentError = InvalidArgumentError) -> bool:
    """Return ``value`` if it is a bool (``True`` or ``False``, not a truthy value), else raise ``error``."""
    if not isinstance(value, bool):
        _refuse(error, name, value, "must be a bool (True or False)")
    return value


def check_duration(
    name: str,
    value: object,
    *,
    allow_zero: bool = False,
    maximum: dt.timedelta = MAX_DURATION,
    error: ArgumentError = InvalidArgumentError,
) -> dt.timedelta:
    """Return ``value`` if it is a timedelta above 0 (or 0 with ``allow_zero``) and at most ``maximum``."""
    if not isinstance(value, dt.timedelta) or not (
        _ZERO < value <= maximum or (allow_zero and value == _ZERO)
    ):
        lowest = "0" if allow_zero else "above 0"
        _refuse(error, name, value, f"must be a datetime.timedelta {lowest} and at most {maximum}")
    return value


def check_seconds(
    name: str,
    value: object,
    *,
    allow_zero: bool = True,
    maximum: dt.timedelta = MAX_DURATION,
    error: ArgumentError = InvalidArgumentError,
) -> float:
    """Return a duration given as a number of seconds or a timedelta, in seconds; else raise ``error``.

    The number must be finite, at least 0 (above 0 unless ``allow_zero``) and at most ``maximum``.
    """
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if math.isfinite(value) else math.nan
    else:
        _refuse(error, name, value, "must be a number of seconds or a datetime.timedelta")
    limit = maximum.total_seconds()
    if not (0 <= seconds <= limit) or (seconds == 0 and not allow_zero):
        lowest = "0" if allow_zero else "more than 0"
        _refuse(error, name, value, f"must be a finite duration from {lowest} to {limit:.0f} seconds")
    return seconds


def utc_or_none(value: object) -> dt.datetime | None:
    """``value`` in UTC when it is an aware datetime whose UTC value falls within years 1..9999, else None."""
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        return None
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        return None


def clock_time(clock: Callable[[], object]) -> dt.datetime:
    """Call ``clock`` (a store's clock) and return its time in UTC; ``ConfigError`` unless it is an aware datetime within years 1..9999."""
    check_callable("clock", clock, error=ConfigError)
    now = utc_or_none(clock())
    if now is None:
        raise ConfigError("clock", clock, "must return timezone-aware datetimes within years 1..9999")
    return now


def random_fraction(random: object) -> float:
    """Call ``random`` (a jitter source such as :func:`random.random`) and return its draw, a number from 0 to 1.

    ``random`` not callable, or a draw outside [0, 1]: :class:`~hexalchemy.ports.InvalidArgumentError`.
    """
    draw = check_callable("random", random)()
    if not isinstance(draw, int | float) or isinstance(draw, bool) or not 0 <= draw <= 1:
        raise InvalidArgumentError("random", random, f"must return a number from 0 to 1, returned {draw!r}")
    return float(draw)


def check_aware_datetime(
    name: str, value: object, *, error: ArgumentError = InvalidArgumentError
) -> dt.datetime:
    """Return ``value`` in UTC if it is a timezone-aware datetime within years 1..9999 in UTC, else raise ``error``."""
    utc = utc_or_none(value)
    if utc is None:
        if isinstance(value, dt.datetime) and value.utcoffset() is not None:
            _refuse(error, name, value, "its UTC value must fall within years 1..9999")
        _refuse(error, name, value, "must be a timezone-aware datetime")
    return utc


def check_instance(
    name: str, value: object, kind: type[T], *, error: ArgumentError = InvalidArgumentError
) -> T:
    """Return ``value`` if it is an instance of ``kind``, else raise ``error``."""
    if not isinstance(value, kind):
        _refuse(error, name, value, f"must be a {kind.__qualname__}")
    return value


def check_has_methods(
    name: str, value: T, methods: tuple[str, ...], *, error: ArgumentError = InvalidArgumentError
) -> T:
    """Return ``value`` if it has every one of ``methods`` (a port's, checked by name), else raise ``error``.

    Ports are protocols: any object with the methods will do, so only their presence is checked.
    """
    missing = [method for method in methods if not callable(getattr(value, method, None))]
    if missing:
        _refuse(
            error, name, value, f"has no {', '.join(missing)} method (must implement {', '.join(methods)})"
        )
    return value


def check_uuid(name: str, value: object, *, error: ArgumentError = InvalidArgumentError) -> uuid.UUID:
    """Return ``value`` if it is a :class:`uuid.UUID`, else raise ``error``."""
    if not isinstance(value, uuid.UUID):
        _refuse(error, name, value, "must be a uuid.UUID")
    return value


def check_callable(
    name: str, value: object, *, error: ArgumentError = InvalidArgumentError
) -> Callable[..., Any]:
    """Return ``value`` if it is callable, else raise ``error``."""
    if not callable(value):
        _refuse(error, name, value, "must be callable")
    return value


def check_iterable(
    name: str,
    value: object,
    *,
    maximum: int | None = None,
    error: ArgumentError = InvalidArgumentError,
) -> list[object]:
    """Return the items of ``value`` as a list if it is an iterable (not a str or bytes) of at most ``maximum`` items.

    A str or bytes is refused: where a collection of objects is expected, it is a mistake
    (``range("abc")`` would look up three one-letter keys).
    """
    if is_instance(value, _TEXT_LIKE):
        _refuse(error, name, value, "must be an iterable of items, not a str or bytes")
    if not is_iterable(value):
        _refuse(error, name, value, "must be an iterable (a list, a tuple, a generator...)")
    items: list[object] = list(value)
    if maximum is not None and len(items) > maximum:
        _refuse(error, name, f"<{len(items)} items>", f"must hold at most {maximum} items")
    return items


def check_list(
    name: str,
    value: Iterable[T],
    *,
    maximum: int | None = None,
    error: ArgumentError = InvalidArgumentError,
) -> list[T]:
    """:func:`check_iterable` for an argument typed ``Iterable[T]``: its items as a ``list[T]``.

    The items themselves are not checked (a repository's keys are checked by the key's value rule).
    """
    return cast(list[T], check_iterable(name, value, maximum=maximum, error=error))


def check_items(
    name: str,
    value: object,
    kind: type[T],
    *,
    maximum: int | None = None,
    error: ArgumentError = InvalidArgumentError,
) -> list[T]:
    """Return the items of ``value`` as a list if it is an iterable of ``kind`` instances (see :func:`check_iterable`)."""
    items = check_iterable(name, value, maximum=maximum, error=error)
    for index, item in enumerate(items):
        if not isinstance(item, kind):
            _refuse(error, f"{name}[{index}]", item, f"must be a {kind.__qualname__}")
    return cast(list[T], items)
