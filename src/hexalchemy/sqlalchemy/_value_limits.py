"""Value limits of each database: what it cannot store faithfully, even within the value domain.

The rules (:mod:`hexalchemy.rules`) say what every adapter accepts. A field can opt into more
(``allow_non_finite``), and a hand-written table can choose a column that loses what the
rules let through. :func:`refuse_unstorable_values` is the hook a repository calls when it is
built: the database's limits function raises :class:`~hexalchemy.ports.MappingError`
naming the field, the column and the fix, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from hexalchemy.ports import MappingError
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.types import ExactDecimal

__all__ = ["refuse_unstorable_values"]


def _sqlite_limits(mapping: TableMapping[Any, Any]) -> None:
    """SQLite stores a float NaN as NULL, and a plain ``Numeric`` column's decimals as binary floats."""
    for leaf, column in zip(mapping.leaves, mapping.columns, strict=True):
        options = leaf.options
        if leaf.kind != "plain":
            continue
        if leaf.python_type is float and options is not None and options.allow_non_finite:
            raise MappingError(
                mapping.entity_type,
                "SQLite stores a float NaN as NULL: allow_non_finite cannot be kept there "
                "(use PostgreSQL, or leave allow_non_finite off)",
                field=leaf.dotted_path,
                column=column.name,
            )
        if leaf.python_type is Decimal and not isinstance(column.type, ExactDecimal):
            raise MappingError(
                mapping.entity_type,
                f"SQLite stores the decimals of a {column.type!r} column as binary floats (1.555 comes "
                "back 1.55): use hexalchemy.sqlalchemy.ExactDecimal for the column",
                field=leaf.dotted_path,
                column=column.name,
            )


_LIMITS: Final[dict[str, Callable[[TableMapping[Any, Any]], None]]] = {"sqlite": _sqlite_limits}


def refuse_unstorable_values(mapping: TableMapping[Any, Any], dialect_name: str) -> None:
    """Raise ``MappingError`` for a field of ``mapping`` whose values the database ``dialect_name`` would not store faithfully."""
    limits = _LIMITS.get(dialect_name)
    if limits is not None:
        limits(mapping)
