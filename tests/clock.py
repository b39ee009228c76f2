"""A clock that tests move forward, for the stores that take one (outbox relay stores, agent stores)."""

from __future__ import annotations

import datetime as dt


class FakeClock:
    """The wall clock plus an offset that tests move forward (never behind the wall clock)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta
