"""A clock that tests move forward, for the stores that take one (outbox relay stores, agent stores)."""

from __future__ import annotations

import datetime as dt

from hexalchemy.ports import InvalidArgumentError
from hexalchemy.rules import check_instance

__all__ = ["MovableClock"]

_HEADROOM = dt.timedelta(days=366)
"""How far the clock must stay from ``datetime.max`` after a move, so that reading it later cannot overflow."""


class MovableClock:
    """The wall clock (UTC) plus an offset that tests move forward, never behind the wall clock.

    Pass it as a store's ``clock=``; :meth:`advance` lets time pass for that store at once.
    """

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        """Now, moved forward by every :meth:`advance` so far."""
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        """Move the clock forward by ``delta``; a negative one, or one past the last datetime, is an ``InvalidArgumentError``."""
        check_instance("delta", delta, dt.timedelta)
        if delta < dt.timedelta(0):
            raise InvalidArgumentError("delta", delta, "must not be negative: the clock never goes back")
        moved = _moved(self.offset, delta)
        if moved is None:
            raise InvalidArgumentError("delta", delta, "moves the clock past the last datetime")
        self.offset = moved


def _moved(offset: dt.timedelta, delta: dt.timedelta) -> dt.timedelta | None:
    """``offset + delta``, or None when it (or now plus it, with headroom) overflows."""
    try:
        moved = offset + delta
        return moved if dt.datetime.now(dt.UTC) + moved + _HEADROOM > dt.datetime.now(dt.UTC) else None
    except OverflowError:
        return None
