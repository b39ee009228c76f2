"""Column types that give the same Python values back on every database.

How each is stored is the database's backend's choice (``Backend.utc_datetime_type``,
``Backend.exact_decimal_type``): these types check and normalise a value once, then hand
it to the backend's column type.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

from hexalchemy._guards import is_instance
from hexalchemy.rules import rule_for
from hexalchemy.sqlalchemy.backend import backend_for

__all__ = ["ExactDecimal", "UtcDateTime"]

_UTC_RULE = rule_for(object, "datetime", dt.datetime, None, optional=False)
if _UTC_RULE is None:  # pragma: no cover - datetime is a type of the value domain
    raise AssertionError("no rule for datetime")
_utc = _UTC_RULE.normalize


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored as UTC.

    PostgreSQL stores ``TIMESTAMP WITH TIME ZONE``; SQLite stores a fixed-width ISO 8601
    string in UTC, so values sort chronologically. Values come back aware, in UTC, as the
    same instant that was written. A bound value follows the datetime rule of
    :mod:`hexalchemy.rules` (aware, its UTC value within years 1..9999): anything else is
    refused with :class:`~hexalchemy.rules.RefusedValueError` (a ``DatabaseError`` out of a
    transaction's ``execute``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """The backend's column type: ``timestamptz`` on PostgreSQL, a string on SQLite."""
        return dialect.type_descriptor(backend_for(dialect, portable=True).utc_datetime_type())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Refuse what the datetime rule refuses; convert to UTC (the backend's column type stores it: an ISO string on SQLite)."""
        if value is None:
            return None
        return _utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return an aware datetime in UTC."""
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        result: dt.datetime = value
        if result.tzinfo is None:
            return result.replace(tzinfo=dt.UTC)
        return result.astimezone(dt.UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: ``NUMERIC`` (``NUMERIC(precision, scale)`` when given) on PostgreSQL, a decimal string on SQLite.

    SQLite has no exact numeric type (its NUMERIC affinity goes through binary floats), so
    the value is kept as text there and compared as text in SQL. A derived table gives a
    ``Decimal`` field ``ExactDecimal(precision, scale)`` from its declared
    :class:`~hexalchemy.ports.ColumnOptions`.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int | None = None, scale: int | None = None) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """The backend's column type: ``NUMERIC(precision, scale)`` on PostgreSQL, a string on SQLite."""
        return dialect.type_descriptor(
            backend_for(dialect, portable=True).exact_decimal_type(self.precision, self.scale)
        )

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """Pass the decimal on (the backend's column type stores it: a string on SQLite)."""
        if value is None:
            return None
        if not is_instance(value, Decimal):
            raise ValueError(f"expected a Decimal, got {value!r}")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Return a ``Decimal``."""
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        return Decimal(str(value))
