"""The query contract's oracle and data (private): what a query must return, written plainly in Python.

The oracle evaluates a query on a list of :class:`~hexalchemy.testing.contracts.domain.Account`
without any of hexalchemy's query code: the contract compares every adapter with it. Its
semantics are those of :mod:`hexalchemy.ports.query`: a comparison with None is unknown,
and so is its negation; None orders first ascending, last descending; text by code point;
enums by value; the key (``id``) ends every order, in the direction of the last ordering.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Final, get_args

from hypothesis import strategies as st

from hexalchemy.ports import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    IsNone,
    Not,
    OneOf,
    Ordering,
    Query,
    TextMatch,
)
from hexalchemy.ports.query import Operator
from hexalchemy.rules import FieldRef, field_ref
from hexalchemy.testing.contracts.domain import Account, Money, Tier

__all__: list[str] = []

OWNER: Final = field_ref(Account, lambda a: a.owner)
POINTS: Final = field_ref(Account, lambda a: a.points)
AMOUNT: Final = field_ref(Account, lambda a: a.balance.amount)
CURRENCY: Final = field_ref(Account, lambda a: a.balance.currency)
LIMIT: Final = field_ref(Account, lambda a: a.credit_limit)
TIER: Final = field_ref(Account, lambda a: a.tier)
CLOSED_AT: Final = field_ref(Account, lambda a: a.closed_at)
ID: Final = field_ref(Account, lambda a: a.id)

_UTC: Final = dt.UTC
_PLUS_2: Final = dt.timezone(dt.timedelta(hours=2))
_MINUS_5: Final = dt.timezone(dt.timedelta(hours=-5))

OWNERS: Final = (
    "",
    "a",
    "A",
    "b",
    "ab",
    "a%",
    "a_b",
    "a/_",
    "é",
    "e\u0301",
    "Zürich",
    "zebra",
    "\U0001f600",
    "naïve",
)
POINTS_VALUES: Final = (-3, -1, 0, 1, 2, 3)
AMOUNTS: Final = tuple(Decimal(text) for text in ("-1.50", "0", "0.00", "1.5", "1.50", "2.25", "10", "-0.01"))
MOMENTS: Final = (
    dt.datetime(2024, 1, 1, 12, 0, tzinfo=_UTC),
    dt.datetime(2024, 1, 1, 14, 0, tzinfo=_PLUS_2),  # the same instant as the one above
    dt.datetime(2024, 1, 1, 12, 0, 0, 1, tzinfo=_UTC),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=_MINUS_5),
    dt.datetime(2030, 6, 15, 0, 0, tzinfo=_UTC),
)


def _value(account: Account, ref: FieldRef[Account, Any]) -> Any:
    value: Any = account
    for part in ref.field.path:
        value = getattr(value, part)
    return value


def _key(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _compare(left: Any, right: Any) -> int:
    if left is None or right is None:
        return (left is not None) - (right is not None)
    a, b = _key(left), _key(right)
    return -1 if a < b else (1 if a > b else 0)


def truth(condition: Condition[Account], account: Account) -> bool | None:
    """True, False or None (unknown) for ``condition`` on ``account``."""
    if isinstance(condition, Comparison):
        value = _value(account, FieldRef(condition.field))
        if condition.value is None:
            if condition.operator not in ("eq", "ne"):
                raise AssertionError(condition)
            return (value is None) == (condition.operator == "eq")
        if value is None:
            return None
        order = _compare(value, condition.value)
        checks: dict[str, Callable[[int], bool]] = {
            "eq": lambda o: o == 0,
            "ne": lambda o: o != 0,
            "lt": lambda o: o < 0,
            "le": lambda o: o <= 0,
            "gt": lambda o: o > 0,
            "ge": lambda o: o >= 0,
        }
        return checks[condition.operator](order)
    if isinstance(condition, OneOf):
        value = _value(account, FieldRef(condition.field))
        if value is None:
            return True if None in condition.values else (None if condition.values else False)
        return any(option is not None and _compare(value, option) == 0 for option in condition.values)
    if isinstance(condition, IsNone):
        return _value(account, FieldRef(condition.field)) is None
    if isinstance(condition, TextMatch):
        text = _value(account, FieldRef(condition.field))
        if text is None:
            return None
        return text.startswith(condition.text) if condition.kind == "prefix" else condition.text in text
    if isinstance(condition, AllOf):
        results = [truth(part, account) for part in condition.conditions]
        return False if False in results else (None if None in results else True)
    if isinstance(condition, AnyOf):
        results = [truth(part, account) for part in condition.conditions]
        return True if True in results else (None if None in results else False)
    if isinstance(condition, Not):
        result = truth(condition.condition, account)
        return None if result is None else not result
    raise AssertionError(condition)


def expected(query: Query[Account], accounts: Sequence[Account]) -> list[Account]:
    """What ``query`` must return from ``accounts``, in order."""
    found = [account for account in accounts if query.where is None or truth(query.where, account) is True]
    orderings = list(query.order_by)
    paths = {ordering.field.path for ordering in orderings}
    if ("id",) not in paths:
        last = orderings[-1].descending if orderings else False
        orderings.append(Ordering(ID.field, descending=last))

    def compare(left: Account, right: Account) -> int:
        for ordering in orderings:
            ref: FieldRef[Account, Any] = FieldRef(ordering.field)
            found = _compare(_value(left, ref), _value(right, ref))
            if found:
                return -found if ordering.descending else found
        return 0

    return sorted(found, key=functools.cmp_to_key(compare))


# -- the data and queries Hypothesis draws ---------------------------------------------------------


def _optional_moments() -> st.SearchStrategy[dt.datetime | None]:
    return st.one_of(st.none(), st.sampled_from(MOMENTS))


def account_rows(currency: str) -> st.SearchStrategy[list[Account]]:
    """Up to 12 new accounts of ``currency`` whose fields take few values: many ties, NULLs, unicode."""
    import uuid

    def account(
        owner: str, points: int, amount: Decimal, limit: Decimal, tier: Tier, closed_at: dt.datetime | None
    ) -> Account:
        return Account(
            id=uuid.uuid4(),
            owner=owner,
            points=points,
            balance=Money(amount, currency),
            credit_limit=limit,
            tier=tier,
            closed_at=closed_at,
        )

    row = st.builds(
        account,
        st.sampled_from(OWNERS),
        st.sampled_from(POINTS_VALUES),
        st.sampled_from(AMOUNTS),
        st.sampled_from(AMOUNTS),
        st.sampled_from(list(Tier)),
        _optional_moments(),
    )
    return st.lists(row, max_size=12)


def _leaves() -> st.SearchStrategy[Condition[Account]]:
    operators: st.SearchStrategy[Operator] = st.sampled_from(get_args(Operator))

    def compared(
        ref: FieldRef[Account, Any], values: st.SearchStrategy[Any]
    ) -> st.SearchStrategy[Condition[Account]]:
        def comparison(op: Operator, value: Any) -> Condition[Account]:
            return Comparison(ref.field, op, value)

        return st.builds(comparison, operators, values)

    texts = st.one_of(st.sampled_from(OWNERS), st.sampled_from(["a", "é", "%", "_", "/", "b", "Z"]))
    return st.one_of(
        compared(OWNER, st.sampled_from(OWNERS)),
        compared(POINTS, st.sampled_from(POINTS_VALUES)),
        compared(AMOUNT, st.sampled_from(AMOUNTS)),
        compared(LIMIT, st.sampled_from(AMOUNTS)),
        compared(TIER, st.sampled_from(list(Tier))),
        compared(CLOSED_AT, st.sampled_from(MOMENTS)),
        st.sampled_from(
            [CLOSED_AT.eq(None), CLOSED_AT.ne(None), CLOSED_AT.is_none(), CLOSED_AT.is_not_none()]
        ),
        st.builds(POINTS.in_, st.lists(st.sampled_from(POINTS_VALUES), max_size=3)),
        st.builds(CLOSED_AT.in_, st.lists(st.one_of(st.none(), st.sampled_from(MOMENTS)), max_size=3)),
        st.builds(TIER.in_, st.lists(st.sampled_from(list(Tier)), max_size=2)),
        st.builds(OWNER.startswith, texts),
        st.builds(OWNER.contains, texts),
    )


def conditions() -> st.SearchStrategy[Condition[Account]]:
    """Random conditions on the accounts' fields, nested with and, or, not."""

    def both(a: Condition[Account], b: Condition[Account]) -> Condition[Account]:
        return a & b

    def either(a: Condition[Account], b: Condition[Account]) -> Condition[Account]:
        return a | b

    def negated(a: Condition[Account]) -> Condition[Account]:
        return ~a

    def nested(inner: st.SearchStrategy[Condition[Account]]) -> st.SearchStrategy[Condition[Account]]:
        return st.one_of(
            st.builds(both, inner, inner), st.builds(either, inner, inner), st.builds(negated, inner)
        )

    return st.recursive(_leaves(), nested, max_leaves=4)


def orderings() -> st.SearchStrategy[list[Ordering[Account]]]:
    """Up to three orderings on distinct fields, each ascending or descending."""
    refs: list[FieldRef[Account, Any]] = [OWNER, POINTS, AMOUNT, LIMIT, TIER, CLOSED_AT]
    return st.lists(
        st.tuples(st.sampled_from(range(len(refs))), st.booleans()),
        max_size=3,
        unique_by=lambda pair: pair[0],
    ).map(lambda pairs: [refs[index].desc() if down else refs[index].asc() for index, down in pairs])
