"""The value rules: each quick expression agrees with its rule, and the rules' normal forms and refusals."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hexalchemy.ports import ColumnOptions, MappingError
from hexalchemy.rules import (
    RefusedValueError,
    ValueRule,
    json_problem,
    json_rule,
    json_suspect,
    rule_for,
    value_object_rule,
)


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    SMALL = 1


@attrs.frozen
class Point:
    x: float
    label: str


def _rule(python_type: Any, options: ColumnOptions | None = None, *, optional: bool = False) -> ValueRule:
    rule = rule_for(object, "f", python_type, options, optional=optional)
    assert rule is not None
    return rule


RULES: dict[str, ValueRule] = {
    "str": _rule(str),
    "str(3)": _rule(str, ColumnOptions(max_length=3)),
    "str | None": _rule(str, optional=True),
    "int": _rule(int),
    "bool": _rule(bool),
    "float": _rule(float),
    "float (non-finite)": _rule(float, ColumnOptions(allow_non_finite=True)),
    "Decimal": _rule(Decimal),
    "Decimal(5, 2)": _rule(Decimal, ColumnOptions(precision=5, scale=2)),
    "Decimal(3, 0)": _rule(Decimal, ColumnOptions(precision=3)),
    "Decimal (non-finite)": _rule(Decimal, ColumnOptions(allow_non_finite=True)),
    "UUID": _rule(uuid.UUID),
    "date": _rule(dt.date),
    "datetime": _rule(dt.datetime),
    "enum": _rule(Colour),
    "int enum | None": _rule(Size, optional=True),
    "value object": value_object_rule(Point, optional=False),
    "value object | None": value_object_rule(Point, optional=True),
}

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(),
    st.text(st.characters(codec="utf-8")),
    st.decimals(),
    st.decimals(places=2),
    st.decimals(places=0, min_value=-2000, max_value=2000),
    st.sampled_from([Decimal("-0"), Decimal("-0.00"), Decimal("0.00"), Decimal("1E+5"), Decimal("-NaN1")]),
    st.integers(min_value=0, max_value=10**20000).map(lambda digits: Decimal(f"{digits}E-17000")),
    st.uuids(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.sampled_from(Colour),
    st.sampled_from(Size),
    st.builds(Point, x=st.floats(), label=st.text()),
)


def _quick(rule: ValueRule) -> Any:
    source = rule.quick_source("value", "0")
    assert source is not None
    expression, names = source
    return eval(f"lambda value: {expression}", names)


@pytest.mark.parametrize("name", [name for name, rule in RULES.items() if rule.quick is not None])
@given(value=ANYTHING)
def test_a_quick_expression_holds_only_for_values_its_rule_keeps_unchanged(name: str, value: object) -> None:
    rule = RULES[name]
    if _quick(rule)(value):
        stored = rule.normalize(value)
        assert stored is value or (type(stored) is type(value) and str(stored) == str(value))


@pytest.mark.parametrize("value", ["-1", "10", "1.5", "1E+1"])
def test_a_declared_scale_quick_expression_does_not_keep_fewer_places(value: str) -> None:
    rule = RULES["Decimal(5, 2)"]
    assert not _quick(rule)(Decimal(value))  # "-1" and "10" have no point where ".find" says -1


@pytest.mark.parametrize(
    ("given_value", "stored"),
    [
        ("1E+5", "100000"),
        ("1.50E+2", "150"),
        ("-0.00", "0.00"),
        ("-0E+5", "0"),
        ("1.500", "1.500"),
        ("1E-7", "1E-7"),
        ("1E-16383", "1E-16383"),
        ("-" + "9" * 131_072, "-" + "9" * 131_072),
        ("1" + "0" * 20_000 + ".5", "1" + "0" * 20_000 + ".5"),
    ],
    ids=lambda value: value[:12],
)
def test_a_decimal_is_stored_with_its_exponent_written_out_and_no_negative_zero(
    given_value: str, stored: str
) -> None:
    assert str(RULES["Decimal"].normalize(Decimal(given_value))) == stored


@pytest.mark.parametrize(
    ("given_value", "reason"),
    [
        ("NaN", "NaN and ±Infinity are refused"),
        ("-Infinity", "NaN and ±Infinity are refused"),
        ("sNaN", "signalling NaN"),
        ("1E+131072", "131072 digits before the point"),
        ("1E-16384", "16383 digits after the point"),
        ("0E-20000", "16383 digits after the point"),
        ("1" + "0" * 10 + "E-20000", "16383 digits after the point"),
    ],
)
def test_a_decimal_beyond_numeric_is_refused(given_value: str, reason: str) -> None:
    with pytest.raises(RefusedValueError) as caught:
        RULES["Decimal"].normalize(Decimal(given_value))
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("given_value", "stored"),
    [
        ("1.5", "1.50"),
        ("-0", "0.00"),
        ("999.99", "999.99"),
        ("1.500", "1.50"),
        ("0E-40", "0.00"),
        ("0E+9", "0.00"),
    ],
)
def test_a_decimal_with_a_declared_scale_is_padded_to_it(given_value: str, stored: str) -> None:
    assert str(RULES["Decimal(5, 2)"].normalize(Decimal(given_value))) == stored


@pytest.mark.parametrize(
    ("given_value", "reason"),
    [
        ("1000", "more than 3 digits before the point"),
        ("1.555", "more than 2 digits after the point"),
        ("1E-30", "more than 2 digits after the point"),
        ("1E+99999999", "more than 3 digits before the point"),
    ],
)
def test_a_decimal_beyond_its_declared_precision_is_refused_never_rounded(
    given_value: str, reason: str
) -> None:
    with pytest.raises(RefusedValueError) as caught:
        RULES["Decimal(5, 2)"].normalize(Decimal(given_value))
    assert reason in caught.value.reason


def test_infinity_does_not_fit_a_declared_precision_even_when_allowed() -> None:
    rule = _rule(Decimal, ColumnOptions(precision=5, allow_non_finite=True))
    assert rule is not None
    assert rule.normalize(Decimal("NaN")).is_nan()
    with pytest.raises(RefusedValueError, match="declared precision"):
        rule.normalize(Decimal("Infinity"))


def test_a_datetime_is_stored_in_utc() -> None:
    moment = dt.datetime(2024, 5, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    stored = RULES["datetime"].normalize(moment)
    assert stored == moment and stored.tzinfo is dt.UTC and stored.hour == 12


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (ColumnOptions(max_length=0), "max_length=0: must be an int >= 1"),
        (ColumnOptions(max_length=True), "max_length=True"),
        (ColumnOptions(precision=1001), "from 1 to 1000"),
        (ColumnOptions(scale=2), "needs a precision too"),
        (ColumnOptions(precision=2, scale=3), "from 0 to the precision (2)"),
    ],
)
def test_options_out_of_range_are_a_mapping_error_naming_the_field(options: ColumnOptions, says: str) -> None:
    with pytest.raises(MappingError) as caught:
        rule_for(Point, "label", str, options, optional=False)
    assert caught.value.field == "label"
    assert says in caught.value.reason


@pytest.mark.parametrize(
    ("python_type", "options"),
    [
        (int, ColumnOptions(max_length=3)),
        (str, ColumnOptions(precision=3)),
        (str, ColumnOptions(allow_non_finite=True)),
        (float, ColumnOptions(precision=3)),
        (Colour, ColumnOptions(max_length=3)),
        (list, ColumnOptions(max_length=3)),
    ],
)
def test_options_that_cannot_apply_to_the_type_are_a_mapping_error(
    python_type: Any, options: ColumnOptions
) -> None:
    with pytest.raises(MappingError, match="cannot apply to a field of type"):
        rule_for(Point, "x", python_type, options, optional=False)


# --- JSON -------------------------------------------------------------------------------------

JSON_TEXT = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\x00", "\ud800", "\\"]), max_size=6
) | st.just(
    "\\u0000"  # a backslash and u0000: not a NUL, though its JSON text holds \u0000
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | JSON_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(JSON_TEXT, children, max_size=3),
    max_leaves=8,
)


@given(value=JSON_VALUES)
def test_json_suspect_is_false_only_where_the_walk_finds_nothing(value: object) -> None:
    if not json_suspect(value):
        assert json_problem(value) is None
    if json_problem(value) is not None:
        assert json_suspect(value)


@pytest.mark.parametrize(
    ("value", "at"),
    [
        ({"door": "a\x00"}, '["door"]'),
        ({"d\x00": "a"}, '["d\\u0000"]'),
        ([1.0, [2.0, float("nan")]], "[1][1]"),
        ((Point(1.0, "ok"), Point(float("inf"), "ok")), "[1].x"),
        ({"points": [Point(1.0, "\ud800")]}, '["points"][0].label'),
    ],
)
def test_json_problem_names_the_path_to_the_part_that_breaks_the_rule(value: object, at: str) -> None:
    problem = json_problem(value)
    assert problem is not None and problem.at == at


def test_the_json_rule_keeps_a_value_as_it_is_and_refuses_none_unless_optional() -> None:
    value = {"door": ["blue", 1.5]}
    assert json_rule(dict[str, list[str | float]], optional=False).normalize(value) is value
    assert json_rule(list[int], optional=True).normalize(None) is None
    with pytest.raises(RefusedValueError, match="not Optional"):
        json_rule(list[int], optional=False).normalize(None)
