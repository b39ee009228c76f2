"""Hypothesis strategies for the sample aggregates, limited to values every backend stores exactly.

- integers: signed 64-bit (``BIGINT``);
- text: any code point except NUL (PostgreSQL refuses it) and surrogates (not encodable);
- decimals: finite, at most 18 significant digits and 12 decimal places;
- datetimes: aware, between 1900 and 2100, with microseconds, at a whole-minute UTC offset.

:func:`specimens` draws from the whole value domain instead (positive exponents, negative
zeros, NaN where allowed, datetimes from year 1 to 9999 at any offset...): values that every
adapter accepts, some of which it stores in a normalised form.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final

from hypothesis import strategies as st

from hexalchemy.ports import JsonValue
from hexalchemy.testing.contracts.domain import (
    Account,
    Level,
    Membership,
    Money,
    Part,
    Place,
    Shade,
    Specimen,
    Tier,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "accounts",
    "aware_datetimes",
    "decimals",
    "int64s",
    "memberships",
    "specimens",
    "texts",
]

INT64_MIN: Final = -(2**63)
"""The smallest integer a ``BIGINT`` column stores."""

INT64_MAX: Final = 2**63 - 1
"""The largest integer a ``BIGINT`` column stores."""


def int64s() -> st.SearchStrategy[int]:
    """Signed 64-bit integers."""
    return st.integers(min_value=INT64_MIN, max_value=INT64_MAX)


def texts(*, max_size: int = 40) -> st.SearchStrategy[str]:
    """Text of any code point but NUL and surrogates."""
    return st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=max_size)


def decimals() -> st.SearchStrategy[Decimal]:
    """Finite decimals with at most 18 significant digits and 12 decimal places."""

    def decimal(digits: int, places: int) -> Decimal:
        return Decimal(digits).scaleb(-places)

    return st.builds(
        decimal,
        st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1),
        st.integers(min_value=0, max_value=12),
    )


def aware_datetimes() -> st.SearchStrategy[dt.datetime]:
    """Aware datetimes between 1900 and 2100 with microseconds, at a whole-minute UTC offset."""
    offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
    )
    return st.datetimes(
        min_value=dt.datetime(1900, 1, 2),
        max_value=dt.datetime(2099, 12, 30),
        timezones=st.just(dt.UTC) | offsets,
    )


def accounts() -> st.SearchStrategy[Account]:
    """New (version 0) accounts with any storable field values."""
    return st.builds(
        Account,
        id=st.uuids(),
        owner=texts(),
        points=int64s(),
        balance=st.builds(Money, amount=decimals(), currency=texts(max_size=3)),
        credit_limit=decimals(),
        tier=st.sampled_from(Tier),
        tags=st.lists(texts(max_size=10), max_size=5).map(tuple),
        closed_at=st.none() | aware_datetimes(),
        version=st.just(0),
    )


def memberships() -> st.SearchStrategy[Membership]:
    """Memberships with any storable field values."""
    return st.builds(Membership, team=texts(), member=int64s(), role=texts())


def _domain_decimals() -> st.SearchStrategy[Decimal]:
    """Finite decimals with up to 30 digits and exponents from -40 to 40 (1E+5, -0.00 included)."""

    def decimal(sign: str, digits: int, exponent: int) -> Decimal:
        return Decimal(f"{sign}{digits}E{exponent}")

    return st.builds(
        decimal,
        st.sampled_from(["", "-"]),
        st.integers(min_value=0, max_value=10**30 - 1),
        st.integers(min_value=-40, max_value=40),
    )


def _prices() -> st.SearchStrategy[Decimal]:
    """Decimals that fit ``NUMERIC(9, 2)``: at most 7 digits before the point and 0 to 2 after."""

    def with_places(places: int) -> st.SearchStrategy[Decimal]:
        limit = 10 ** (7 + places) - 1
        return st.integers(min_value=-limit, max_value=limit).map(
            lambda digits: Decimal(digits).scaleb(-places)
        )

    return st.integers(min_value=0, max_value=2).flatmap(with_places)


def _any_aware_datetimes() -> st.SearchStrategy[dt.datetime]:
    """Aware datetimes whose UTC value falls within years 1..9999, at a whole-minute offset."""
    offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
    )
    return st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.just(dt.UTC) | offsets,
    )


def _places() -> st.SearchStrategy[Place]:
    return st.builds(Place, street=texts(max_size=40), city=texts(max_size=20))


def _json_values(floats: st.SearchStrategy[float | int]) -> st.SearchStrategy[JsonValue]:
    """Plain JSON values (``ColumnOptions(json=True)``): scalars, lists and str-keyed dicts of them."""
    scalars: st.SearchStrategy[JsonValue] = st.none() | st.booleans() | int64s() | floats | texts(max_size=10)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(texts(max_size=10), children, max_size=3)
        ),
        max_leaves=8,
    )


def specimens() -> st.SearchStrategy[Specimen]:
    """New (version 0) specimens with values from the whole value domain, inside JSON too."""
    floats = st.floats(allow_nan=False, allow_infinity=False) | st.integers(
        min_value=-(2**53), max_value=2**53
    )
    return st.builds(
        Specimen,
        id=st.uuids(),
        label=texts(max_size=60),
        code=texts(max_size=8),
        count=int64s(),
        flag=st.booleans(),
        ratio=floats,
        amount=_domain_decimals(),
        price=_prices(),
        measure=_domain_decimals()
        | st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")]),
        day=st.dates(),
        at=_any_aware_datetimes(),
        shade=st.sampled_from(Shade),
        level=st.sampled_from(Level),
        origin=_places(),
        destination=st.none() | _places(),
        parts=st.lists(
            st.builds(Part, sku=texts(max_size=10), count=int64s(), weight=floats, cost=_domain_decimals()),
            max_size=3,
        ).map(tuple),
        notes=st.dictionaries(texts(max_size=10), texts(max_size=10), max_size=3),
        comment=st.none() | texts(),
        data=_json_values(floats),
        version=st.just(0),
    )
