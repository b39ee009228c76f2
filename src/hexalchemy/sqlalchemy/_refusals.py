"""A value that a column's own type refused while its statement was being bound, named.

The value rules check every value before any statement; a column type of the user's (a
``TypeDecorator`` whose ``process_bind_param`` raises) can still refuse one while the
parameters are bound. Every path (SQLAlchemy's execute, the psycopg cursor, COPY) reports it
the same way: an :class:`~hexalchemy.ports.InvalidValueError` naming the entity, the field,
the value and the column type, found again column by column once the statement failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect

from hexalchemy.ports import DatabaseError, HexalchemyError, InvalidValueError
from hexalchemy.sqlalchemy.mapping import TableMapping

__all__ = ["bind_refusal"]


def bind_refusal(
    mapping: TableMapping[Any, Any], dialect: Dialect, aggregates: Iterable[object], error: BaseException
) -> InvalidValueError | None:
    """The :class:`InvalidValueError` for ``error`` if a column type refused a value of ``aggregates``.

    ``error`` is what saving them raised: a raw exception (a driver path binds the values
    itself) or the :class:`DatabaseError` of a SQLAlchemy statement that failed before it was
    sent. None when it is neither, or when no column type refuses a value again (the error
    was something else).
    """
    if isinstance(error, DatabaseError):
        cause = error.__cause__
        if not isinstance(cause, sa_exc.StatementError) or isinstance(cause, sa_exc.DBAPIError):
            return None
    elif isinstance(error, HexalchemyError) or not isinstance(error, Exception):
        return None
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in mapping.columns]
    for aggregate in aggregates:
        values = mapping.to_values(aggregate)
        for leaf, column, processor, value in zip(
            mapping.leaves, mapping.columns, processors, values, strict=True
        ):
            if processor is None or value is None:
                continue
            try:
                processor(value)
            except Exception as refusal:  # the user's column type: any exception is its refusal
                return InvalidValueError(
                    mapping.entity_type,
                    leaf.dotted_path,
                    value,
                    f"column {column.name!r} ({column.type!r}) refused it: {type(refusal).__name__}: {refusal}",
                )
    return None
