"""The rules of what a column stores, from its SQLAlchemy type: what a registered type's hook must return.

Used by a mapping's generated ``to_row`` (:mod:`hexalchemy.sqlalchemy.mapping`) and by
``Schema.type_rules``, the rules the in-memory repository holds registered types to, so the
two cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import cattrs
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, String, Uuid
from sqlalchemy.types import TypeDecorator, TypeEngine

from hexalchemy.ports import ColumnOptions
from hexalchemy.rules import RefusedValueError, ValueRule, json_problem, json_suspect, rule_for
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = ["STORAGE_KINDS", "column_impl", "registered_type_rule", "storage_rule"]


def column_impl(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type a ``TypeDecorator`` stores as (the type itself otherwise)."""
    return column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type


def registered_type_rule(
    python_type: Any, column_type: TypeEngine[Any], converter: cattrs.Converter
) -> ValueRule:
    """The rule a field of a registered type is held to, for an adapter without a table (``Schema.type_rules``).

    What a mapping's ``to_row`` does to such a value, as one rule: the converter's unstructure
    hook (what it raises is a refusal), then the rule of ``column_type`` (its length,
    precision and scale, 64-bit ints, no NUL...) or, for a JSON column, the JSON rule; the
    value is then read back as a database gives it back: structured from what was stored.
    """
    unstructure = converter.get_unstructure_hook(python_type)
    storage = storage_rule(column_type)
    name = getattr(python_type, "__qualname__", None) or repr(python_type)

    def normalize(value: Any) -> Any:
        if value is None:
            raise RefusedValueError("None is refused: the field's type is not Optional (X | None)", value)
        try:
            stored = unstructure(value)
        except Exception as exc:  # a user's hook: anything it raises is about this value
            raise RefusedValueError(
                f"the converter cannot unstructure it ({type(exc).__name__}: {exc})", value
            ) from exc
        if storage is not None:
            stored = storage.normalize(stored)
        elif json_suspect(stored):
            problem = json_problem(value) or json_problem(stored)
            if problem is not None:
                raise RefusedValueError(problem.reason, problem.value, problem.at)
        try:
            return converter.structure(stored, python_type)
        except Exception as exc:  # a user's hook: anything it raises is about this value
            raise RefusedValueError(
                f"the converter cannot structure what it stored ({type(exc).__name__}: {exc})", value
            ) from exc

    return ValueRule(f"{name} (registered)", normalize)


def storage_rule(column_type: TypeEngine[Any] | None) -> ValueRule | None:
    """The value rule of what a registered type unstructures to, from its column's type; None for JSON.

    A registered type's hook returns what the column stores (an int for an integer column,
    a Decimal for a numeric one...): it is held to the rule a field of that type would have,
    with the column's length or precision and scale.
    """
    if isinstance(column_type, UtcDateTime | DateTime):
        return rule_for(object, "", dt.datetime, None, optional=True)
    if column_type is None:
        return None
    stored = column_impl(column_type)
    python_type = next((found for kind, found in STORAGE_KINDS if isinstance(stored, kind)), None)
    if python_type is None:  # JSON, or a type hexalchemy does not know: the JSON rule
        return None
    options = None
    if isinstance(stored, String) and stored.length:
        options = ColumnOptions(max_length=stored.length)
    elif isinstance(stored, Numeric) and not isinstance(stored, Float):
        if not stored.asdecimal:
            python_type = float
        elif stored.precision is not None:
            options = ColumnOptions(precision=stored.precision, scale=stored.scale or 0)
    return rule_for(object, "", python_type, options, optional=True)


STORAGE_KINDS: tuple[tuple[type[TypeEngine[Any]], type[object]], ...] = (
    (Boolean, bool),
    (Integer, int),
    (Float, float),
    (Numeric, Decimal),
    (String, str),
    (Uuid, uuid.UUID),
    (Date, dt.date),
)
"""Column types and the Python type they store, most specific first (a Float is a Numeric)."""
