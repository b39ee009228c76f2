"""The value domain: for each supported field type, which values it accepts and the form a value is stored in.

The default domain is what every shipped database stores faithfully: text without NUL or
lone surrogates, 64-bit ints, finite floats and decimals within PostgreSQL ``NUMERIC``'s
limits, aware datetimes whose UTC value falls within years 1..9999. Each rule is written
here once; the SQL mapping binds the rules into its generated ``to_row`` and the in-memory
repository calls them, so every adapter accepts and refuses the same values and stores the
same normalised form.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import typing
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, NoReturn

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import ColumnOptions, InvalidArgumentError, InvalidValueError, MappingError
from hexalchemy.rules.text import text_problem

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DIGITS_AFTER_POINT",
    "MAX_DIGITS_BEFORE_POINT",
    "MAX_PRECISION",
    "RefusedValueError",
    "ValueRule",
    "bind_rule",
    "declared_scale",
    "rule_for",
    "stored_server_default",
    "value_object_rule",
]

INT64_MIN: Final = -(2**63)
"""The smallest int an ``int`` field accepts (a signed 64-bit ``BIGINT``)."""

INT64_MAX: Final = 2**63 - 1
"""The largest int an ``int`` field accepts."""

MAX_DIGITS_BEFORE_POINT: Final = 131072
"""A ``Decimal`` with no declared precision has at most this many digits before the point (PostgreSQL ``NUMERIC``)."""

MAX_DIGITS_AFTER_POINT: Final = 16383
"""... and at most this many after it."""

MAX_PRECISION: Final = 1000
"""The largest precision a ``Decimal`` field may declare (PostgreSQL's ``NUMERIC(p, s)`` takes ``p`` up to 1000)."""

_NOT_OPTIONAL: Final = "None is refused: the field's type is not Optional (X | None)"


class RefusedValueError(Exception):
    """Raised by :attr:`ValueRule.normalize`: the value breaks the rule ``reason``.

    ``value`` is the value refused; ``at`` the path to it inside the field's value (``[0].sku``
    in a JSON column), empty when it is the field's value itself.
    """

    def __init__(self, reason: str, value: object, at: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value
        self.at = at


@attrs.frozen
class ValueRule:
    """The rule of one field: what it accepts, and the form each accepted value is stored in.

    ``normalize(value)`` returns the value to store or raises :class:`RefusedValueError`.
    ``quick``, when given, is a Python expression over ``{value}`` and the names of
    ``names`` (written ``{name}``) that is true only for values already in stored form
    (``normalize`` would return them unchanged): generated code tests it inline and calls
    ``normalize`` only when it is false, so the common value costs no call. It may name a
    local ``{value}_text``.
    """

    name: str
    normalize: Callable[[Any], Any]
    quick: str | None = None
    names: Mapping[str, object] = attrs.field(factory=dict[str, object])

    def quick_source(self, value: str, suffix: str) -> tuple[str, dict[str, object]] | None:
        """:attr:`quick` written for the variable ``value``, its names suffixed; and the globals it needs."""
        if self.quick is None:
            return None
        renamed = {name: f"{name}_{suffix}" for name in self.names}
        source = self.quick.format(value=value, **renamed)
        return source, {renamed[name]: bound for name, bound in self.names.items()}


def bind_rule(rule: ValueRule, entity_type: type[object], field: str) -> Callable[[Any], Any]:
    """Return ``value -> stored value`` for ``field`` of ``entity_type``, raising :class:`InvalidValueError` instead of :class:`RefusedValueError`."""
    if not is_instance(rule, ValueRule):
        raise InvalidArgumentError("rule", rule, "must be a ValueRule")
    normalize = rule.normalize

    def check(value: Any) -> Any:
        try:
            return normalize(value)
        except RefusedValueError as refused:
            raise InvalidValueError(
                entity_type, f"{field}{refused.at}", refused.value, refused.reason
            ) from None

    return check


def _refuse_type(expected: str, value: object) -> NoReturn:
    if value is None:
        raise RefusedValueError(_NOT_OPTIONAL, value)
    raise RefusedValueError(f"expected {expected}, not {type(value).__qualname__}", value)


def _optional(rule: ValueRule) -> ValueRule:
    """``rule`` that also accepts None."""
    inner = rule.normalize

    def normalize(value: Any) -> Any:
        return None if value is None else inner(value)

    quick = None if rule.quick is None else f"{{value}} is None or ({rule.quick})"
    return ValueRule(f"{rule.name} | None", normalize, quick, rule.names)


# -- text ----------------------------------------------------------------------------------------


def _text_rule(max_length: int | None) -> ValueRule:
    def normalize(given: object) -> str:
        if not isinstance(given, str):
            _refuse_type("a str", given)
        value = given if type(given) is str else str.__str__(given)
        problem = text_problem(value)
        if problem is not None:
            raise RefusedValueError(problem, value)
        if max_length is not None and len(value) > max_length:
            raise RefusedValueError(
                f"longer than {max_length} characters ({len(value)}; ColumnOptions(max_length={max_length}))",
                value,
            )
        return value

    quick = 'type({value}) is str and {value}.isascii() and "\\x00" not in {value}'
    if max_length is not None:
        quick += f" and len({{value}}) <= {max_length}"
    name = "str" if max_length is None else f"str (at most {max_length} characters)"
    return ValueRule(name, normalize, quick)


# -- numbers ---------------------------------------------------------------------------------------


def _int_rule(bits: int) -> ValueRule:
    lowest, highest = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def normalize(given: object) -> int:
        if isinstance(given, bool) or not isinstance(given, int):
            _refuse_type("an int", given)
        value = given if type(given) is int else int(given)
        if not lowest <= value <= highest:
            raise RefusedValueError(
                f"an int must fit in {bits} bits (-2**{bits - 1} .. 2**{bits - 1}-1)", value
            )
        return value

    return ValueRule(
        f"int ({bits} bits)", normalize, f"type({{value}}) is int and {lowest} <= {{value}} <= {highest}"
    )


_INT_RULES: Final = {bits: _int_rule(bits) for bits in (16, 32, 64)}
_INT_RULE: Final = _INT_RULES[64]


def _normalize_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    _refuse_type("a bool", value)


_BOOL_RULE: Final = ValueRule("bool", _normalize_bool, "{value} is True or {value} is False")


def _float_rule(allow_non_finite: bool) -> ValueRule:
    def normalize(value: Any) -> float:
        if type(value) is not float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                _refuse_type("a float (or an int)", value)
            try:
                value = float(value)
            except OverflowError:
                raise RefusedValueError("the int is beyond the range of a float", value) from None
        if not allow_non_finite and value - value != 0.0:
            raise RefusedValueError(
                "NaN and ±Infinity are refused (ColumnOptions(allow_non_finite=True) accepts them)", value
            )
        # -0.0 is stored as 0.0: SQLite keeps no negative zero.
        return typing.cast(float, value) or 0.0

    # A zero takes the call: only there can the sign change.
    if allow_non_finite:
        return ValueRule(
            "float (NaN and ±Infinity accepted)", normalize, "type({value}) is float and {value}"
        )
    return ValueRule(
        "float (finite)", normalize, "type({value}) is float and {value} - {value} == 0.0 and {value}"
    )


# The arithmetic that puts a finite Decimal in stored form: ``value + 0`` writes a positive
# exponent out (1E+5 -> 100000) and turns -0 into 0, keeping the exponent (-0.00 -> 0.00).
# With Emin 0 and 16384 digits, Etiny is -16383: a value with more digits after the point
# (or more than 16384 digits in all) signals Rounded (a zero: Clamped), and one beyond Emax
# Overflow; all are trapped, and decided exactly by the slow path. The contexts are never mutated but for
# their sticky flags, which nothing reads.
_ZERO: Final = Decimal(0)
_FAST: Final = decimal.Context(
    prec=16384,
    Emin=0,
    Emax=MAX_DIGITS_BEFORE_POINT - 1,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.Rounded, decimal.Clamped, decimal.Overflow, decimal.InvalidOperation],
)
_EXACT: Final = decimal.Context(
    prec=MAX_DIGITS_BEFORE_POINT + MAX_DIGITS_AFTER_POINT + 1,
    Emin=decimal.MIN_EMIN,
    Emax=decimal.MAX_EMAX,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow],
)
_QUANTIZE: Final = decimal.Context(
    prec=1024,
    Emin=decimal.MIN_EMIN,
    Emax=decimal.MAX_EMAX,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.Inexact, decimal.InvalidOperation],
)
_NAN: Final = Decimal("NaN")


def _beyond_numeric(value: Decimal) -> NoReturn:
    exponent = value.as_tuple().exponent
    if value.adjusted() >= MAX_DIGITS_BEFORE_POINT:
        raise RefusedValueError(
            f"more than {MAX_DIGITS_BEFORE_POINT} digits before the point (PostgreSQL NUMERIC's limit)", value
        )
    if isinstance(exponent, int) and -exponent > MAX_DIGITS_AFTER_POINT:
        raise RefusedValueError(
            f"more than {MAX_DIGITS_AFTER_POINT} digits after the point (PostgreSQL NUMERIC's limit)", value
        )
    raise AssertionError(f"{value!r} is within NUMERIC's limits")  # pragma: no cover - see _normalize_free


def _non_finite(value: Decimal, allow: bool, bounded: bool) -> Decimal:
    if value.is_snan():
        raise RefusedValueError("a signalling NaN is never stored", value)
    if not allow:
        raise RefusedValueError(
            "NaN and ±Infinity are refused (ColumnOptions(allow_non_finite=True) accepts them)", value
        )
    if value.is_nan():
        return _NAN  # PostgreSQL keeps neither the sign nor the payload of a NaN
    if bounded:
        raise RefusedValueError("±Infinity does not fit a declared precision", value)
    return value


def _decimal_rule(precision: int | None, scale: int | None, allow_non_finite: bool) -> ValueRule:
    def exact(value: Any) -> Decimal:
        if type(value) is not Decimal:
            if not isinstance(value, Decimal):
                _refuse_type("a Decimal", value)
            value = Decimal(value)
        return typing.cast(Decimal, value)

    if precision is None:

        def normalize(value: Any) -> Decimal:
            value = exact(value)
            if not value.is_finite():
                return _non_finite(value, allow_non_finite, False)
            try:
                return _FAST.add(value, _ZERO)
            except (decimal.Rounded, decimal.Clamped, decimal.Overflow):
                pass
            if value.adjusted() >= MAX_DIGITS_BEFORE_POINT:
                _beyond_numeric(value)
            try:
                result = _EXACT.add(value, _ZERO)
            except decimal.DecimalException:  # pragma: no cover - _EXACT holds every NUMERIC
                _beyond_numeric(value)
            exponent = result.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > MAX_DIGITS_AFTER_POINT:
                _beyond_numeric(value)
            return result

        # Quick: plain notation (no "E": the exponent is <= 0), fewer than 16384 characters
        # (so within NUMERIC's digits), and not a negative zero.
        quick = (
            "type({value}) is {Decimal} and {value}.is_finite() and len({value}_text := str({value})) < 16384 "
            'and "E" not in {value}_text and ({value} or {value}_text[0] != "-")'
        )
        name = "Decimal (finite)" if not allow_non_finite else "Decimal"
        return ValueRule(name, normalize, quick, {"Decimal": Decimal})

    places = scale or 0
    integer_digits = precision - places
    quantum = Decimal(1).scaleb(-places)
    zero = Decimal(0).scaleb(-places)

    def normalize_declared(value: Any) -> Decimal:
        value = exact(value)
        if not value.is_finite():
            return _non_finite(value, allow_non_finite, True)
        if value and value.adjusted() >= integer_digits:
            raise RefusedValueError(
                f"more than {integer_digits} digits before the point "
                f"(ColumnOptions(precision={precision}, scale={places}))",
                value,
            )
        try:
            result = _QUANTIZE.quantize(value, quantum)
        except decimal.DecimalException:
            raise RefusedValueError(
                f"more than {places} digits after the point (ColumnOptions(scale={places}); "
                "hexalchemy never rounds)",
                value,
            ) from None
        return result if result else zero

    # Quick: plain notation with exactly ``places`` digits after the point, within the
    # precision, and not a negative zero.
    if places:
        # find() is -1 without a point: the length check must not match it (-1 is "12" for places=2)
        digits_after = f'{{value}}_text.find(".") == len({{value}}_text) - {places + 1} > 0'
    else:
        digits_after = '{value}.is_finite() and "." not in {value}_text'
    quick = (
        f'type({{value}}) is {{Decimal}} and "E" not in ({{value}}_text := str({{value}})) and {digits_after} '
        'and -{limit} < {value} < {limit} and ({value} or {value}_text[0] != "-")'
    )
    names = {"Decimal": Decimal, "limit": Decimal(10) ** integer_digits}
    return ValueRule(f"Decimal({precision}, {places})", normalize_declared, quick, names)


# -- the others --------------------------------------------------------------------------------------


def _normalize_uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value if type(value) is uuid.UUID else uuid.UUID(int=value.int)
    if isinstance(value, str):
        raise RefusedValueError("expected a uuid.UUID, not a str (parse it with uuid.UUID(text))", value)
    _refuse_type("a uuid.UUID", value)


_UUID_RULE: Final = ValueRule("uuid.UUID", _normalize_uuid, "type({value}) is {UUID}", {"UUID": uuid.UUID})


def _normalize_date(value: object) -> dt.date:
    if type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        raise RefusedValueError("expected a date, not a datetime (call .date() on it)", value)
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    _refuse_type("a datetime.date", value)


_DATE_RULE: Final = ValueRule("datetime.date", _normalize_date, "type({value}) is {date}", {"date": dt.date})


def _normalize_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        _refuse_type("an aware datetime.datetime", value)
    if value.tzinfo is dt.UTC and type(value) is dt.datetime:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise RefusedValueError("datetimes must be timezone-aware", value)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise RefusedValueError("its UTC value must fall within years 1..9999", value) from None


_DATETIME_RULE: Final = ValueRule(
    "aware datetime (stored in UTC)",
    _normalize_datetime,
    # already in UTC (a datetime in UTC is within years 1..9999 by construction): stored as it is
    "type({value}) is {DT} and {value}.tzinfo is {UTC}",
    {"DT": dt.datetime, "UTC": dt.UTC},
)


def _enum_rule(cls: type[enum.Enum]) -> ValueRule:
    def normalize(value: Any) -> enum.Enum:
        if isinstance(value, cls):
            return value
        if value is None:
            raise RefusedValueError(_NOT_OPTIONAL, value)
        member = next((member for member in cls if member.value == value), None)
        hint = f" (it is the value of {member}: pass the member)" if member is not None else ""
        raise RefusedValueError(f"expected a member of {cls.__qualname__}{hint}", value)

    return ValueRule(cls.__qualname__, normalize, "type({value}) is {E}", {"E": cls})


def value_object_rule(cls: type[object], *, optional: bool) -> ValueRule:
    """The rule of a nested attrs value object: an instance of ``cls`` (or None when optional); it is returned as is."""
    if not is_instance(cls, type):
        raise InvalidArgumentError("cls", cls, "must be a class")

    def normalize(value: Any) -> Any:
        if isinstance(value, cls) or (optional and value is None):
            return value
        _refuse_type(f"a {cls.__qualname__}", value)

    if optional:
        return ValueRule(
            f"{cls.__qualname__} | None", normalize, "{value} is None or type({value}) is {C}", {"C": cls}
        )
    return ValueRule(cls.__qualname__, normalize, "type({value}) is {C}", {"C": cls})


def _normalize_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    _refuse_type("bytes", value)


_BYTES_RULE: Final = ValueRule("bytes", _normalize_bytes, "type({value}) is bytes")


# -- choosing the rule of a field ---------------------------------------------------------------------

_SCALARS: Final[dict[object, ValueRule]] = {
    int: _INT_RULE,
    bool: _BOOL_RULE,
    uuid.UUID: _UUID_RULE,
    dt.date: _DATE_RULE,
    dt.datetime: _DATETIME_RULE,
    bytes: _BYTES_RULE,
}


def declared_scale(options: ColumnOptions) -> int | None:
    """The scale a ``Decimal`` field's options declare: ``scale``, 0 when only ``precision`` is given, None without precision."""
    if not is_instance(options, ColumnOptions):
        raise InvalidArgumentError("options", options, "must be a ColumnOptions")
    if options.precision is None:
        return None
    return 0 if options.scale is None else options.scale


def _option_problem(options: ColumnOptions) -> str | None:
    """What is wrong with the options' own values, or None."""

    def whole(value: object, lowest: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= lowest

    if options.max_length is not None and not whole(options.max_length, 1):
        return f"max_length={options.max_length!r}: must be an int >= 1"
    if options.precision is not None and not (
        whole(options.precision, 1) and options.precision <= MAX_PRECISION
    ):
        return f"precision={options.precision!r}: must be an int from 1 to {MAX_PRECISION} (PostgreSQL's NUMERIC)"
    if options.scale is not None:
        if options.precision is None:
            return f"scale={options.scale!r} needs a precision too (NUMERIC(precision, scale))"
        if not whole(options.scale, 0) or options.scale > options.precision:
            return f"scale={options.scale!r}: must be an int from 0 to the precision ({options.precision})"
    if options.bits is not None and options.bits not in _INT_RULES:
        return f"bits={options.bits!r}: must be 16, 32 or 64"
    flag: object = options.allow_non_finite  # typed bool, but given at run time
    if not is_instance(flag, bool):
        return f"allow_non_finite={flag!r}: must be a bool"
    for flag_name in ("json", "index", "unique"):
        flag = getattr(options, flag_name)
        if not isinstance(flag, bool):
            return f"{flag_name}={flag!r}: must be a bool"
    for text_name in ("name", "comment"):
        text: object = getattr(options, text_name)
        if text is None:
            continue
        if not isinstance(text, str) or not text:
            return f"{text_name}={text!r}: must be a non-empty str or None"
        problem = text_problem(text)
        if problem is not None:
            return f"{text_name}={text!r}: {problem}"
    return None


def _check_options(
    entity_type: type[object], field: str, python_type: Any, options: ColumnOptions, allowed: set[str]
) -> None:
    problem = _option_problem(options)
    if problem is not None:
        raise MappingError(entity_type, problem, field=field)
    given = {
        "max_length": options.max_length is not None,
        "precision": options.precision is not None,
        "scale": options.scale is not None,
        "allow_non_finite": options.allow_non_finite,
        "json": options.json,
        "bits": options.bits is not None,
        "server_default": options.server_default is not None,
    }
    wrong = sorted(name for name, set_ in given.items() if set_ and name not in allowed)
    if wrong:
        type_name = getattr(python_type, "__qualname__", repr(python_type))
        raise MappingError(
            entity_type,
            f"{', '.join(wrong)} cannot apply to a field of type {type_name} "
            "(max_length: str; precision and scale: Decimal; allow_non_finite: float and Decimal; "
            "bits: int; json: a field stored as a JSON value; server_default: a field of a scalar type "
            "but bytes)",
            field=field,
        )


def rule_for(
    entity_type: type[object],
    field: str,
    python_type: Any,
    options: ColumnOptions | None,
    *,
    optional: bool,
) -> ValueRule | None:
    """The rule of a field of ``python_type`` (Optional and NewType already removed), or None for a type outside the scalars.

    The scalar types are ``str``, ``int``, ``bool``, ``float``, ``Decimal``, ``uuid.UUID``,
    ``datetime.date``, ``datetime.datetime``, ``bytes`` (a ``bytearray`` or ``memoryview`` is
    stored as ``bytes``) and enums (collections take
    :func:`~hexalchemy.rules.json_rule`; a field declared ``json=True`` takes
    :func:`~hexalchemy.rules.json_value_rule`, None
    allowed when ``python_type`` is a union holding it). ``options`` are the field's declared
    :class:`~hexalchemy.ports.ColumnOptions`; options that cannot apply to the type (any
    option, for a type outside the scalars) raise :class:`MappingError` naming
    ``entity_type`` and ``field``.
    """
    if options is not None and not is_instance(options, ColumnOptions):
        raise InvalidArgumentError("options", options, "must be a ColumnOptions or None")
    try:
        hash(python_type)
    except TypeError:
        raise InvalidArgumentError("python_type", python_type, "must be a type") from None
    options = options or ColumnOptions()
    rule: ValueRule | None
    if options.json is True:
        _check_options(entity_type, field, python_type, options, {"json"})
        from hexalchemy.rules.json_columns import json_value_rule  # imports this module

        return json_value_rule(optional=optional or type(None) in typing.get_args(python_type))
    if isinstance(python_type, type) and issubclass(python_type, enum.Enum):
        _check_options(entity_type, field, python_type, options, {"server_default"})
        rule = _enum_rule(python_type)
    elif python_type is str:
        _check_options(entity_type, field, python_type, options, {"max_length", "server_default"})
        rule = _text_rule(options.max_length)
    elif python_type is float:
        _check_options(entity_type, field, python_type, options, {"allow_non_finite", "server_default"})
        rule = _float_rule(options.allow_non_finite)
    elif python_type is Decimal:
        _check_options(
            entity_type,
            field,
            python_type,
            options,
            {"precision", "scale", "allow_non_finite", "server_default"},
        )
        rule = _decimal_rule(options.precision, options.scale, options.allow_non_finite)
    elif python_type is int:
        _check_options(entity_type, field, python_type, options, {"bits", "server_default"})
        rule = _INT_RULES[options.bits or 64]
    elif python_type in _SCALARS:
        # bytes: no literal that every database reads back the same
        _check_options(
            entity_type, field, python_type, options, set() if python_type is bytes else {"server_default"}
        )
        rule = _SCALARS[python_type]
    else:
        _check_options(entity_type, field, python_type, options, set())
        return None
    if options.server_default is not None:
        stored_server_default(entity_type, field, rule, options)
    return _optional(rule) if optional else rule


def stored_server_default(
    entity_type: type[object], field: str, rule: ValueRule, options: ColumnOptions
) -> object:
    """The stored form of ``options.server_default`` by the field's ``rule`` (an enum: its value); None without one.

    A default the rule refuses is a :class:`MappingError` naming ``entity_type`` and ``field``.
    """
    given: dict[str, object] = {"rule": rule, "options": options, "entity_type": entity_type, "field": field}
    for name, kind, what in (
        ("rule", ValueRule, "a ValueRule"),
        ("options", ColumnOptions, "a ColumnOptions"),
        ("entity_type", type, "a class"),
        ("field", str, "a field path (a str)"),
    ):
        if not isinstance(given[name], kind):
            raise InvalidArgumentError(name, given[name], f"must be {what}")
    value = options.server_default
    if value is None:
        return None
    try:
        stored = rule.normalize(value)
    except RefusedValueError as refused:
        reason = refused.reason
        if type(value).__module__.partition(".")[0] == "sqlalchemy" or (
            isinstance(value, str) and value.endswith(")")
        ):
            reason += (
                "; server_default takes a value of the field's type, not SQL (an expression such as "
                "now() belongs on a Table you write, or in a migration)"
            )
        raise MappingError(entity_type, f"server_default={value!r}: {reason}", field=field) from None
    return stored.value if isinstance(stored, enum.Enum) else stored
