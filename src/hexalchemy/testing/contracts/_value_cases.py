"""The value contract's cases (private): each rule's boundary values, and the first values beyond them.

Every case is about one field of :class:`~hexalchemy.testing.contracts.domain.Specimen`
(a dotted path for a value object's field). An accepted case gives the value written and
the value read back, in its stored form; a refused case gives the value written, the
field the error names (``parts[0].sku`` inside a JSON column), the value it names, and
words of the rule it gives.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import attrs

from hexalchemy.testing.contracts.domain import Level, Part, Place, Shade, Specimen, new_specimen

__all__ = [
    "ACCEPTED",
    "REFUSED",
    "REFUSED_UPDATES",
    "Accepted",
    "Refused",
    "specimen_with",
    "value_at",
    "value_form",
]

_UTC: Final = dt.UTC
_PLUS_ONE: Final = dt.timezone(dt.timedelta(hours=1))
_MINUS_ONE: Final = dt.timezone(dt.timedelta(hours=-1))
_INT64_MAX: Final = 2**63 - 1
_INT64_MIN: Final = -(2**63)
_DOUBLE_MAX: Final = 1.7976931348623157e308
_DOUBLE_TINY: Final = 5e-324


class _Label(str):
    """A str subclass: stored, and read back, as a plain str."""

    __slots__ = ()


@attrs.frozen
class Accepted:
    """A value the field accepts, and the value read back (its stored form)."""

    name: str
    field: str
    given: Any
    stored: Any


@attrs.frozen
class Refused:
    """A value the field refuses: the field the error names, the value it names and words of its rule."""

    name: str
    field: str
    given: Any
    named: str
    rule: str
    value: Any = attrs.field(default=None)

    @property
    def refused_value(self) -> Any:
        """The value the error names: the one given, or the part of it that breaks the rule."""
        return self.given if self.value is None else self.value


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _same(name: str, field: str, value: Any) -> Accepted:
    return Accepted(name, field, value, value)


ACCEPTED: Final[tuple[Accepted, ...]] = (
    # str: any valid Unicode but NUL; max_length counts characters
    _same("empty text", "label", ""),
    _same("long text", "label", "x" * 100_000),
    _same("any code point", "label", "\U0001f600 é עברית 中文 \t\n\r \x01 \x7f \ufffd \U0010ffff"),
    _same("max_length characters", "code", "12345678"),
    _same("max_length non-ASCII characters", "code", "éééééééé"),
    _same("max_length in a value object", "origin.city", "c" * 20),
    _same("max_length declared in the spec", "origin.street", "s" * 40),
    Accepted("a str subclass is stored as a str", "label", _Label("plain"), "plain"),
    # int: 64 bits
    _same("the smallest int", "count", _INT64_MIN),
    _same("the largest int", "count", _INT64_MAX),
    Accepted("an IntEnum member as an int", "count", Level.HIGH, 2),
    _same("True", "flag", True),
    _same("False", "flag", False),
    # float: finite; an int becomes a float, -0.0 becomes 0.0
    _same("the largest float", "ratio", _DOUBLE_MAX),
    _same("the smallest float", "ratio", -_DOUBLE_MAX),
    _same("the smallest positive float", "ratio", _DOUBLE_TINY),
    Accepted("negative zero float", "ratio", -0.0, 0.0),
    Accepted("an int for a float", "ratio", 3, 3.0),
    # Decimal: within NUMERIC's limits; a positive exponent written out, -0 made 0
    Accepted("a positive exponent", "amount", Decimal("1E+5"), Decimal("100000")),
    Accepted("negative zero", "amount", Decimal("-0.00"), Decimal("0.00")),
    _same("trailing zeros", "amount", Decimal("1.500")),
    _same("a small exponent", "amount", Decimal("1E-7")),
    _same("131072 digits before the point", "amount", Decimal("9" * 131_072)),
    _same("16383 digits after the point", "amount", Decimal("1E-16383")),
    # Decimal(9, 2): padded to the scale; trailing zeros beyond it dropped
    _same("the largest price", "price", Decimal("9999999.99")),
    _same("the smallest price", "price", Decimal("-9999999.99")),
    Accepted("padded to the scale", "price", Decimal("1.5"), Decimal("1.50")),
    Accepted("an integer padded to the scale", "price", Decimal("7"), Decimal("7.00")),
    Accepted("zeros beyond the scale", "price", Decimal("1.500"), Decimal("1.50")),
    Accepted("negative zero price", "price", Decimal("-0"), Decimal("0.00")),
    # Decimal with allow_non_finite: NaN and ±Infinity
    _same("NaN when allowed", "measure", Decimal("NaN")),
    Accepted("a NaN's sign and payload are dropped", "measure", Decimal("-NaN7"), Decimal("NaN")),
    _same("Infinity when allowed", "measure", Decimal("Infinity")),
    _same("-Infinity when allowed", "measure", Decimal("-Infinity")),
    # date
    _same("the first date", "day", dt.date(1, 1, 1)),
    _same("the last date", "day", dt.date(9999, 12, 31)),
    # datetime: aware, its UTC value within years 1..9999, read back in UTC
    _same("the first instant", "at", dt.datetime(1, 1, 1, tzinfo=_UTC)),
    _same("the last instant", "at", dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=_UTC)),
    Accepted(
        "the first instant at +01:00",
        "at",
        dt.datetime(1, 1, 1, 1, tzinfo=_PLUS_ONE),
        dt.datetime(1, 1, 1, tzinfo=_UTC),
    ),
    Accepted(
        "the last hour at -01:00",
        "at",
        dt.datetime(9999, 12, 31, 22, tzinfo=_MINUS_ONE),
        dt.datetime(9999, 12, 31, 23, tzinfo=_UTC),
    ),
    # enums
    _same("a str enum member", "shade", Shade.DARK),
    _same("an int enum member", "level", Level.HIGH),
    # optional
    _same("None where optional", "comment", None),
    _same("an optional value object present", "destination", Place("2 High St", "Shelbyville")),
    # JSON
    _same("JSON with an empty key and text", "notes", {"": ""}),
    _same("JSON with any code point", "notes", {"\U0001f600 é": "\t\x01"}),
    _same(
        "JSON with extreme floats", "parts", (Part("", _INT64_MAX, _DOUBLE_MAX), Part("a", 0, _DOUBLE_TINY))
    ),
    Accepted("a list for a tuple in JSON", "parts", [Part("a", 1, 1.5)], (Part("a", 1, 1.5),)),
    # plain JSON values (ColumnOptions(json=True))
    _same("a plain JSON object", "data", {"a": [1, 2.5, "x", None, True], "b": {"c": {}}}),
    _same("ints of any size in plain JSON", "data", [_INT64_MIN, _INT64_MAX, 10**40, -(10**40)]),
    _same("a plain JSON scalar", "data", "just text"),
    _same("a backslash before u0000 in plain JSON (text, not a NUL)", "data", ["\\u0000", {"\\u0000": "x"}]),
    _same("a backslash before u0000 in JSON (text, not a NUL)", "notes", {"\\u0000": "\\u0000"}),
    Accepted("tuples in plain JSON", "data", {"pair": (1, (2, 3))}, {"pair": [1, [2, 3]]}),
    Accepted("negative zero in plain JSON", "data", [-0.0], [0.0]),
    Accepted(
        "floats written with an exponent in plain JSON",
        "data",
        [1e20, -2.5e16, 1e-7],
        [10**20, -(25 * 10**15), 1e-7],
    ),
    Accepted("an int for a float in JSON", "parts", (Part("a", 1, 2),), (Part("a", 1, 2.0),)),
    Accepted("negative zero float in JSON", "parts", (Part("a", 1, -0.0),), (Part("a", 1, 0.0),)),
    Accepted(
        "a Decimal's positive exponent in JSON",
        "parts",
        (Part("a", 1, 1.0, Decimal("1E+5")),),
        (Part("a", 1, 1.0, Decimal("100000")),),
    ),
    _same("JSON with exact decimals", "parts", (Part("a", 1, 1.0, Decimal("0.10")),)),
)
"""Each rule's boundary values: accepted on every adapter, and read back in the stored form given."""


REFUSED: Final[tuple[Refused, ...]] = (
    # str
    Refused("NUL in text", "label", "a\x00b", "label", "NUL"),
    Refused("a lone surrogate", "label", "a\ud800", "label", "surrogate"),
    Refused("bytes for a str", "label", b"label", "label", "expected a str"),
    Refused("None where not optional", "label", None, "label", "not Optional"),
    Refused("one character too many", "code", "123456789", "code", "longer than 8 characters"),
    Refused("one non-ASCII character too many", "code", "ééééééééé", "code", "longer than 8 characters"),
    Refused("too long in a value object", "origin.city", "c" * 21, "origin.city", "longer than 20"),
    Refused("too long by the spec", "origin.street", "s" * 41, "origin.street", "longer than 40"),
    Refused("NUL in a value object", "origin.street", "\x00", "origin.street", "NUL"),
    Refused(
        "too long in an optional value object",
        "destination",
        Place("street", "c" * 21),
        "destination.city",
        "longer than 20",
        "c" * 21,
    ),
    # int
    Refused("one beyond the largest int", "count", _INT64_MAX + 1, "count", "64 bits"),
    Refused("one below the smallest int", "count", _INT64_MIN - 1, "count", "64 bits"),
    Refused("a bool for an int", "count", True, "count", "expected an int"),
    Refused("a float for an int", "count", 1.0, "count", "expected an int"),
    Refused("a str for an int", "count", "1", "count", "expected an int"),
    Refused("an int for a bool", "flag", 1, "flag", "expected a bool"),
    # float
    Refused("a NaN float", "ratio", math.nan, "ratio", "NaN"),
    Refused("an infinite float", "ratio", math.inf, "ratio", "Infinity"),
    Refused("a negative infinite float", "ratio", -math.inf, "ratio", "Infinity"),
    Refused("an int beyond the floats", "ratio", 10**400, "ratio", "beyond the range of a float"),
    Refused("a bool for a float", "ratio", False, "ratio", "expected a float"),
    Refused("a Decimal for a float", "ratio", Decimal("1.5"), "ratio", "expected a float"),
    # Decimal
    Refused("a NaN Decimal", "amount", Decimal("NaN"), "amount", "NaN"),
    Refused("a signalling NaN", "amount", Decimal("sNaN"), "amount", "signalling NaN"),
    Refused("an infinite Decimal", "amount", Decimal("Infinity"), "amount", "Infinity"),
    Refused("131073 digits before the point", "amount", Decimal("1E+131072"), "amount", "131072 digits"),
    Refused("16384 digits after the point", "amount", Decimal("1E-16384"), "amount", "16383 digits"),
    Refused(
        "a zero with 16384 digits after the point", "amount", Decimal("0E-16384"), "amount", "16383 digits"
    ),
    Refused("a float for a Decimal", "amount", 1.5, "amount", "expected a Decimal"),
    Refused("an int for a Decimal", "amount", 1, "amount", "expected a Decimal"),
    Refused("a str for a Decimal", "amount", "1.5", "amount", "expected a Decimal"),
    Refused(
        "one digit too many before the point", "price", Decimal("10000000.00"), "price", "7 digits before"
    ),
    Refused("a digit beyond the scale", "price", Decimal("1.555"), "price", "2 digits after the point"),
    Refused("a tiny digit beyond the scale", "price", Decimal("1E-30"), "price", "2 digits after the point"),
    Refused("NaN where not allowed", "price", Decimal("NaN"), "price", "NaN"),
    Refused("a signalling NaN even when allowed", "measure", Decimal("sNaN"), "measure", "signalling NaN"),
    Refused("a float NaN for a Decimal", "measure", math.nan, "measure", "expected a Decimal"),
    # date and datetime
    Refused("a datetime for a date", "day", dt.datetime(2024, 1, 1, tzinfo=_UTC), "day", "not a datetime"),
    Refused("a str for a date", "day", "2024-01-01", "day", "expected a datetime.date"),
    Refused("a naive datetime", "at", dt.datetime(2024, 1, 1), "at", "timezone-aware"),
    Refused("an instant before year 1", "at", dt.datetime(1, 1, 1, tzinfo=_PLUS_ONE), "at", "years 1..9999"),
    Refused(
        "an instant after year 9999",
        "at",
        dt.datetime(9999, 12, 31, 23, tzinfo=_MINUS_ONE),
        "at",
        "years 1..9999",
    ),
    Refused("a date for a datetime", "at", dt.date(2024, 1, 1), "at", "expected an aware datetime"),
    # enums
    Refused("a str enum's value", "shade", "dark", "shade", "pass the member"),
    Refused("another enum's member", "shade", Level.LOW, "shade", "member of Shade"),
    Refused("an int enum's value", "level", 1, "level", "pass the member"),
    Refused("None for an enum", "shade", None, "shade", "not Optional"),
    # value objects
    Refused("None for a value object", "origin", None, "origin", "not Optional"),
    Refused("a str for a value object", "origin", "Lisbon", "origin", "expected a Place"),
    # JSON
    Refused("NUL in JSON", "notes", {"door": "a\x00"}, 'notes["door"]', "NUL", "a\x00"),
    Refused(
        "NUL in a JSON key", "notes", {"do\x00r": "blue"}, 'notes["do\\u0000r"]', "object key", "do\x00r"
    ),
    Refused("a lone surrogate in JSON", "notes", {"door": "\udc00"}, 'notes["door"]', "surrogate", "\udc00"),
    Refused(
        "NUL in a value object in JSON", "parts", (Part("a\x00", 1, 1.0),), "parts[0].sku", "NUL", "a\x00"
    ),
    Refused(
        "NaN in JSON",
        "parts",
        (Part("a", 1, 1.0), Part("b", 2, math.nan)),
        "parts[1].weight",
        "NaN",
        math.nan,
    ),
    Refused(
        "Infinity in JSON", "parts", (Part("a", 1, -math.inf),), "parts[0].weight", "Infinity", -math.inf
    ),
    Refused("None for a JSON column", "notes", None, "notes", "not Optional"),
    Refused("a huge int in JSON", "parts", (Part("big", 10**30, 1.5),), "parts[0].count", "64 bits", 10**30),
    Refused(
        "a float for an int in JSON",
        "parts",
        (Part("a", typing.cast(int, 1.5), 1.0),),
        "parts[0].count",
        "expected an int",
        1.5,
    ),
    Refused("an int for text in JSON", "notes", {"door": 5}, 'notes["door"]', "expected a str", 5),
    Refused("a str for a value object in JSON", "parts", ("x",), "parts[0]", "expected a Part", "x"),
    Refused("a str for a JSON collection", "parts", "ab", "parts", "expected a list or a tuple", "ab"),
    Refused(
        "a NaN Decimal in JSON",
        "parts",
        (Part("a", 1, 1.0, Decimal("NaN")),),
        "parts[0].cost",
        "NaN",
        Decimal("NaN"),
    ),
    Refused(
        "a signalling NaN Decimal in JSON",
        "parts",
        (Part("a", 1, 1.0, Decimal("sNaN")),),
        "parts[0].cost",
        "signalling NaN",
        Decimal("sNaN"),
    ),
    # plain JSON values (ColumnOptions(json=True))
    Refused("NaN in plain JSON", "data", {"x": [math.nan]}, 'data["x"][0]', "NaN", math.nan),
    Refused("NUL in plain JSON", "data", ["a\x00"], "data[0]", "NUL", "a\x00"),
    Refused(
        "a key that is not a str in plain JSON", "data", {"a": {1: "x"}}, 'data["a"][1]', "must be a str", 1
    ),
    Refused("a set in plain JSON", "data", {"s": {1, 2}}, 'data["s"]', "not a JSON value", {1, 2}),
    Refused(
        "a Decimal in plain JSON", "data", [Decimal("1.5")], "data[0]", "not a JSON value", Decimal("1.5")
    ),
    Refused("bytes in plain JSON", "data", b"x", "data", "not a JSON value"),
    Refused(
        "plain JSON nested too deeply", "data", _nested(201), "data", "nest more than 200", "<nested value>"
    ),
    # optional text
    Refused("NUL in optional text", "comment", "\x00", "comment", "NUL"),
)
"""The first values beyond each rule: refused on every adapter, nothing written."""

REFUSED_UPDATES: Final[tuple[Refused, ...]] = tuple(
    case
    for case in REFUSED
    if case.name
    in {
        "NUL in text",
        "too long by the spec",
        "one beyond the largest int",
        "a NaN float",
        "a NaN Decimal",
        "a digit beyond the scale",
        "a naive datetime",
        "a str enum's value",
        "None for a value object",
        "NUL in a value object in JSON",
    }
)
"""One refused case per kind of rule, given to an update (an UPDATE statement, not an INSERT or COPY)."""


def value_at(value: object, path: str) -> Any:
    """The value at the dotted ``path`` of ``value``."""
    for name in path.split("."):
        value = getattr(value, name)
    return value


def specimen_with(path: str, value: object, base: Specimen | None = None) -> Specimen:
    """A new specimen (or ``base``) whose field at the dotted ``path`` holds ``value``, unchecked."""
    specimen = base if base is not None else new_specimen()
    evolve: Callable[..., Any] = attrs.evolve  # the value may be of any type: that is the point
    head, _, rest = path.partition(".")
    if not rest:
        changed: Specimen = evolve(specimen, **{head: value})
        return changed
    if "." in rest:  # pragma: no cover - the cases nest one level
        raise ValueError(f"one level of nesting only, not {path!r}")
    changed = evolve(specimen, **{head: evolve(getattr(specimen, head), **{rest: value})})
    return changed


def value_form(value: object) -> object:
    """A comparable picture of ``value`` that tells apart what ``==`` does not.

    ``Decimal('1E+5')`` and ``Decimal('100000')``, ``-0.0`` and ``0.0``, NaN and NaN (equal
    here), a datetime in UTC and the same instant elsewhere, an int and a float.
    """
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    if isinstance(value, dt.datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    if isinstance(value, enum.Enum):
        return (type(value).__qualname__, value.name)
    if attrs.has(type(value)):
        fields = attrs.fields(typing.cast(Any, type(value)))
        return (type(value).__qualname__, tuple((f.name, value_form(getattr(value, f.name))) for f in fields))
    if isinstance(value, dict):
        entries = typing.cast("dict[object, object]", value)
        return ("dict", tuple(sorted((key, value_form(item)) for key, item in entries.items())))
    if isinstance(value, list | tuple):
        items = typing.cast("list[object] | tuple[object, ...]", value)
        return (type(items).__name__, tuple(value_form(item) for item in items))
    if isinstance(value, uuid.UUID):
        return ("UUID", value.int)
    return (type(value).__qualname__, value)
