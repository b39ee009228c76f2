"""The typed JSON rule: every part of a collection is held to the rule of its declared type."""

from __future__ import annotations

import collections.abc
import datetime as dt
from decimal import Decimal
from typing import Any, NewType

import attrs
import pytest

from hexalchemy.rules import RefusedValueError, json_rule

Sku = NewType("Sku", str)


@attrs.frozen
class Line:
    sku: Sku
    quantity: int
    price: Decimal
    at: dt.datetime | None = None
    lines: tuple[Line, ...] = ()


def _normalize(tp: Any, value: object) -> object:
    return json_rule(tp, optional=False).normalize(value)


def _refusal(tp: Any, value: object) -> RefusedValueError:
    with pytest.raises(RefusedValueError) as caught:
        _normalize(tp, value)
    return caught.value


@pytest.mark.parametrize(
    ("tp", "value", "at", "words"),
    [
        (list[int], [1, 1.5], "[1]", "expected an int"),
        (list[int], [True], "[0]", "expected an int"),
        (list[int], [2**63], "[0]", "64 bits"),
        (list[float], [float("nan")], "[0]", "NaN"),
        (list[Decimal], [Decimal("NaN")], "[0]", "NaN"),
        (list[Decimal], [Decimal("sNaN")], "[0]", "signalling NaN"),
        (list[Decimal], [0.1], "[0]", "expected a Decimal"),
        (list[str], ["a\x00"], "[0]", "NUL"),
        (list[str], "abc", "", "expected a list or a tuple"),
        (dict[str, int], {"a": "1"}, '["a"]', "expected an int"),
        (dict[str, int], {1: 1}, "[1]", "object key"),
        (dict[str, int], [("a", 1)], "", "expected a dict"),
        (set[int], [1], "", "expected a set"),
        (tuple[int, str], (1,), "", "a tuple of 2 items"),
        (tuple[int, str], (1, 2), "[1]", "expected a str"),
        (tuple[Line, ...], ("x",), "[0]", "expected a Line"),
        (tuple[Line, ...], (Line(Sku("a"), 1, Decimal("Infinity")),), "[0].price", "Infinity"),
        (tuple[Line, ...], (Line(Sku("a"), 1, Decimal(1), dt.datetime(2020, 1, 1)),), "[0].at", "aware"),
        (
            tuple[Line, ...],
            (Line(Sku("a"), 1, Decimal(1), lines=(Line(Sku("b\x00"), 1, Decimal(1)),)),),
            "[0].lines[0].sku",
            "NUL",
        ),
        (list[int | None], [None, "1"], "[1]", "expected an int"),
    ],
)
def test_a_part_its_type_refuses_is_named_by_its_path(tp: Any, value: object, at: str, words: str) -> None:
    refusal = _refusal(tp, value)
    assert refusal.at == at
    assert words in refusal.reason


def test_a_value_already_in_stored_form_is_kept_as_it_is() -> None:
    value = (Line(Sku("a"), 1, Decimal("1.50"), dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),)
    assert _normalize(tuple[Line, ...], value) is value
    mapping = {"a": [1, 2]}
    assert _normalize(dict[str, list[int]], mapping) is mapping


@pytest.mark.parametrize(
    ("tp", "given", "stored"),
    [
        (list[float], [1, -0.0], [1.0, 0.0]),
        (list[Decimal], [Decimal("1E+5"), Decimal("-0.00")], [Decimal("100000"), Decimal("0.00")]),
        (tuple[int, ...], [1, 2], (1, 2)),
        (list[int], (1, 2), [1, 2]),
        (collections.abc.Sequence[int], [1], (1,)),
        (collections.abc.Set[int], {1}, frozenset({1})),
        (collections.abc.MutableSet[int], frozenset({1}), {1}),
        (collections.abc.Mapping[str, int], {"a": 1}, {"a": 1}),
    ],
)
def test_a_value_is_normalised_to_the_form_it_is_read_back_in(tp: Any, given: object, stored: object) -> None:
    normalized = _normalize(tp, given)
    assert type(normalized) is type(stored)
    assert repr(normalized) == repr(stored)


def test_datetimes_inside_are_stored_in_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    line = Line(Sku("a"), 1, Decimal(1), dt.datetime(2020, 1, 1, 12, tzinfo=plus_two))
    (stored,) = typing_cast_lines(_normalize(tuple[Line, ...], (line,)))
    assert stored.at == line.at
    assert stored.at is not None and stored.at.tzinfo is dt.UTC and stored.at.hour == 10


def typing_cast_lines(value: object) -> tuple[Line, ...]:
    assert isinstance(value, tuple)
    assert all(isinstance(item, Line) for item in value)
    return value


def test_types_kept_are_not_walked() -> None:
    value = (Line(Sku("a\x00"), 1, Decimal("NaN")),)
    assert json_rule(tuple[Line, ...], optional=False, kept=[Line]).normalize(value) is value
