"""The rule of a plain JSON value (rules.json_values.PLAIN_JSON): what every adapter stores, in the form it reads back."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hexalchemy.rules.json_values import MAX_JSON_DEPTH, PLAIN_JSON
from hexalchemy.rules.values import RefusedValueError


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


_SHARED: list[Any] = [1]


def _holding_itself() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, None),
        (True, True),
        ("text", "text"),
        ({"a": [1, 2.5, None]}, {"a": [1, 2.5, None]}),
        ((1, (2, 3)), [1, [2, 3]]),
        ({"t": ()}, {"t": []}),
        (-0.0, 0.0),
        ([1e16, -1.5e17], [10**16, -15 * 10**16]),
        ([9999999999999998.0, 1e-7], [9999999999999998.0, 1e-7]),
        ([2**63 - 1, -(2**63), 10**40], [2**63 - 1, -(2**63), 10**40]),
        (_nested(MAX_JSON_DEPTH - 1), _nested(MAX_JSON_DEPTH - 1)),
        ([_SHARED, {"again": _SHARED}], [[1], {"again": [1]}]),  # shared, not a cycle
    ],
)
def test_a_value_is_stored_in_the_form_every_database_reads_back(given: object, stored: object) -> None:
    result = PLAIN_JSON.normalize(given)
    assert result == stored
    assert json.dumps(result) == json.dumps(stored)  # the types too: int, float, list


@pytest.mark.parametrize(
    ("given", "at", "words"),
    [
        ([math.nan], "[0]", "NaN"),
        ({"a": math.inf}, '["a"]', "Infinity"),
        (["a\x00"], "[0]", "NUL"),
        ({"k\ud800": 1}, '["k\ud800"]', "object key"),
        ({1: "a"}, "[1]", "must be a str"),
        ({"s": {1}}, '["s"]', "set is not a JSON value"),
        ([Decimal("1")], "[0]", "Decimal is not a JSON value"),
        (b"x", "", "bytes is not a JSON value"),
        (_holding_itself(), "[0]", "holds itself"),
        (_nested(MAX_JSON_DEPTH + 1), "", f"nest more than {MAX_JSON_DEPTH} deep"),
        (_nested(100_000), "", f"nest more than {MAX_JSON_DEPTH} deep"),
    ],
)
def test_a_value_that_cannot_be_stored_is_refused_naming_the_part(given: object, at: str, words: str) -> None:
    with pytest.raises(RefusedValueError) as raised:
        PLAIN_JSON.normalize(given)
    assert raised.value.at == at
    assert words in raised.value.reason


_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(_TEXT, children, max_size=3)
    ),
    max_leaves=10,
)


@given(value=JSON)
def test_the_stored_form_is_stored_as_it_is_and_equals_the_value(value: Any) -> None:
    stored = PLAIN_JSON.normalize(value)
    assert PLAIN_JSON.normalize(stored) == stored  # saved again as it was loaded
    assert json.dumps(PLAIN_JSON.normalize(stored)) == json.dumps(stored)  # the same types too
    assert json.loads(json.dumps(stored)) == stored  # what a database gives back: the text read again
