"""Junk: values no public call of hexalchemy may answer with a raw Python or driver error.

:data:`JUNK` is a fixed catalogue (every edge the issue names, and their neighbours);
:func:`junk` a Hypothesis strategy that draws more of the same kinds at random.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Final

from hypothesis import strategies as st

__all__ = ["JUNK", "SOME_JUNK", "junk"]

_PLUS_ONE: Final = dt.timezone(dt.timedelta(hours=1))
_MINUS_ONE: Final = dt.timezone(dt.timedelta(hours=-1))


class _Opaque:
    """An object of no type any call expects."""

    def __repr__(self) -> str:
        return "<opaque>"


class _Unhashable:
    """An object that cannot be a dict key or a set member."""

    def __hash__(self) -> int:
        raise TypeError("unhashable type: '_Unhashable'")

    def __repr__(self) -> str:
        return "<unhashable>"


JUNK: Final[tuple[object, ...]] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**31,
    2**63,
    -(2**63) - 1,
    10**30,
    math.nan,
    math.inf,
    -math.inf,
    Decimal("NaN"),
    Decimal("1E+400"),
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x" * 5_000,
    "SERIALIZABLE",
    "abc",
    "yes",
    b"bytes",
    bytearray(b"x"),
    (),
    [],
    [None],
    [0, "a"],
    [_Opaque()],
    ["\x00"],
    {"key": "value"},
    {1: 2},
    {1, 2},
    iter([1, 2]),
    _Opaque(),
    _Unhashable(),
    object,
    int,
    lambda *args, **kwargs: None,
    ValueError("an exception instance"),
    uuid.UUID(int=0),
    dt.timedelta(0),
    dt.timedelta(seconds=-1),
    dt.timedelta(microseconds=1),
    dt.timedelta(days=400),
    dt.timedelta.max,
    dt.timedelta.min,
    dt.datetime(2024, 1, 1),  # naive
    dt.datetime(1, 1, 1, tzinfo=_PLUS_ONE),  # UTC value in year 0
    dt.datetime(9999, 12, 31, 23, 30, tzinfo=_MINUS_ONE),  # UTC value in year 10000
    dt.datetime.min.replace(tzinfo=dt.UTC),
    dt.datetime.max.replace(tzinfo=dt.UTC),
    dt.date(2024, 1, 1),
)
"""The fixed catalogue of junk, tried in place of every argument of every public call."""


SOME_JUNK: Final[tuple[object, ...]] = (
    None,
    True,
    0,
    -1,
    1.5,
    2**63,
    math.nan,
    "",
    "a\x00b",
    "\ud800",
    "SERIALIZABLE",
    b"bytes",
    [],
    [None],
    [_Opaque()],
    {"key": "value"},
    _Opaque(),
    _Unhashable(),
    uuid.UUID(int=0),
    dt.timedelta(0),
    dt.timedelta(seconds=-1),
    dt.timedelta.max,
    dt.datetime(2024, 1, 1),
    dt.datetime(1, 1, 1, tzinfo=_PLUS_ONE),
    dt.datetime(9999, 12, 31, 23, 30, tzinfo=_MINUS_ONE),
)
"""A sample of the catalogue, one of each kind, for the database worlds (each call costs a round trip or two)."""


def junk() -> st.SearchStrategy[object]:
    """Random junk of the catalogue's kinds: numbers, text, bytes, times, durations, containers."""
    scalars: st.SearchStrategy[object] = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**62, max_value=2**80),
        st.integers(max_value=-1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.text(alphabet=st.characters(codec=None, categories=("Cs", "Cc")), max_size=5),
        st.binary(max_size=10),
        st.uuids(),
        st.timedeltas(),
        st.datetimes(),  # naive
        st.datetimes(timezones=st.timezones()),
        st.datetimes(
            min_value=dt.datetime(9999, 12, 31), timezones=st.just(dt.timezone(-dt.timedelta(hours=23)))
        ),
        st.datetimes(max_value=dt.datetime(1, 1, 2), timezones=st.just(dt.timezone(dt.timedelta(hours=23)))),
        st.dates(),
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=4),
        st.tuples(scalars, scalars),
        st.dictionaries(st.text(max_size=5), scalars, max_size=3),
        st.sampled_from(JUNK),
    )
