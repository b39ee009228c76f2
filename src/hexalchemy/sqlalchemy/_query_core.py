"""The query logic shared by the sync and async SQL repositories: statements built from checked queries, ready to run.

A query is checked once by :class:`~hexalchemy.rules.QueryRules` (the same rules the
in-memory adapter applies), then compiled here into one SQLAlchemy statement, every value
bound. A statement depends only on the query's *shape* (its fields, operators, the number
of values in an ``in_``, the ordering, the limit), not on its values: it is built and
prepared once per shape (``Backend.prepare``: pre-compiled for psycopg's cursor on
PostgreSQL) and each call only binds the values. The rules' check gives the shape and the
values in one walk (``CheckedQuery.shape`` and ``.values``); building a statement records
each parameter's slot, how its value is bound (a text match binds the pattern
``Backend.text_pattern`` makes of its text), in the same order.
What differs between databases (how text orders, how SQLite compares its Decimals
stored as text, how text is matched) is asked of the backend. Streaming is the one step
that differs in more than ``await``: :func:`stream_rows` and :func:`stream_rows_async` open
the server-side result (``yield_per``) on the transaction's connection.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
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
from hexalchemy.sqlalchemy._precompiled import AsyncRowChunks, RowChunks, Statement, statement_reader
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.transaction import TransactionCore, TransactionState

__all__ = ["QueryCall", "QueryCore", "run_query", "run_query_async", "stream_rows", "stream_rows_async"]

T = TypeVar("T")
K = TypeVar("K")
R = TypeVar("R")

QueryCall = tuple[TransactionState, Statement, dict[str, Any], Callable[[list[Any]], R]]
"""A query ready to run: its transaction, its prepared statement and parameters, and what makes its rows the result.

Run by :func:`run_query` or :func:`run_query_async`: one statement, no plan to drive
(a query has one step and nothing to clean up), so a query call costs no generator.
"""

Binds = list[Callable[[Any], Any] | None]
"""The slots of a statement's parameters, in bind order: how each value is bound (None: as it is)."""

_MAX_PREPARED: Final = 256
"""How many prepared query shapes a repository keeps (all are forgotten when one more comes)."""

_NAMES: Final = tuple(f"p{index}" for index in range(64))
"""The names of a statement's first parameters, in bind order (``p0``, ``p1``...)."""

_OPERATORS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


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
            tuple[tuple[str, ...], bool], tuple[ColumnElement[Any], Callable[[Any], Any] | None, bool]
        ] = {}
        self._prepared: dict[
            tuple[object, ...], tuple[Statement, tuple[Callable[[Any], Any] | None, ...] | None]
        ] = {}
        """Each shape's statement, and the slots of its parameters (None: every value bound as it is)."""
        self._ordering_keys: dict[int, tuple[tuple[object, ...], tuple[object, ...]]] = {}
        self._dialect = transactions.dialect
        self._read = statement_reader(mapping)
        self.read: Callable[[Any], T] = self._read
        """Convert a row of the statements built here (on SQLAlchemy's path or a driver's) to an aggregate."""

    # -- compiling -----------------------------------------------------------------------------

    def _expression(
        self, field: Field[T], *, ordered: bool
    ) -> tuple[ColumnElement[Any], Callable[[Any], Any] | None, bool]:
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
        expression, convert = self.backend.comparable(column, leaf.stored_type, ordered=ordered)
        found = (expression, convert, leaf.nullable)
        self._compared[(field.path, ordered)] = found
        return found

    def _bound(self, convert: Callable[[Any], Any] | None, value: object) -> Any:
        """``value`` as bound against a column whose backend conversion is ``convert`` (None: as it is)."""
        value = orderable(value)
        return value if convert is None else convert(value)

    def _bind(
        self,
        binds: Binds | None,
        expression: ColumnElement[Any],
        value: Any,
        slot: Callable[[Any], Any] | None = None,
    ) -> BindParameter[Any] | Any:
        """A named parameter (the next one of ``binds``, which records ``slot``: how its value is bound), or ``value`` itself without ``binds``."""
        if binds is None:
            return value
        parameter = bindparam(f"p{len(binds)}", type_=expression.type)
        binds.append(slot)
        return parameter

    def _slot(self, field: Field[T], *, ordered: bool) -> Callable[[Any], Any] | None:
        """How a checked value of ``field`` is bound (:meth:`_bound`), or None when it is bound as it is."""
        _, convert, _ = self._expression(field, ordered=ordered)
        leaf, _ = self._by_path[field.path]
        if convert is None and leaf.kind != "enum":  # the rules give a non-enum field's values as stored
            return None
        return functools.partial(self._bound, convert)

    def where(self, condition: Condition[T], binds: Binds | None = None) -> ColumnElement[bool]:
        """The SQL of a checked condition: its values bound as given, or as named parameters.

        With ``binds``, each parameter's slot (how its value is bound) is appended to it,
        in the order of ``CheckedQuery.values``, which the query rules' check gives.
        """
        if isinstance(condition, Comparison):
            ordered = condition.operator not in ("eq", "ne")
            expression, convert, _ = self._expression(condition.field, ordered=ordered)
            compare = _OPERATORS[condition.operator]
            slot = None if binds is None else self._slot(condition.field, ordered=ordered)
            found: ColumnElement[bool] = compare(
                expression, self._bind(binds, expression, self._bound(convert, condition.value), slot)
            )
            return found
        if isinstance(condition, OneOf):
            expression, convert, _ = self._expression(condition.field, ordered=False)
            if not condition.values:
                return false()
            slot = None if binds is None else self._slot(condition.field, ordered=False)
            return expression.in_(
                [
                    self._bind(binds, expression, self._bound(convert, value), slot)
                    for value in condition.values
                ]
            )
        if isinstance(condition, IsNone):
            _, column = self._by_path[condition.field.path]
            return column.is_(None)
        if isinstance(condition, TextMatch):
            _, column = self._by_path[condition.field.path]
            pattern: str | BindParameter[str] = self.backend.text_pattern(condition.kind, condition.text)
            if binds is not None:
                pattern = bindparam(f"p{len(binds)}", type_=String())
                binds.append(functools.partial(self.backend.text_pattern, condition.kind))
            return self.backend.text_match(column, condition.kind, pattern)
        if isinstance(condition, AllOf):
            return and_(true(), *(self.where(part, binds) for part in condition.conditions))
        if isinstance(condition, AnyOf):
            return or_(false(), *(self.where(part, binds) for part in condition.conditions))
        if isinstance(condition, Not):
            return not_(self.where(condition.condition, binds))
        raise AssertionError(condition)  # pragma: no cover - checked conditions only

    def order_by(self, checked: CheckedQuery[T]) -> list[UnaryExpression[Any]]:
        """The ORDER BY of a checked query: None first ascending, last descending."""
        clauses: list[UnaryExpression[Any]] = []
        for order in checked.ordering:
            expression, _, nullable = self._expression(order.field, ordered=True)
            clauses.append(self.backend.order(expression, descending=order.descending, nullable=nullable))
        return clauses

    def _after_values(
        self, checked: CheckedQuery[T], position: tuple[object, ...], values: list[Any]
    ) -> object:
        """What the SQL of :meth:`after` depends on (which values are None), its values appended to ``values`` in bind order."""
        nones = tuple(value is None for value in position)
        row_value = self._row_value(checked)
        for order, value in zip(checked.ordering, position, strict=True):
            if value is not None or row_value:
                _, convert, _ = self._expression(order.field, ordered=True)
                values.append(self._bound(convert, value))
                if not row_value:
                    values.append(self._bound(convert, value))  # compared, then equal
        return ("after", nones)

    def _row_value(self, checked: CheckedQuery[T]) -> bool:
        """Whether :meth:`after` compares row values: one direction, no nullable field."""
        return len({order.descending for order in checked.ordering}) == 1 and not any(
            self._expression(order.field, ordered=True)[2] for order in checked.ordering
        )

    def after(
        self, checked: CheckedQuery[T], position: tuple[object, ...], binds: Binds | None = None
    ) -> ColumnElement[bool]:
        """The rows strictly after ``position`` (a cursor's values) in the checked query's order.

        With ``binds``, the values become named parameters (their slots appended to it, None:
        :meth:`_after_values` gives them bound), in its order.
        """
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
                    if binds is None
                    else self._bind(binds, expression, None)
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
                compared = self._bind(binds, expression, bound)
                strictly = expression < compared if descending else expression > compared
                if descending and nullable:
                    strictly = or_(strictly, expression.is_(None))
                equal = expression == self._bind(binds, expression, bound)
            terms.append(and_(*same, strictly) if same else strictly)
            same.append(equal)
        return or_(*terms)

    def select(
        self,
        checked: CheckedQuery[T],
        *,
        after: tuple[object, ...] | None = None,
        binds: Binds | None = None,
    ) -> Select[Any]:
        """The SELECT of the aggregates matching a checked query, in its order (values bound as in :meth:`where`)."""
        statement = self.mapping.select()
        if checked.condition is not None:
            statement = statement.where(self.where(checked.condition, binds))
        if after is not None:
            statement = statement.where(self.after(checked, after, binds))
        return statement.order_by(*self.order_by(checked))

    def _ordering_key(self, checked: CheckedQuery[T]) -> tuple[object, ...]:
        """What the SQL of the checked query's order depends on (the rules give one tuple per order: remembered by it)."""
        ordering = checked.ordering
        known = self._ordering_keys.get(id(ordering))
        if known is not None and known[0] is ordering:
            return known[1]
        key = tuple((order.field.path, order.descending) for order in ordering)
        if len(self._ordering_keys) >= _MAX_PREPARED:
            self._ordering_keys.clear()
        self._ordering_keys[id(ordering)] = (ordering, key)
        return key

    def _statement(
        self,
        kind: str,
        checked: CheckedQuery[T],
        build: Callable[[Binds], Any],
        *,
        after: tuple[object, ...] | None = None,
        limit: int | None = None,
        ordered: bool = True,
    ) -> tuple[Statement, dict[str, Any]]:
        """The statement ``build`` makes for the checked query, prepared once per shape, and its parameters.

        ``build(binds)`` builds the statement, its values as named parameters whose slots it
        appends to ``binds``. The values are the checked query's (``CheckedQuery.values``),
        then the position's: no second walk of the condition. ``ordered``: whether the
        statement depends on the query's order (not a count's).
        """
        values: Sequence[Any] = checked.values
        position = None
        if after is not None:
            values = [*values]
            position = self._after_values(checked, after, values)
        key = (kind, checked.shape, self._ordering_key(checked) if ordered else None, position, limit)
        entry = self._prepared.get(key)
        if entry is None:
            binds: Binds = []
            statement = build(binds)
            if len(binds) != len(values):  # pragma: no cover - the rules and where() walk alike
                raise AssertionError(f"{len(values)} values for {len(binds)} parameters")
            if len(self._prepared) >= _MAX_PREPARED:
                self._prepared.clear()
            slots = tuple(binds) if any(slot is not None for slot in binds) else None
            entry = self._prepared[key] = (self.backend.prepare(statement, self._dialect), slots)
        prepared, slots = entry
        if slots is not None:
            values = [
                value if slot is None else slot(value) for slot, value in zip(slots, values, strict=True)
            ]
        count = len(values)
        if count == 1:  # the commonest query, one value: a third of the instructions of dict(zip())
            return prepared, {"p0": values[0]}
        if count <= len(_NAMES):
            return prepared, dict(zip(_NAMES, values, strict=False))  # the first len(values) names
        return prepared, {f"p{index}": value for index, value in enumerate(values)}

    def _call(
        self,
        kind: str,
        checked: CheckedQuery[T],
        build: Callable[[Binds], Any],
        finish: Callable[[list[Any]], R],
        *,
        after: tuple[object, ...] | None = None,
        limit: int | None = None,
        ordered: bool = True,
    ) -> QueryCall[R]:
        """The :meth:`_statement` of the checked query, in the transaction, with ``finish`` (its rows to the result)."""
        state = self.transactions.require(self.entity_type)
        prepared, parameters = self._statement(
            kind, checked, build, after=after, limit=limit, ordered=ordered
        )
        return state, prepared, parameters, finish

    # -- the calls -----------------------------------------------------------------------------

    def find(self, query: Query[T], limit: int | None) -> QueryCall[list[T]]:
        """The matching aggregates, in order, at most ``limit``."""
        limit = check_find_limit(limit)
        checked = self.rules.check_query(query)

        def build(binds: Binds) -> Select[Any]:
            statement = self.select(checked, binds=binds)
            return statement if limit is None else statement.limit(limit)

        return self._call("find", checked, build, self._found, limit=limit)

    def _found(self, rows: list[Any]) -> list[T]:
        read = self._read
        return [read(row) for row in rows]

    def first(self, query: Query[T]) -> QueryCall[T | None]:
        """The first matching aggregate, or None: :meth:`find` with a limit of 1."""
        state, statement, parameters, _ = self.find(query, 1)
        return state, statement, parameters, self._first

    def _first(self, rows: list[Any]) -> T | None:
        return self._read(rows[0]) if rows else None

    def count(self, query: Query[T]) -> QueryCall[int]:
        """How many aggregates match."""
        checked = self.rules.check_query(query)

        def build(binds: Binds) -> Select[Any]:
            statement: Select[Any] = select(func.count()).select_from(self.mapping.table)
            if checked.condition is not None:
                statement = statement.where(self.where(checked.condition, binds))
            return statement

        return self._call("count", checked, build, _counted, ordered=False)

    def exists(self, query: Query[T]) -> QueryCall[bool]:
        """Whether an aggregate matches."""
        checked = self.rules.check_query(query)

        def build(binds: Binds) -> Select[Any]:
            statement: Select[Any] = select(literal_column("1", Integer())).select_from(self.mapping.table)
            if checked.condition is not None:
                statement = statement.where(self.where(checked.condition, binds))
            return statement.limit(1)

        return self._call("exists", checked, build, bool, ordered=False)

    def page(self, query: Query[T], size: int, after: str | None) -> QueryCall[Page[T]]:
        """The next page after the cursor ``after``."""
        size = check_page_size("size", size)
        checked = self.rules.check_query(query)
        position = None if after is None else self.rules.position_of(checked, after)

        def build(binds: Binds) -> Select[Any]:
            return self.select(checked, after=position, binds=binds).limit(size + 1)

        finish = functools.partial(self._page, checked, size)
        return self._call("page", checked, build, finish, after=position, limit=size + 1)

    def _page(self, checked: CheckedQuery[T], size: int, rows: list[Any]) -> Page[T]:
        """The page of ``rows`` (at most ``size`` + 1: the row after the page only says there is a next one)."""
        items = tuple(map(self._read, rows[:size]))
        following = self.rules.cursor_of(checked, items[-1]) if len(rows) > size else None
        return Page(items=items, next_cursor=following)

    def stream_statement(
        self, query: Query[T], chunk_size: int
    ) -> tuple[TransactionState, Statement, dict[str, Any], int]:
        """The transaction, the SELECT to stream (prepared once per shape) and its parameters, and the chunk size (checked first)."""
        chunk_size = check_page_size("chunk_size", chunk_size)
        checked = self.rules.check_query(query)
        state = self.transactions.require(self.entity_type)

        def build(binds: Binds) -> Select[Any]:
            return self.select(checked, binds=binds)

        prepared, parameters = self._statement("stream", checked, build)
        return state, prepared, parameters, chunk_size

    def delete_where(self, condition: Condition[T]) -> Plan[int]:
        """Plan: delete the matching rows; return how many."""
        checked = self.rules.check_condition_of(condition)
        state = self.transactions.require(self.entity_type, write=True)
        statement = delete(self.mapping.table).where(self.where(checked))
        result = yield Call(state.connection.execute, (statement,))
        deleted: int = result.rowcount
        return deleted


def _counted(rows: list[Any]) -> int:
    count: int = rows[0][0]
    return count


def run_query(call: QueryCall[R]) -> R:
    """Run a query's statement in its transaction; return its result (a driver's error translated, as a plan's)."""
    state, statement, parameters, finish = call
    return finish(statement.rows(state, parameters))


async def run_query_async(call: QueryCall[R]) -> R:
    """:func:`run_query` through an async connection."""
    state, statement, parameters, finish = call
    return finish(await statement.rows_async(state, parameters))


def stream_rows(
    state: TransactionState, statement: Statement, parameters: dict[str, Any], chunk_size: int
) -> RowChunks:
    """Run ``statement`` in the transaction, its rows read ``chunk_size`` at a time (a server-side cursor where the driver has one)."""
    return statement.stream(state, parameters, chunk_size)


async def stream_rows_async(
    state: TransactionState, statement: Statement, parameters: dict[str, Any], chunk_size: int
) -> AsyncRowChunks:
    """:func:`stream_rows` through an async connection."""
    return await statement.stream_async(state, parameters, chunk_size)
