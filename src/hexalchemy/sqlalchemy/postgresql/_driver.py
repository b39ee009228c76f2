"""PostgreSQL through psycopg: the fast paths that run below SQLAlchemy, on psycopg's own cursor.

- :class:`CopyRows`, :class:`DriverStream`: the plan steps of COPY and of a server-side
  cursor (the steps every driver has, :class:`DriverQuery` and :class:`DriverExecuteMany`,
  are in :mod:`hexalchemy.sqlalchemy._driver_path`, and named here too).
- :class:`DriverStatement`: a statement compiled once to psycopg's positional SQL; each
  run only maps its named parameters through the bind processors SQLAlchemy would apply.
- :class:`RepositoryDriverPath`: the shared repository path (``_driver_path``) with psycopg's
  ways: keys bound as one array, COPY of new aggregates, JSON sent as text.
- :class:`RelayConnection`: the relay store's own connection, with a cursor that decodes
  JSON headers quickly.

Every path steps aside, to SQLAlchemy, while :func:`driver_path_allowed` says no: the engine
echoes, or a schema is translated. SQLAlchemy's listeners do not see these statements; each
step reports its own to the connection's statement hook (:class:`ReportedStep`, see
:mod:`hexalchemy.sqlalchemy.tracing`), so a tracer attached never changes the path. psycopg
is an optional dependency: it is imported where a cursor is made, never at import time.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import operator
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs
from sqlalchemy import JSON, Boolean, Dialect, LargeBinary
from sqlalchemy.dialects.postgresql import BYTEA
from sqlalchemy.types import TypeDecorator

from hexalchemy._codegen import compile_function
from hexalchemy.sqlalchemy._driver_path import (
    DriverExecuteMany,
    DriverQuery,
    DriverRepositoryPath,
    ReportedStep,
    driver_path_allowed,
    positional,
    positional_sql,
    state_hook,
    unescaped_names,
)
from hexalchemy.sqlalchemy._operations import Plan, run_step, run_step_async
from hexalchemy.sqlalchemy._precompiled import (
    AsyncRowChunks,
    DriverTarget,
    JsonText,
    OwnConnection,
    RowChunks,
    Statement,
    driver_utc,
    json_text,
)
from hexalchemy.sqlalchemy._statement_hooks import FastPath, StatementHook
from hexalchemy.sqlalchemy.types import ExactDecimal, UtcDateTime

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._repository_core import RepositoryCore
    from hexalchemy.sqlalchemy.mapping import TableMapping
    from hexalchemy.sqlalchemy.transaction import TransactionState

__all__ = [
    "AsyncServerRows",
    "CopyRows",
    "DriverExecuteMany",
    "DriverQuery",
    "DriverStatement",
    "DriverStream",
    "RelayConnection",
    "ReportedStep",
    "RepositoryDriverPath",
    "ServerRows",
    "binary_copy_types",
    "driver_path_allowed",
    "uses_psycopg",
]

T = TypeVar("T")
K = TypeVar("K")


def uses_psycopg(dialect: Dialect) -> bool:
    """Whether ``dialect`` talks to PostgreSQL through psycopg (the fast paths need its cursor)."""
    return dialect.driver == "psycopg"


@attrs.frozen
class CopyRows(ReportedStep):
    """COPY ``rows`` into PostgreSQL through the driver connection behind ``connection``.

    ``sql`` goes without parameters, so psycopg sends it as it is (see ``backend._copy_statement``).
    ``types``: the columns' PostgreSQL types, for a COPY in binary format (``sql`` says
    ``FORMAT BINARY``; psycopg's ``Copy.set_types``); None for text.
    """

    connection: Any
    sql: str
    rows: Sequence[Sequence[Any]]
    types: Sequence[str] | None = None

    path: ClassVar[FastPath] = "copy"

    def target(self) -> Any:
        """The transaction's connection."""
        return self.connection

    def statement(self) -> tuple[str, int]:
        """The COPY statement, and the number of rows copied."""
        return self.sql, len(self.rows)

    def perform(self) -> None:
        """COPY through the sync connection."""
        driver_connection = self.connection.connection.driver_connection
        with driver_connection.cursor() as cursor, cursor.copy(self.sql) as copy:
            if self.types is not None:
                copy.set_types(self.types)
            for row in self.rows:
                copy.write_row(row)

    async def perform_async(self) -> None:
        """COPY through the async connection."""
        raw = await self.connection.get_raw_connection()
        async with raw.driver_connection.cursor() as cursor, cursor.copy(self.sql) as copy:
            if self.types is not None:
                copy.set_types(self.types)
            for row in self.rows:
                await copy.write_row(row)

    def perform_bridged(self) -> None:  # pragma: no cover - no bridged plan copies
        """Not supported: no plan run inside the bridge copies."""
        raise AssertionError("COPY is not supported inside the greenlet bridge")


_stream_numbers = itertools.count(1)


@attrs.frozen
class ServerRows:
    """The rows of a psycopg server-side cursor, ``chunk_size`` a fetch (see :class:`DriverStream`)."""

    cursor: Any
    chunk_size: int

    def partitions(self) -> Iterator[Sequence[Any]]:
        """The rows, a fetch at a time."""
        fetch, size = self.cursor.fetchmany, self.chunk_size
        while rows := fetch(size):
            yield rows

    def close(self) -> None:
        """Close the cursor."""
        self.cursor.close()


@attrs.frozen
class AsyncServerRows:
    """The async twin of :class:`ServerRows`."""

    cursor: Any
    chunk_size: int

    async def partitions(self) -> AsyncIterator[Sequence[Any]]:
        """The rows, a fetch at a time."""
        fetch, size = self.cursor.fetchmany, self.chunk_size
        while rows := await fetch(size):
            yield rows

    async def close(self) -> None:
        """Close the cursor."""
        await self.cursor.close()


@attrs.frozen
class DriverStream(ReportedStep):
    """Open a server-side cursor (``DECLARE ... CURSOR``) of a pre-compiled SELECT on the transaction's psycopg connection.

    The rows are then fetched ``chunk_size`` at a time by :class:`ServerRows`; the
    statement reported is the SELECT, once.
    """

    state: DriverTarget
    sql: str
    parameters: Sequence[Any]
    chunk_size: int

    path: ClassVar[FastPath] = "precompiled"

    def target(self) -> Any:
        """The transaction's connection."""
        return self.state.connection

    def hook(self) -> StatementHook | None:
        """The transaction's statement hook (see :func:`state_hook`)."""
        return state_hook(self.state)

    def statement(self) -> tuple[str, int]:
        """The SQL, one parameter row."""
        return self.sql, 1

    def _name(self) -> str:
        return f"hexalchemy_stream_{next(_stream_numbers)}"

    def perform(self) -> ServerRows:
        """Declare the cursor on the sync connection."""
        cursor = self.state.connection.connection.driver_connection.cursor(name=self._name())
        cursor.itersize = self.chunk_size
        cursor.execute(self.sql, self.parameters)
        return ServerRows(cursor, self.chunk_size)

    async def perform_async(self) -> AsyncServerRows:
        """Declare the cursor on the async connection."""
        connection = self.state.connection
        sync = connection.sync_connection
        fairy = (
            sync.connection
            if sync is not None and sync.in_transaction()
            else await connection.get_raw_connection()
        )
        cursor = fairy.driver_connection.cursor(name=self._name())
        cursor.itersize = self.chunk_size
        await cursor.execute(self.sql, self.parameters)
        return AsyncServerRows(cursor, self.chunk_size)

    def perform_bridged(self) -> Any:  # pragma: no cover - streams run outside the bridge
        """Not supported: streams run outside the greenlet bridge."""
        raise AssertionError("streams are not run inside the greenlet bridge")


class DriverStatement(Statement):
    """A statement, and the same statement pre-compiled for the psycopg cursor.

    The parameters are given by name, as to SQLAlchemy; the driver's positional
    parameters are taken from them in the compiled order, through the bind processors
    SQLAlchemy would apply (JSON goes as text, bytes as they are). Run on the driver while
    :func:`driver_path_allowed`, else through SQLAlchemy.
    """

    __slots__ = ("column_keys", "constants", "driver_parameters", "names", "processors", "sql")

    def __init__(self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None = None) -> None:
        super().__init__(statement)
        self.column_keys = None if column_keys is None else list(column_keys)
        compiled = statement.compile(dialect=dialect, column_keys=self.column_keys)
        self.sql, found = positional_sql(str(compiled))
        unescaped = unescaped_names(compiled)
        self.names: tuple[str, ...] = tuple(unescaped.get(name, name) for name in found)
        self.constants: dict[str, Any] = {}
        """The values of the statement's literals (bound parameters no caller gives)."""
        processors: list[Callable[[Any], Any] | None] = []
        for name in self.names:
            bind = compiled.binds[name]
            if bind.value is not None:
                self.constants[name] = bind.effective_value
            type_ = bind.type
            if isinstance(type_, JSON):
                processors.append(json_text)
            elif type(type_) in _PLAIN_BINARY:  # a subclass may have a bind processor of its own
                processors.append(
                    None
                )  # psycopg sends bytes as bytea itself, faster than SQLAlchemy's Binary wrapper
            else:
                processors.append(type_.dialect_impl(dialect).bind_processor(dialect))
        self.processors: tuple[Callable[[Any], Any] | None, ...] = tuple(processors)
        self.driver_parameters: Callable[[Mapping[str, Any]], Sequence[Any]] = self._parameters_function()
        """The positional parameters of :attr:`sql`, from the named ones."""

    def _parameters_function(self) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
        """What :attr:`driver_parameters` is: without literals or bind processors, the values looked up by name (in C from two)."""
        names = self.names
        if self.constants or any(self.processors):
            return self._processed_parameters
        if len(names) == 1:
            name = names[0]
            return lambda parameters: (parameters[name],)
        if not names:
            return lambda parameters: ()
        return operator.itemgetter(names[0], names[1], *names[2:])  # a tuple of the values, in C

    def _processed_parameters(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional parameters of :attr:`sql`: literals' values unless given, each through its bind processor (None as it is)."""
        given = {**self.constants, **parameters} if self.constants else parameters
        return [
            value if process is None or value is None else process(value)
            for value, process in zip(map(given.__getitem__, self.names), self.processors, strict=True)
        ]

    def run(
        self,
        state: DriverTarget,
        parameters: Mapping[str, Any],
        encoded: Mapping[str, JsonText] | None = None,
    ) -> Plan[list[Any]]:
        """Plan: execute on the psycopg cursor (see :func:`driver_path_allowed`), else through SQLAlchemy."""
        if driver_path_allowed(state):
            given = parameters if encoded is None else {**parameters, **encoded}
            rows: list[Any] = yield DriverQuery(state, self.sql, self.driver_parameters(given))
            return rows
        return (yield from super().run(state, parameters, encoded))

    def rows(self, state: DriverTarget, parameters: Mapping[str, Any]) -> list[Any]:
        """Execute on the psycopg cursor, no plan to drive (see :func:`driver_path_allowed`), else through SQLAlchemy."""
        if driver_path_allowed(state):
            rows: list[Any] = run_step(DriverQuery(state, self.sql, self.driver_parameters(parameters)))
            return rows
        return super().rows(state, parameters)

    async def rows_async(self, state: DriverTarget, parameters: Mapping[str, Any]) -> list[Any]:
        """:meth:`rows` through an async connection."""
        if driver_path_allowed(state):
            rows: list[Any] = await run_step_async(
                DriverQuery(state, self.sql, self.driver_parameters(parameters))
            )
            return rows
        return await super().rows_async(state, parameters)

    def stream(self, state: DriverTarget, parameters: Mapping[str, Any], chunk_size: int) -> RowChunks:
        """A server-side cursor of the psycopg connection (see :func:`driver_path_allowed`), else SQLAlchemy's."""
        if driver_path_allowed(state):
            rows: ServerRows = DriverStream(
                state, self.sql, self.driver_parameters(parameters), chunk_size
            ).run()
            return rows
        return super().stream(state, parameters, chunk_size)

    async def stream_async(
        self, state: DriverTarget, parameters: Mapping[str, Any], chunk_size: int
    ) -> AsyncRowChunks:
        """:meth:`stream` through an async connection."""
        if driver_path_allowed(state):
            rows: AsyncServerRows = await DriverStream(
                state, self.sql, self.driver_parameters(parameters), chunk_size
            ).run_async()
            return rows
        return await super().stream_async(state, parameters, chunk_size)


# ------------------------------------------------------------------------ the repositories


_BINARY_COPY: Final[dict[str, tuple[str, tuple[type, ...]]]] = {
    "uuid": ("uuid", (uuid.UUID,)),
    "varchar": ("varchar", (str,)),
    "text": ("text", (str,)),
    "smallint": ("int2", (int,)),
    "integer": ("int4", (int,)),
    "bigint": ("int8", (int,)),
    "numeric": ("numeric", (Decimal,)),
    "timestamp with time zone": ("timestamptz", (dt.datetime,)),
    "double precision": ("float8", (float,)),
    "boolean": ("bool", (bool,)),
    "date": ("date", (dt.date,)),
    "bytea": ("bytea", (bytes,)),
}
"""A column's PostgreSQL type (its DDL, length and precision left out) -> psycopg's name for it, and the Python types it takes."""


_TIMESTAMPTZ_OID: Final = 1184
"""PostgreSQL's ``timestamptz``: psycopg reads it as an aware datetime."""
_NUMERIC_OID: Final = 1700
"""PostgreSQL's ``numeric``: psycopg reads it as a ``Decimal``."""

_PLAIN_BINARY: Final = (LargeBinary, BYTEA)
"""Binary column types whose bind processing psycopg does itself (exact types: a subclass may process its values)."""

_KEEPS_TYPE: Final = (UtcDateTime, ExactDecimal, Boolean)
"""Column types whose bind processing gives a value of the field's own Python type (a datetime in UTC, a Decimal, a bool)."""


def binary_copy_types(mapping: TableMapping[Any, Any], dialect: Dialect) -> list[str] | None:
    """The PostgreSQL type of each mapped column, for COPY in binary format; None when a column rules it out.

    In binary format psycopg encodes a value by its column's type, not its own, and the server
    takes it as it is: so only columns whose values are known to be of the type's Python
    type qualify. Each must be a field stored as it is (a plain value, an enum, a datetime:
    no JSON, no custom hook), of a column type SQLAlchemy's own with no bind processor, or
    one of :data:`_KEEPS_TYPE` (a user's ``TypeDecorator`` may bind anything), whose
    DDL is one of :data:`_BINARY_COPY` and takes the field's Python type (an enum's values).
    The value rules have checked the values already (ints within the column's bits, lengths,
    precision), as for text.
    """
    types: list[str] = []
    for leaf, column in zip(mapping.leaves, mapping.columns, strict=True):
        column_type = column.type
        if leaf.kind not in ("plain", "enum", "datetime"):
            return None
        if type(column_type) not in _KEEPS_TYPE and (
            isinstance(column_type, TypeDecorator)
            or column_type.dialect_impl(dialect).bind_processor(dialect) is not None
        ):
            return None  # a value bound through a processor may be of another type than the field's
        ddl = column_type.compile(dialect=dialect).lower().split("(")[0].strip()
        found = _BINARY_COPY.get(ddl)
        if found is None:
            return None
        name, python_types = found
        givens: list[object] = (
            [type(member.value) for member in leaf.python_type] if leaf.kind == "enum" else [leaf.python_type]
        )
        for given in givens:
            if not (isinstance(given, type) and issubclass(given, python_types)):
                return None
            if given is bool and name != "bool":  # a bool is an int, but not to PostgreSQL
                return None
        types.append(name)
    return types


class RepositoryDriverPath(DriverRepositoryPath[T, K]):
    """A repository's hot operations on the psycopg cursor: reads, COPY of new aggregates, updates.

    ``range`` binds its keys as one array (``= ANY(%s)``); new aggregates go by COPY, in
    binary format where every column's type allows it; one new aggregate by the
    repository's ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, compiled for the cursor.
    """

    keys_read_as_uuid: ClassVar[bool] = True

    def __init__(self, core: RepositoryCore[T, K], dialect: Dialect, copy_sql: str) -> None:
        super().__init__(core, dialect)
        self.copy_sql = copy_sql
        self.copy_types = binary_copy_types(self.mapping, dialect)
        """The columns' types for a COPY in binary format, or None: COPY in text."""
        if core.range_by_list:
            self.range_sql = positional(core.range_statement.compile(dialect=dialect), ["hx_keys"])

    def bind_processor(self, column: Any) -> Callable[[Any], Any] | None:
        """The column type's, but JSON as text (psycopg would send a Python list as a PostgreSQL array)."""
        return json_text if isinstance(column.type, JSON) else super().bind_processor(column)

    def result_processor(self, column: Any, type_code: Any) -> Callable[[Any], Any] | None:
        """The column type's; for hexalchemy's own types, only what they would still do to psycopg's value.

        A ``UtcDateTime`` read as ``timestamptz`` (an aware datetime) is put in UTC
        (``driver_utc``: in C when NOT NULL), as the relay's rows are; an ``ExactDecimal`` read
        as ``numeric`` is psycopg's ``Decimal`` as it is. Both give what the type's own result
        processing gives, without its two Python calls a value.
        """
        column_type: object = column.type
        if type(column_type) is UtcDateTime and type_code == _TIMESTAMPTZ_OID:
            return driver_utc(column)
        if type(column_type) is ExactDecimal and type_code == _NUMERIC_OID:
            return None
        return super().result_processor(column, type_code)

    def insert(self, state: TransactionState, aggregate: T) -> Plan[bool]:
        """Plan: insert one new aggregate (``INSERT ... ON CONFLICT DO NOTHING RETURNING``); False for a duplicate key."""
        prepared = self._insert
        if prepared is None:  # a column default SQLAlchemy computes: its way
            return (yield from super().insert(state, aggregate))
        sql, insert_row = prepared
        rows = yield DriverQuery(state, sql, insert_row(aggregate))
        return len(rows) == 1

    @functools.cached_property
    def _insert(self) -> tuple[str, Any] | None:
        """The repository's insert compiled for the cursor, and the generated ``aggregate -> parameters``.

        None when the statement has a parameter that is not a mapped column (an unmapped
        column's client-side default).
        """
        mapping = self.mapping
        compiled = self.core.insert_statement.compile(
            dialect=self.dialect, column_keys=list(mapping.column_keys)
        )
        sql, found = positional_sql(str(compiled))
        unescaped = unescaped_names(compiled)
        index_of = {key: index for index, key in enumerate(mapping.column_keys)}
        processors = self._bind_processors()
        namespace: dict[str, Any] = {"to_values": mapping.to_values}
        values: list[str] = []
        for name in found:
            index = index_of.get(unescaped.get(name, name), -1)
            if index < 0:
                return None
            if processors[index] is None:
                values.append(f"v[{index}]")
            else:
                namespace[f"p{index}"] = processors[index]
                values.append(f"(None if v[{index}] is None else p{index}(v[{index}]))")
        source = f"def insert_row(o):\n    v = to_values(o)\n    return ({', '.join(values)},)\n"
        row = compile_function("insert_row", source, namespace, f"{self.entity_type.__qualname__}.insert_row")
        return sql, row

    def copy(self, state: TransactionState, rows: list[Any]) -> Plan[None]:
        """Plan: COPY the rows into the table (a duplicate key: ``ConstraintViolationError``).

        In binary format where every column's type allows it (:func:`binary_copy_types`),
        which halves what both psycopg and the server spend on a row; else in text.
        """
        types = self.copy_types
        if types is None:
            yield CopyRows(state.connection, self.copy_sql, rows)
        else:
            yield CopyRows(state.connection, f"{self.copy_sql} (FORMAT BINARY)", rows, types)


# ---------------------------------------------------------------------------- the relay
_JSON: Final = json.JSONDecoder()


def _load_json(data: str | bytes) -> Any:
    """A JSON value read from the database, as ``json.loads`` gives it, faster for compact text.

    ``json.loads`` of bytes first detects their encoding and checks for whitespace around the
    value: 4.6 µs for a small object on the reference machine, where ``raw_decode`` of the
    decoded text takes 0.9 µs. A ``json`` column keeps the text as it was written, so text
    with whitespace around the value (written by other hands) goes to ``json.loads``.
    """
    text = data if isinstance(data, str) else data.decode()
    try:
        value, end = _JSON.raw_decode(text)
    except ValueError:
        return json.loads(text)  # whitespace first, or not JSON at all: the full parser decides
    return value if end == len(text) else json.loads(text)


class RelayConnection(OwnConnection):
    """What a :class:`DriverQuery` needs of a relay plan's own connection: it, and a cursor made on first use.

    The cursor decodes JSON (the headers) with :func:`_load_json`, set with psycopg's
    ``set_json_loads`` on this cursor only: the connection (the application's, from the pool)
    stays as it was. psycopg is an optional dependency: imported here, on first use.
    """

    __slots__ = ("_cursor",)
    _cursor: Any

    @property
    def driver_cursor(self) -> Any:
        """The psycopg cursor of :attr:`connection`."""
        if self._cursor is None:
            from psycopg.types.json import set_json_loads

            self._cursor = self.pool_connection.driver_connection.cursor()
            set_json_loads(_load_json, self._cursor)
        return self._cursor

    @driver_cursor.setter
    def driver_cursor(self, cursor: Any) -> None:
        self._cursor = cursor
