"""The query logic shared by the sync and async SQL repositories: statements built from checked queries, and sans-I/O plans.

A query is checked once by :class:`~hexalchemy.rules.QueryRules` (the same rules the
in-memory adapter applies), then compiled here into one SQLAlchemy statement, every value
bound. What differs between databases (how text orders, how SQLite compares its Decimals
stored as text, how text is matched) is asked of the backend. Streaming is the one step
that differs in more than ``await``: :func:`stream_rows` and :func:`stream_rows_async` open
the server-side result (``yield_per``) on the transaction's connection.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Result,
    Select,
    and_,
    delete,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncResult
from sqlalchemy.sql.elements import UnaryExpression

from hexalchemy.ports import MappingError, Page
from hexalchemy.ports.query import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Field,
    IsNone,
    Not,
    OneOf,
    Query,
    TextMatch,
)
from hexalchemy.rules import CheckedQuery, QueryRules, check_find_limit, check_page_size, orderable
from hexalchemy.sqlalchemy._operations import Call, Plan
from hexalchemy.sqlalchemy.mapping import Leaf, TableMapping
from hexalchemy.sqlalchemy.transaction import TransactionCore

__all__ = ["QueryCore", "stream_rows", "stream_rows_async"]

T = TypeVar("T")
K = TypeVar("K")

_OPERATORS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _stored_type(leaf: Leaf) -> Any:
    """The Python type of what the column holds: an enum's value type, the field's type otherwise."""
    if leaf.kind == "enum":
        return type(next(iter(leaf.python_type)).value)
    return leaf.python_type


class QueryCore(Generic[T, K]):
    """Compiles the checked queries of one mapped entity into statements, and plans their runs."""

    def __init__(self, mapping: TableMapping[T, K], transactions: TransactionCore) -> None:
        self.mapping = mapping
        self.entity_type = mapping.spec.cls
        self.transactions = transactions
        self.backend = transactions.backend
        self.rules = QueryRules(mapping.spec)
        self._by_path = {
            leaf.path: (leaf, column) for leaf, column in zip(mapping.leaves, mapping.columns, strict=True)
        }
        self._compared: dict[
            tuple[tuple[str, ...], bool], tuple[ColumnElement[Any], Callable[[Any], Any], bool]
        ] = {}

    # -- compiling -----------------------------------------------------------------------------

    def _expression(
        self, field: Field[T], *, ordered: bool
    ) -> tuple[ColumnElement[Any], Callable[[Any], Any], bool]:
        """The column's expression as compared (ordered: by ``<``, or in ``ORDER BY``), the value conversion, and whether it may be NULL."""
        found = self._compared.get((field.path, ordered))
        if found is not None:
            return found
        leaf, column = self._by_path.get(field.path, (None, None))
        if leaf is None or column is None or leaf.kind not in ("plain", "datetime", "enum"):
            raise MappingError(
                self.entity_type,
                "the field is not stored in a column queries can compare",
                field=".".join(field.path),
            )
        expression, convert = self.backend.comparable(column, _stored_type(leaf), ordered=ordered)
        found = (expression, convert, leaf.nullable)
        self._compared[(field.path, ordered)] = found
        return found

    def _bound(self, convert: Callable[[Any], Any], value: object) -> Any:
        return convert(orderable(value))

    def where(self, condition: Condition[T]) -> ColumnElement[bool]:
        """The SQL of a checked condition."""
        if isinstance(condition, Comparison):
            ordered = condition.operator not in ("eq", "ne")
            expression, convert, _ = self._expression(condition.field, ordered=ordered)
            compare = _OPERATORS[condition.operator]
            found: ColumnElement[bool] = compare(expression, self._bound(convert, condition.value))
            return found
        if isinstance(condition, OneOf):
            expression, convert, _ = self._expression(condition.field, ordered=False)
            if not condition.values:
                return false()
            return expression.in_([self._bound(convert, value) for value in condition.values])
        if isinstance(condition, IsNone):
            _, column = self._by_path[condition.field.path]
            return column.is_(None)
        if isinstance(condition, TextMatch):
            _, column = self._by_path[condition.field.path]
            if condition.kind == "prefix":
                return self.backend.starts_with(column, condition.text)
            return self.backend.contains_text(column, condition.text)
        if isinstance(condition, AllOf):
            return and_(true(), *(self.where(part) for part in condition.conditions))
        if isinstance(condition, AnyOf):
            return or_(false(), *(self.where(part) for part in condition.conditions))
        if isinstance(condition, Not):
            return not_(self.where(condition.condition))
        raise AssertionError(condition)  # pragma: no cover - checked conditions only

    def order_by(self, checked: CheckedQuery[T]) -> list[UnaryExpression[Any]]:
        """The ORDER BY of a checked query: None first ascending, last descending."""
        clauses: list[UnaryExpression[Any]] = []
        for order in checked.ordering:
            expression, _, nullable = self._expression(order.field, ordered=True)
            clauses.append(self.backend.order(expression, descending=order.descending, nullable=nullable))
        return clauses

    def after(self, checked: CheckedQuery[T], position: tuple[object, ...]) -> ColumnElement[bool]:
        """The rows strictly after ``position`` (a cursor's values) in the checked query's order."""
        parts = [
            (self._expression(order.field, ordered=True), order.descending, value)
            for order, value in zip(checked.ordering, position, strict=True)
        ]
        directions = {descending for _, descending, _ in parts}
        if len(directions) == 1 and all(not nullable for (_, _, nullable), _, _ in parts):
            # one direction, no NULL: a row-value comparison, which an index on the columns serves
            left = tuple_(*(expression for (expression, _, _), _, _ in parts))
            right = tuple_(
                *(
                    literal(self._bound(convert, value), type_=expression.type)
                    for (expression, convert, _), _, value in parts
                )
            )
            return left < right if directions == {True} else left > right
        terms: list[ColumnElement[bool]] = []
        same: list[ColumnElement[bool]] = []
        for (expression, convert, nullable), descending, value in parts:
            if value is None:
                strictly: ColumnElement[bool] = false() if descending else expression.is_not(None)
                equal: ColumnElement[bool] = expression.is_(None)
            else:
                bound = self._bound(convert, value)
                strictly = expression < bound if descending else expression > bound
                if descending and nullable:
                    strictly = or_(strictly, expression.is_(None))
                equal = expression == bound
            terms.append(and_(*same, strictly) if same else strictly)
            same.append(equal)
        return or_(*terms)

    def select(self, checked: CheckedQuery[T], *, after: tuple[object, ...] | None = None) -> Select[Any]:
        """The SELECT of the aggregates matching a checked query, in its order."""
        statement = self.mapping.select()
        if checked.condition is not None:
            statement = statement.where(self.where(checked.condition))
        if after is not None:
            statement = statement.where(self.after(checked, after))
        return statement.order_by(*self.order_by(checked))

    # -- plans ---------------------------------------------------------------------------------

    def find(self, query: Query[T], limit: int | None) -> Plan[list[T]]:
        """Plan: the matching aggregates, in order, at most ``limit``."""
        limit = check_find_limit(limit)
        checked = self.rules.check_query(query)
        state = self.transactions.require(self.entity_type)
        statement = self.select(checked)
        if limit is not None:
            statement = statement.limit(limit)
        result = yield Call(state.connection.execute, (statement,))
        return self.mapping.from_rows(result.all())

    def first(self, query: Query[T]) -> Plan[T | None]:
        """Plan: the first matching aggregate, or None."""
        found = yield from self.find(query, 1)
        return found[0] if found else None

    def count(self, query: Query[T]) -> Plan[int]:
        """Plan: how many aggregates match."""
        checked = self.rules.check_query(query)
        state = self.transactions.require(self.entity_type)
        statement: Select[Any] = select(func.count()).select_from(self.mapping.table)
        if checked.condition is not None:
            statement = statement.where(self.where(checked.condition))
        result = yield Call(state.connection.execute, (statement,))
        count: int = result.scalar_one()
        return count

    def exists(self, query: Query[T]) -> Plan[bool]:
        """Plan: whether an aggregate matches."""
        checked = self.rules.check_query(query)
        state = self.transactions.require(self.entity_type)
        statement: Select[Any] = select(literal_column("1")).select_from(self.mapping.table)
        if checked.condition is not None:
            statement = statement.where(self.where(checked.condition))
        result = yield Call(state.connection.execute, (statement.limit(1),))
        return result.first() is not None

    def page(self, query: Query[T], size: int, after: str | None) -> Plan[Page[T]]:
        """Plan: the next page after the cursor ``after``."""
        size = check_page_size("size", size)
        checked = self.rules.check_query(query)
        position = None if after is None else self.rules.position_of(checked, after)
        state = self.transactions.require(self.entity_type)
        statement = self.select(checked, after=position).limit(size + 1)
        result = yield Call(state.connection.execute, (statement,))
        items = self.mapping.from_rows(result.all())
        following = self.rules.cursor_of(checked, items[size - 1]) if len(items) > size else None
        return Page(items=tuple(items[:size]), next_cursor=following)

    def stream_statement(self, query: Query[T], chunk_size: int) -> tuple[Any, Select[Any], int]:
        """The transaction's connection, the SELECT to stream and the chunk size (checked first)."""
        chunk_size = check_page_size("chunk_size", chunk_size)
        checked = self.rules.check_query(query)
        state = self.transactions.require(self.entity_type)
        return state.connection, self.select(checked), chunk_size

    def delete_where(self, condition: Condition[T]) -> Plan[int]:
        """Plan: delete the matching rows; return how many."""
        checked = self.rules.check_condition_of(condition)
        state = self.transactions.require(self.entity_type, write=True)
        statement = delete(self.mapping.table).where(self.where(checked))
        result = yield Call(state.connection.execute, (statement,))
        deleted: int = result.rowcount
        return deleted


def stream_rows(connection: Connection, statement: Select[Any], chunk_size: int) -> Result[Any]:
    """Run ``statement`` on ``connection`` with a server-side cursor where the driver has one, ``chunk_size`` rows a fetch."""
    return connection.execute(statement, execution_options={"yield_per": chunk_size})


async def stream_rows_async(
    connection: AsyncConnection, statement: Select[Any], chunk_size: int
) -> AsyncResult[Any]:
    """Run ``statement`` on ``connection`` as :func:`stream_rows` does, through an async connection."""
    result: AsyncResult[Any] = await connection.stream(statement, execution_options={"yield_per": chunk_size})
    return result
