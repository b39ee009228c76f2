"""MariaDB's bulk insert of new aggregates: the driver's multi-row ``INSERT``.

PyMySQL and aiomysql rewrite ``executemany`` of ``INSERT ... VALUES (%s, ...)`` into
multi-row ``INSERT`` statements of up to ``max_stmt_length`` (1 MB) each: the fastest way
the drivers have. ``save_all`` sends at least ``copy_threshold`` new aggregates so: each
row converted by the mapping (and so checked by the value rules) and given the columns'
bind processors before the first statement, then one ``exec_driver_sql`` (through
SQLAlchemy: its events, the tracing and the error translation apply). A plain ``INSERT``,
not ``INSERT IGNORE``: a duplicate key, a foreign key or any other refusal fails the
statement, and ``save_all`` tells which (``DuplicateEntityError`` for a key taken).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from hexalchemy._codegen import compile_function
from hexalchemy.sqlalchemy._operations import Call, Plan

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._repository_core import RepositoryCore
    from hexalchemy.sqlalchemy.transaction import TransactionState

__all__ = ["MultiRowInsert"]

T = TypeVar("T")


class MultiRowInsert(Generic[T]):
    """New aggregates of one repository inserted by the driver's multi-row ``INSERT`` (a ``BulkInsert``)."""

    __slots__ = ("row", "sql", "threshold")

    def __init__(self, core: RepositoryCore[T, Any]) -> None:
        mapping = core.mapping
        dialect = core.transactions.dialect
        preparer = dialect.identifier_preparer  # doubles a % in a name for the drivers' format paramstyle
        names = ", ".join(preparer.format_column(column) for column in mapping.columns)
        marks = ", ".join(["%s"] * len(mapping.columns))
        self.sql = f"INSERT INTO {preparer.format_table(mapping.table)} ({names}) VALUES ({marks})"
        self.threshold = core.copy_threshold
        namespace: dict[str, Any] = {"to_values": mapping.to_values}
        values: list[str] = []
        for index, column in enumerate(mapping.columns):
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is None:
                values.append(f"v[{index}]")
            else:
                namespace[f"p{index}"] = processor
                values.append(f"(None if v[{index}] is None else p{index}(v[{index}]))")
        source = f"def driver_row(o):\n    v = to_values(o)\n    return ({', '.join(values)},)\n"
        label = f"{mapping.spec.cls.__qualname__}.driver_row"
        self.row: Any = compile_function("driver_row", source, namespace, label)

    def copies(self, count: int) -> bool:
        """Whether ``count`` new aggregates go in bulk (at least ``copy_threshold``)."""
        return self.threshold is not None and count >= self.threshold

    def copy_rows(self, aggregates: Sequence[T]) -> list[Any]:
        """The driver's parameter rows of new aggregates (converted, checked, bind processors applied)."""
        row = self.row
        return [row(aggregate) for aggregate in aggregates]

    def copy(self, state: TransactionState, rows: list[Any]) -> Plan[None]:
        """Plan: insert the rows (a duplicate key or another refusal: ``ConstraintViolationError``)."""
        yield Call(state.connection.exec_driver_sql, (self.sql, rows))
