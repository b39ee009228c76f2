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
from decimal import Decimal
from typing import Any, Final, TypeAlias

import attrs

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
      rows); a value of the field's type that the field's rule accepts, not SQL (an
      expression such as ``now()`` belongs on a ``Table`` you write, or in a migration:
      it is a ``MappingError`` here). The repositories always write every column;
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
