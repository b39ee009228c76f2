"""MariaDB through PyMySQL or aiomysql: a repository's hot operations on the driver's own cursor.

:class:`MariaDBRepositoryPath` is the shared driver path
(:class:`~hexalchemy.sqlalchemy._driver_path.DriverRepositoryPath`) with the drivers' ways:

- a list of keys is bound as one parameter, ``id IN %s``, which the drivers write as
  ``(k1, k2, ...)``, at most ``Backend.max_bound_values`` keys a statement;
- a ``Uuid`` is sent as its text (the drivers would write it by ``str`` anyway, after a
  failed lookup of its type);
- a ``UtcDateTime`` column is read as the naive ``DATETIME(6)`` the drivers give, which
  holds the UTC time: it is given the UTC zone, as the column type does;
- new aggregates go by multi-row ``INSERT`` statements whose SQL text a generated function
  writes as the drivers would (``mariadb._bulk.LiteralRows``), on the cursor.

Both drivers bind on the client (they write the values into the SQL text): there is no
statement to prepare, only SQLAlchemy's per-execution work to skip.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlalchemy import Dialect, Uuid, bindparam, select

from hexalchemy.sqlalchemy._driver_path import DriverRepositoryPath, positional
from hexalchemy.sqlalchemy._operations import Plan
from hexalchemy.sqlalchemy.mariadb._bulk import LiteralRows, MultiRowInsert
from hexalchemy.sqlalchemy.types import UtcDateTime

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._repository_core import RepositoryCore
    from hexalchemy.sqlalchemy.transaction import TransactionState

__all__ = ["MariaDBRepositoryPath", "uses_pymysql"]

T = TypeVar("T")
K = TypeVar("K")

_DRIVERS: Final = frozenset({"pymysql", "aiomysql"})
_AS_UTC: Final = operator.methodcaller("replace", tzinfo=dt.UTC)


def uses_pymysql(dialect: Dialect) -> bool:
    """Whether ``dialect`` talks to MariaDB through PyMySQL or aiomysql (the driver path needs their cursor)."""
    return dialect.driver in _DRIVERS


def _as_utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


class MariaDBRepositoryPath(DriverRepositoryPath[T, K]):
    """A repository's ``get``, ``contains``, ``range``, bulk insert and version-checked updates on the PyMySQL or aiomysql cursor."""

    def __init__(self, core: RepositoryCore[T, K], dialect: Dialect) -> None:
        super().__init__(core, dialect)
        self.bulk = LiteralRows(core, MultiRowInsert(core))
        if core.range_by_list:
            (key,) = self.mapping.key_columns
            statement = select(*self.mapping.columns).where(key.op("IN")(bindparam("hx_keys")))
            self.range_sql = positional(statement.compile(dialect=dialect), ["hx_keys"])
            self.range_chunk = core.range_chunk

    def bind_processor(self, column: Any) -> Callable[[Any], Any] | None:
        """The column type's; ``str`` for a ``Uuid`` that has none (its text, as the drivers would write it)."""
        processor = super().bind_processor(column)
        if processor is None and isinstance(column.type, Uuid):
            return str
        return processor

    def key_processor(self, column: Any) -> Callable[[Any], Any] | None:
        """As :meth:`bind_processor`."""
        return self.bind_processor(column)

    def result_processor(self, column: Any, type_code: Any) -> Callable[[Any], Any] | None:
        """The column type's; a ``UtcDateTime`` column's naive UTC time given the UTC zone (in C when NOT NULL)."""
        if isinstance(column.type, UtcDateTime):
            return _as_utc_or_none if column.nullable else _AS_UTC
        return super().result_processor(column, type_code)

    def copies(self, count: int) -> bool:
        """Whether ``count`` new aggregates go by the multi-row ``INSERT`` (at least ``copy_threshold``)."""
        return self.copy_threshold is not None and count >= self.copy_threshold

    def copy_rows(self, aggregates: Sequence[T]) -> list[Any]:
        """Each new aggregate's row as SQL text (see ``LiteralRows.copy_rows``)."""
        return self.bulk.copy_rows(aggregates)

    def copy(self, state: TransactionState, rows: list[Any]) -> Plan[None]:
        """Plan: the multi-row ``INSERT`` statements of the rows, on the cursor (see ``LiteralRows.copy``)."""
        return self.bulk.copy(state, rows)
