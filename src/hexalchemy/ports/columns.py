"""Column options: what a field declares about the values it holds (length, precision, scale...).

Declare them on the attrs field, ``attrs.field(metadata=column(max_length=100))``, or on the
spec, ``EntitySpec(Order, key="id", columns={"ship_to.street": ColumnOptions(max_length=80)})``
(dotted paths reach into value objects). The value rules (:mod:`hexalchemy.rules`) enforce them
on every adapter, and a table derived from the class uses them for its column types.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, TypeAlias

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports.errors import MappingError

__all__ = [
    "COLUMN_OPTIONS_KEY",
    "ColumnOptions",
    "DefaultValue",
    "column",
    "split_optional",
    "strip_newtype",
]

COLUMN_OPTIONS_KEY: Final = "hexalchemy.column"
"""The key of an attrs field's ``metadata`` under which :func:`column` puts the field's options."""

DefaultValue: TypeAlias = str | int | float | Decimal | uuid.UUID | dt.date | enum.Enum
"""What a ``server_default`` may be: a value of the field's scalar type (``bool`` is an ``int``, ``datetime`` a ``date``)."""


@attrs.frozen
class ColumnOptions:
    """What one field declares about its values and its column.

    - ``max_length``: a ``str`` field holds at most this many characters (a derived table
      uses ``String(max_length)``);
    - ``precision`` and ``scale``: a ``Decimal`` field holds at most ``precision`` digits, of
      which ``scale`` after the point (``scale`` is 0 when only ``precision`` is given; a
      derived table uses ``ExactDecimal(precision, scale)``);
    - ``allow_non_finite``: a ``float`` or ``Decimal`` field also accepts NaN and
      ±Infinity (never a signalling NaN);
    - ``json``: the field holds a JSON value as it is (``None``, ``bool``, ``int``, ``float``,
      ``str``, and lists and str-keyed mappings of them), whatever its annotation says (a
      union alias such as ``JsonValue``): it is checked by the JSON rule, stored in a JSON
      column and read back as the database's JSON decoding gives it (lists and dicts).
      ``None`` is accepted when the annotation includes it.
    - ``bits``: an ``int`` field holds a signed integer of at most 16, 32 or 64 bits (64
      by default; a derived table uses ``SmallInteger``, ``Integer`` or ``BigInteger``). A
      hand-written ``Integer`` column needs ``bits=32``, a ``SmallInteger`` one ``bits=16``.

    What a derived table makes of the field's column (on a ``Table`` you wrote, declare
    these on the table itself; only ``name`` and ``unique`` apply there, see below):

    - ``name``: the column's name (by default the field's name, or ``ship_to_street`` for
      the field ``street`` of the value object ``ship_to``); on a ``Table`` you wrote, the
      column the field maps to;
    - ``index``: an index on the column (named ``<table>_<column>_idx``);
    - ``unique``: a unique constraint on the column (``<table>_<column>_key``): every
      adapter, the in-memory one included, refuses a second aggregate holding the same
      value (NULLs never collide) with :class:`ConstraintViolationError`. On a ``Table``
      you wrote, the table must have that unique constraint (or a unique index). For a
      constraint over several fields, use ``EntitySpec(unique=[("customer", "number")])``;
    - ``server_default``: the value the database gives the column when an ``INSERT`` leaves
      it out (a migration adding a column to a table holding rows, another program's
      rows); a value of the field's type that the field's rule accepts. The repositories
      always write every column;
    - ``comment``: the column's comment in the database's catalogue (not kept by SQLite).

    The value rules (:func:`hexalchemy.rules.rule_for`) check the options when a mapping or
    an in-memory repository is built: an option out of range, or one that cannot apply to
    the field's type, is a :class:`MappingError` naming the field.
    """

    max_length: int | None = attrs.field(default=None, kw_only=True)
    precision: int | None = attrs.field(default=None, kw_only=True)
    scale: int | None = attrs.field(default=None, kw_only=True)
    allow_non_finite: bool = attrs.field(default=False, kw_only=True)
    json: bool = attrs.field(default=False, kw_only=True)
    bits: int | None = attrs.field(default=None, kw_only=True)
    name: str | None = attrs.field(default=None, kw_only=True)
    index: bool = attrs.field(default=False, kw_only=True)
    unique: bool = attrs.field(default=False, kw_only=True)
    server_default: DefaultValue | None = attrs.field(default=None, kw_only=True)
    comment: str | None = attrs.field(default=None, kw_only=True)


def column(
    *,
    max_length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    allow_non_finite: bool = False,
    json: bool = False,
    bits: int | None = None,
    name: str | None = None,
    index: bool = False,
    unique: bool = False,
    server_default: DefaultValue | None = None,
    comment: str | None = None,
) -> dict[str, ColumnOptions]:
    """Return attrs field metadata declaring :class:`ColumnOptions`: ``attrs.field(metadata=column(max_length=100))``."""
    options = ColumnOptions(
        max_length=max_length,
        precision=precision,
        scale=scale,
        allow_non_finite=allow_non_finite,
        json=json,
        bits=bits,
        name=name,
        index=index,
        unique=unique,
        server_default=server_default,
        comment=comment,
    )
    return {COLUMN_OPTIONS_KEY: options}


def split_optional(tp: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None`` (or ``Optional[X]``); ``(tp, False)`` for anything else."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0], True
    return tp, False


def strip_newtype(tp: Any) -> Any:
    """The base type of a ``typing.NewType`` (of a NewType of a NewType...); ``tp`` itself otherwise."""
    while hasattr(tp, "__supertype__"):
        tp = tp.__supertype__
    return tp


def _value_object(tp: Any) -> type[object] | None:
    tp = strip_newtype(split_optional(tp)[0])
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


def _declared_options(  # pyright: ignore[reportUnusedFunction] - EntitySpec calls it
    cls: type[object], columns: Mapping[str, ColumnOptions] | None
) -> dict[str, ColumnOptions]:
    """Every field's declared :class:`ColumnOptions`, by dotted path: attrs metadata and ``columns`` merged.

    Raise :class:`MappingError` for a path that names no field, a value that is not
    ``ColumnOptions``, or a field declared in both places.
    """
    found: dict[str, ColumnOptions] = {}
    _walk_metadata(cls, "", found, (cls,))
    for path, options in (columns or {}).items():
        if not is_instance(path, str):
            raise MappingError(cls, f"the columns are keyed by dotted field paths, not {path!r}")
        _check_path(cls, path)
        if not is_instance(options, ColumnOptions):
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


def _field_type(root: type[object], path: str) -> Any:
    """The declared type of the field at dotted ``path`` (``_check_path`` has passed)."""
    cls: type[object] | None = root
    tp: Any = None
    for part in path.split("."):
        assert cls is not None  # _check_path has passed: each part but the last is a value object
        tp = _fields_of(cls)[part][1]
        cls = _value_object(tp)
    return tp


def _field_paths(fields: object) -> tuple[str, ...] | None:
    """``fields`` as a tuple of paths when it is a non-empty tuple or list of str; None otherwise."""
    if not isinstance(fields, tuple | list):
        return None
    items = typing.cast(tuple[object, ...] | list[object], fields)
    paths = tuple(item for item in items if isinstance(item, str))
    return paths if paths and len(paths) == len(items) else None


def _column_sets(  # pyright: ignore[reportUnusedFunction] - EntitySpec calls it
    cls: type[object],
    option: str,
    declared: object,
    options: Mapping[str, ColumnOptions],
    flag: str,
) -> tuple[tuple[str, ...], ...]:
    """The field sets of ``EntitySpec(indexes=...)`` or ``(unique=...)``, then the fields whose options set ``flag``.

    Each set names one or more stored scalar fields by dotted path (a str is a set of one);
    ``MappingError`` for anything else: a path naming no field, a value object, a collection
    or a JSON field, a field named twice in a set, a set declared twice.
    """
    if isinstance(declared, str) or not isinstance(declared, typing.Iterable):
        raise MappingError(
            cls,
            f"the {option} must be a list of field sets (a tuple of dotted field paths), not {declared!r}",
        )
    sets: list[tuple[str, ...]] = []
    for item in typing.cast(typing.Iterable[object], declared):
        fields: object = (item,) if isinstance(item, str) else item
        paths = _field_paths(fields)
        if paths is None:
            raise MappingError(
                cls, f"each of the {option} is a field path or a non-empty tuple of them, not {item!r}"
            )
        for path in paths:
            _check_path(cls, path)
        if len(set(paths)) != len(paths):
            raise MappingError(cls, f"the {option} name a field twice in {paths!r}", field=paths[0])
        sets.append(paths)
    sets.extend((path,) for path, _declared_options in options.items() if getattr(_declared_options, flag))
    for paths in sets:
        for path in paths:
            tp = strip_newtype(split_optional(_field_type(cls, path))[0])
            field_options = options.get(path)
            if (
                _value_object(tp) is not None
                or typing.get_origin(tp) is not None
                or (field_options is not None and field_options.json)
            ):
                raise MappingError(
                    cls,
                    f"the {option} name a field not stored in a column of its own (a value object, "
                    "a collection or a JSON value): name the fields of a value object",
                    field=path,
                )
    if len(set(sets)) != len(sets):
        twice = next(paths for paths in sets if sets.count(paths) > 1)
        raise MappingError(cls, f"the {option} declare {twice!r} twice", field=twice[0])
    return tuple(sets)
