"""Column options: what a field declares about the values it holds (length, precision, scale...).

Declare them on the attrs field, ``attrs.field(metadata=column(max_length=100))``, or on the
spec, ``EntitySpec(Order, key="id", columns={"ship_to.street": ColumnOptions(max_length=80)})``
(dotted paths reach into value objects). The value rules (:mod:`hexalchemy.rules`) enforce them
on every adapter, and a table derived from the class uses them for its column types.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, Final

import attrs

from hexalchemy.ports.errors import ConfigError, MappingError

__all__ = ["COLUMN_OPTIONS_KEY", "MAX_PRECISION", "ColumnOptions", "column"]

COLUMN_OPTIONS_KEY: Final = "hexalchemy.column"
"""The key of an attrs field's ``metadata`` under which :func:`column` puts the field's options."""

MAX_PRECISION: Final = 1000
"""The largest declared precision: PostgreSQL's ``NUMERIC(p, s)`` takes ``p`` up to 1000."""


def _positive(option: str) -> Any:
    def check(_: object, __: object, value: int | None) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(option, value, "must be an int >= 1 (or None)")

    return check


def _check_precision(_: object, __: object, value: int | None) -> None:
    _positive("precision")(_, __, value)
    if value is not None and value > MAX_PRECISION:
        raise ConfigError("precision", value, f"must be at most {MAX_PRECISION} (PostgreSQL's NUMERIC limit)")


def _check_scale(options: ColumnOptions, _: object, value: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError("scale", value, "must be an int >= 0 (or None)")
    if options.precision is None:
        raise ConfigError("scale", value, "needs a precision too (NUMERIC(precision, scale))")
    if value > options.precision:
        raise ConfigError("scale", value, f"cannot exceed the precision ({options.precision})")


def _check_flag(_: object, __: object, value: bool) -> None:
    if not isinstance(value, bool):
        raise ConfigError("allow_non_finite", value, "must be a bool")


@attrs.frozen
class ColumnOptions:
    """What one field declares about its values and its column.

    - ``max_length``: a ``str`` field holds at most this many characters (a derived table
      uses ``String(max_length)``);
    - ``precision`` and ``scale``: a ``Decimal`` field holds at most ``precision`` digits, of
      which ``scale`` after the point (``scale`` defaults to 0 when ``precision`` is given;
      a derived table uses ``ExactDecimal(precision, scale)``);
    - ``allow_non_finite``: a ``float`` or ``Decimal`` field also accepts NaN and
      ±Infinity (never a signalling NaN).
    """

    max_length: int | None = attrs.field(default=None, validator=_positive("max_length"), kw_only=True)
    precision: int | None = attrs.field(default=None, validator=_check_precision, kw_only=True)
    scale: int | None = attrs.field(default=None, validator=_check_scale, kw_only=True)
    allow_non_finite: bool = attrs.field(default=False, validator=_check_flag, kw_only=True)

    @property
    def effective_scale(self) -> int | None:
        """The scale in force: ``scale``, 0 when only ``precision`` is given, None without precision."""
        if self.precision is None:
            return None
        return 0 if self.scale is None else self.scale


def column(
    *,
    max_length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    allow_non_finite: bool = False,
) -> dict[str, ColumnOptions]:
    """Return attrs field metadata declaring :class:`ColumnOptions`: ``attrs.field(metadata=column(max_length=100))``."""
    options = ColumnOptions(
        max_length=max_length, precision=precision, scale=scale, allow_non_finite=allow_non_finite
    )
    return {COLUMN_OPTIONS_KEY: options}


def _split_optional(tp: Any) -> Any:
    args = typing.get_args(tp)
    if type(None) in args and len(args) == 2:
        return next(arg for arg in args if arg is not type(None))
    return tp


def _strip_newtype(tp: Any) -> Any:
    while hasattr(tp, "__supertype__"):
        tp = tp.__supertype__
    return tp


def _value_object(tp: Any) -> type[object] | None:
    tp = _strip_newtype(_split_optional(tp))
    return tp if isinstance(tp, type) and attrs.has(tp) else None


def _fields_of(cls: type[object]) -> dict[str, tuple[attrs.Attribute[Any], Any]]:
    from hexalchemy.ports.entity import field_types

    hints = field_types(cls)
    return {field.name: (field, hints[field.name]) for field in attrs.fields(typing.cast(Any, cls))}


def _walk_metadata(
    cls: type[object], prefix: str, found: dict[str, ColumnOptions], seen: tuple[type[object], ...]
) -> None:
    for name, (field, tp) in _fields_of(cls).items():
        path = f"{prefix}{name}"
        options = field.metadata.get(COLUMN_OPTIONS_KEY)
        if options is not None:
            if not isinstance(options, ColumnOptions):
                raise MappingError(cls, f"metadata {COLUMN_OPTIONS_KEY!r} must be ColumnOptions", field=path)
            found[path] = options
        inner = _value_object(tp)
        if inner is not None and inner not in seen:
            _walk_metadata(inner, f"{path}.", found, (*seen, inner))


def _check_path(root: type[object], path: str) -> None:
    cls: type[object] | None = root
    for part in path.split("."):
        fields = _fields_of(cls) if cls is not None else {}
        if part not in fields:
            raise MappingError(root, "the columns name a field the class does not have", field=path)
        cls = _value_object(fields[part][1])


def _declared_options(
    cls: type[object], columns: Mapping[str, ColumnOptions] | None
) -> dict[str, ColumnOptions]:
    """Every field's declared :class:`ColumnOptions`, by dotted path: attrs metadata and ``columns`` merged.

    Raise :class:`MappingError` for a path that names no field, a value that is not
    ``ColumnOptions``, or a field declared in both places.
    """
    found: dict[str, ColumnOptions] = {}
    _walk_metadata(cls, "", found, (cls,))
    for path, options in (columns or {}).items():
        if not isinstance(path, str):
            raise MappingError(cls, f"the columns are keyed by dotted field paths, not {path!r}")
        _check_path(cls, path)
        if not isinstance(options, ColumnOptions):
            raise MappingError(cls, f"expected ColumnOptions, got {options!r}", field=path)
        if path in found:
            raise MappingError(
                cls,
                "the column options are declared both on the attrs field and in EntitySpec(columns=...); "
                "keep one",
                field=path,
            )
        found[path] = options
    return found
