"""Hypothesis strategies for the sample aggregates, limited to values every backend stores exactly.

- integers: signed 64-bit (``BIGINT``);
- text: any code point except NUL (PostgreSQL refuses it) and surrogates (not encodable);
- decimals: finite, at most 18 significant digits and 12 decimal places;
- datetimes: aware, between 1900 and 2100, with microseconds, at a whole-minute UTC offset.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final

from hypothesis import strategies as st

from hexalchemy.testing.contracts.domain import Account, Membership, Money, Tier

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "accounts",
    "aware_datetimes",
    "decimals",
    "int64s",
    "memberships",
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
    return st.builds(
        lambda digits, places: Decimal(digits).scaleb(-places),
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
