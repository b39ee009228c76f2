"""MariaDB's bulk insert of new aggregates: the driver's multi-row ``INSERT``.

PyMySQL and aiomysql rewrite ``executemany`` of ``INSERT ... VALUES (%s, ...)`` into
multi-row ``INSERT`` statements of up to ``max_stmt_length`` (1 MB) each: the fastest way
the drivers have. ``save_all`` sends at least ``copy_threshold`` new aggregates so: each
row converted by the mapping (and so checked by the value rules) and given the columns'
bind processors before the first statement, then one ``exec_driver_sql`` (through
SQLAlchemy: its events, the tracing and the error translation apply). A plain ``INSERT``,
not ``INSERT IGNORE``: a duplicate key, a foreign key or any other refusal fails the
statement, and ``save_all`` tells which (``DuplicateEntityError`` for a key taken).

On the driver path (``mariadb._driver``) the rows are written by :class:`LiteralRows`
instead: the same statements, each row's SQL text written by one function generated per
table that checks each value by its rule (the lines of ``TableMapping.to_values``), applies
the column's bind processor and writes the value as the driver would
(``mariadb._literals``), with none of the driver's per-value dispatch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from sqlalchemy import Dialect, TypeDecorator
from sqlalchemy.types import TypeEngine

from hexalchemy._codegen import compile_function
from hexalchemy.sqlalchemy._driver_path import DriverStatements
from hexalchemy.sqlalchemy._operations import Call, Plan
from hexalchemy.sqlalchemy.mariadb._literals import NAMESPACE, driver_literals, literal_expression

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._repository_core import RepositoryCore
    from hexalchemy.sqlalchemy.transaction import TransactionState

__all__ = ["LiteralRows", "MultiRowInsert"]

T = TypeVar("T")

MAX_STATEMENT_BYTES: Final = 1_024_000
"""The length of one multi-row statement at most (a row longer goes alone): the drivers' ``max_stmt_length``."""


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


class LiteralRows(Generic[T]):
    """New aggregates of one repository inserted by multi-row ``INSERT`` statements whose SQL text it writes itself.

    :meth:`copy_rows` runs before any statement: each aggregate checked by its fields' rules
    and written as ``(row's SQL text, aggregate)``. :meth:`copy` sends them, in statements of
    at most :data:`MAX_STATEMENT_BYTES`, when the transaction's connection writes values as
    :class:`~hexalchemy.sqlalchemy.mariadb._literals.DriverLiterals` does; otherwise by the
    driver's ``executemany`` of the aggregates' parameter rows (:class:`MultiRowInsert`'s).
    """

    __slots__ = ("fallback", "literals", "prefix", "row")

    def __init__(self, core: RepositoryCore[T, Any], fallback: MultiRowInsert[T]) -> None:
        mapping = core.mapping
        dialect = core.transactions.dialect
        self.fallback = fallback
        self.literals = driver_literals(dialect.driver)
        # No parameters are bound: a % in a name is written once (the preparer doubles it for the drivers).
        self.prefix = fallback.sql.rpartition(" VALUES ")[0].replace("%%", "%") + " VALUES "
        namespace: dict[str, Any] = {
            **mapping.value_namespace,
            **NAMESPACE,
            "_literal": self.literals.literal,
        }
        lines = list(mapping.value_lines)
        parts: list[str] = []
        for index, column in enumerate(mapping.columns):
            impl = column.type.dialect_impl(dialect)
            processor = impl.bind_processor(dialect)
            if processor is not None:
                namespace[f"_p{index}"] = processor
                lines.append(f"    if v{index} is not None:")
                lines.append(f"        v{index} = _p{index}(v{index})")
            expression = literal_expression(
                f"v{index}", _bound_type(impl, dialect), nullable=bool(column.nullable)
            )
            parts.append("{" + expression + "}")
        body = "\n".join(lines)
        source = f'def literal_row(o):\n{body}\n    return (f"({",".join(parts)})", o)\n'
        label = f"{mapping.spec.cls.__qualname__}.literal_row"
        self.row: Any = compile_function("literal_row", source, namespace, label)

    def copy_rows(self, aggregates: Sequence[T]) -> list[tuple[str, T]]:
        """Each aggregate's row as SQL text, with the aggregate (checked by the value rules, bind processors applied)."""
        row = self.row
        return [row(aggregate) for aggregate in aggregates]

    def copy(self, state: TransactionState, rows: list[tuple[str, T]]) -> Plan[None]:
        """Plan: insert the rows (a duplicate key or another refusal: ``ConstraintViolationError``)."""

        def statements(connection: Any) -> Iterator[tuple[str, Sequence[Sequence[Any]] | None]]:
            if not self.literals.writes_like(connection):
                row = self.fallback.row
                yield self.fallback.sql, [row(aggregate) for _, aggregate in rows]
                return
            yield from ((sql, None) for sql in self.statements(rows))

        yield DriverStatements(state, self.fallback.sql, len(rows), statements)

    def statements(self, rows: Sequence[tuple[str, Any]]) -> Iterator[str]:
        """The ``INSERT`` statements of ``rows``, each of at most :data:`MAX_STATEMENT_BYTES` (in UTF-8) or one row."""
        prefix = self.prefix
        budget = MAX_STATEMENT_BYTES - len(prefix)
        chunk: list[str] = []
        size = 0
        for text, _ in rows:
            length = (len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))) + 1
            if chunk and size + length > budget:
                yield prefix + ",".join(chunk)
                chunk, size = [], 0
            chunk.append(text)
            size += length
        if chunk:
            yield prefix + ",".join(chunk)


_MAX_DECORATORS: Final = 8
"""How many ``TypeDecorator``s deep a column type is looked into (no real one nests as many)."""


def _bound_type(impl: TypeEngine[Any], dialect: Dialect) -> type | None:
    """The Python type of the values the driver gets for a column of type ``impl`` (its dialect's), where it has one.

    A ``TypeDecorator``'s bind processor hands on the values of the type it decorates (itself
    perhaps another decorator, as ``UtcDateTime``'s is on MariaDB).
    """
    stored = impl
    for _ in range(_MAX_DECORATORS):
        if not isinstance(stored, TypeDecorator):
            break
        stored = stored.type_engine(dialect)
    else:
        return None
    try:
        found: type = stored.python_type
    except NotImplementedError:
        return None
    return found
