"""PostgreSQL through psycopg: the fast paths that run below SQLAlchemy, on psycopg's own cursor.

- :class:`DriverQuery`, :class:`DriverExecuteMany`, :class:`CopyRows`: the plan steps that
  run on the transaction's psycopg cursor (sync, async, or inside the greenlet bridge).
- :class:`DriverStatement`: a statement compiled once to psycopg's positional SQL; each
  run only maps its named parameters through the bind processors SQLAlchemy would apply.
- :class:`RepositoryDriverPath`: a repository's ``get``, ``contains``, ``range``, COPY of
  new aggregates and version-checked updates on the cursor.
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
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar, cast

import attrs
from sqlalchemy import JSON, Boolean, Dialect, Uuid, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from hexalchemy._codegen import compile_function
from hexalchemy.sqlalchemy._operations import Call, DriverStep, Plan
from hexalchemy.sqlalchemy._precompiled import (
    AsyncRowChunks,
    DriverTarget,
    JsonText,
    RowChunks,
    Statement,
    driver_utc,
    json_text,
)
from hexalchemy.sqlalchemy._statement_hooks import (
    FastPath,
    FastPathStatement,
    StatementHook,
    hook_for,
    report_to,
)
from hexalchemy.sqlalchemy.backend import FAST_PATHS_EXECUTION_OPTION
from hexalchemy.sqlalchemy.postgresql.backend import PostgreSQLBackend
from hexalchemy.sqlalchemy.types import ExactDecimal, UtcDateTime

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._repository_core import RepositoryCore
    from hexalchemy.sqlalchemy.mapping import ChangedColumns, TableMapping
    from hexalchemy.sqlalchemy.transaction import TransactionState

__all__ = [
    "CopyRows",
    "DriverExecuteMany",
    "AsyncServerRows",
    "DriverQuery",
    "DriverStatement",
    "DriverStream",
    "RelayConnection",
    "ReportedStep",
    "RepositoryDriverPath",
    "ServerRows",
    "driver_path_allowed",
    "uses_psycopg",
]

T = TypeVar("T")
K = TypeVar("K")

_PLACEHOLDER: Final = re.compile(r"%%|%\((\w+)\)s")
"""A named parameter in SQL compiled for psycopg (``%%``, a literal ``%``, matched to be skipped)."""


def uses_psycopg(dialect: Dialect) -> bool:
    """Whether ``dialect`` talks to PostgreSQL through psycopg (the fast paths need its cursor)."""
    return dialect.driver == "psycopg"


def driver_path_allowed(state: DriverTarget) -> bool:
    """Whether the fast paths may bypass SQLAlchemy on this connection, now.

    Not when the engine echoes (its log would miss the statements), nor with a
    ``schema_translate_map`` (the SQL is compiled without one), nor with the execution
    option :data:`~hexalchemy.sqlalchemy.backend.FAST_PATHS_EXECUTION_OPTION` set to
    ``False``. Listeners do not matter:
    SQLAlchemy's cursor-execute listeners see the statements SQLAlchemy runs, and the
    fast paths report theirs to the engine's statement hook
    (:mod:`hexalchemy.sqlalchemy.tracing`). Asked at every statement: the options may
    change mid-transaction.
    """
    connection = state.connection
    sync: Any = connection.sync_connection if isinstance(connection, AsyncConnection) else connection
    options = sync.get_execution_options()
    return not (
        sync.engine.echo
        or options.get("schema_translate_map")
        or options.get(FAST_PATHS_EXECUTION_OPTION, True) is False
    )


# ------------------------------------------------------------------------------ the steps
class ReportedStep(DriverStep):
    """A driver step that reports its statement to the connection's statement hook, when there is one.

    Subclasses perform the statement in :meth:`perform`, :meth:`perform_async` and
    :meth:`perform_bridged`; without a hook nothing is timed.
    """

    __slots__ = ()
    path: ClassVar[FastPath]

    def target(self) -> Any:
        """The SQLAlchemy connection (sync or async) the statement runs on."""
        raise NotImplementedError

    def hook(self) -> StatementHook | None:
        """The hook to report the statement to (None: none, and nothing is timed)."""
        return hook_for(self.target())

    def statement(self) -> tuple[str, int]:
        """The SQL text sent, and how many parameter rows go with it."""
        raise NotImplementedError

    def perform(self) -> Any:
        """Run the statement with a sync driver."""
        raise NotImplementedError

    async def perform_async(self) -> Any:
        """Run the statement with an async driver."""
        raise NotImplementedError

    def perform_bridged(self) -> Any:
        """Run the statement with an async driver from inside the greenlet bridge."""
        raise NotImplementedError

    def _report(self, hook: StatementHook, wall: int, started: int, error: BaseException | None) -> None:
        duration = time.perf_counter_ns() - started
        sql, rows = self.statement()
        url = self.target().engine.url
        report_to(
            hook, FastPathStatement(self.path, sql, rows, wall, duration, PostgreSQLBackend.name, url, error)
        )

    def run(self) -> Any:
        """Run the statement with a sync driver, reported."""
        hook = self.hook()
        if hook is None:
            return self.perform()
        wall, started = time.time_ns(), time.perf_counter_ns()
        try:
            result = self.perform()
        except BaseException as error:
            self._report(hook, wall, started, error)
            raise
        self._report(hook, wall, started, None)
        return result

    async def run_async(self) -> Any:
        """Run the statement with an async driver, reported."""
        hook = self.hook()
        if hook is None:
            return await self.perform_async()
        wall, started = time.time_ns(), time.perf_counter_ns()
        try:
            result = await self.perform_async()
        except BaseException as error:
            self._report(hook, wall, started, error)
            raise
        self._report(hook, wall, started, None)
        return result

    def run_bridged(self) -> Any:
        """Run the statement with an async driver from inside the greenlet bridge, reported."""
        hook = self.hook()
        if hook is None:
            return self.perform_bridged()
        wall, started = time.time_ns(), time.perf_counter_ns()
        try:
            result = self.perform_bridged()
        except BaseException as error:
            self._report(hook, wall, started, error)
            raise
        self._report(hook, wall, started, None)
        return result


def _type_codes(cursor: Any) -> list[Any]:
    return [column.type_code for column in cursor.description]


_KEPT_CURSOR: Final = "hexalchemy.driver_cursor"
"""The key of the fast paths' psycopg cursor in the pool connection's ``info`` (see :func:`_kept_cursor`)."""


def _kept_cursor(fairy: Any) -> Any:
    """The fast paths' cursor of a pool connection (SQLAlchemy's ``PoolProxiedConnection``), made once per DBAPI connection.

    Kept in the connection's public ``info`` dictionary, which lives as long as the DBAPI
    connection (cleared when it is invalidated): a transaction reuses the cursor of the
    connection it checked out, as code written by hand keeps its cursor, instead of making
    one (with its adapters map) per transaction.
    """
    info = fairy.info
    cursor = info.get(_KEPT_CURSOR)
    if cursor is None or cursor.closed:
        cursor = info[_KEPT_CURSOR] = fairy.driver_connection.cursor()
    return cursor


def _cursor_sync(state: DriverTarget) -> Any:
    cursor = state.driver_cursor
    if cursor is None:
        cursor = state.driver_cursor = _kept_cursor(state.connection.connection)
    return cursor


async def _cursor_async(state: DriverTarget) -> Any:
    cursor = state.driver_cursor
    if cursor is None:
        sync = state.connection.sync_connection
        if sync is not None and sync.in_transaction():
            # A connection inside a transaction holds its pool connection: no I/O, no bridge.
            fairy = sync.connection
        else:
            fairy = await state.connection.get_raw_connection()
        cursor = state.driver_cursor = _kept_cursor(fairy)
    return cursor


def _state_hook(state: DriverTarget) -> StatementHook | None:
    """The statement hook of ``state``'s connection (see ``_statement_hooks.hook_for``), kept on ``state``.

    Resolved again whenever the connection's execution options are another object (SQLAlchemy
    makes a new one at each change: a hook set mid-transaction takes effect at once). So a
    tracer provider set globally while a transaction runs is seen from its next one.
    """
    connection = state.connection
    sync: Any = connection.sync_connection if isinstance(connection, AsyncConnection) else connection
    options = sync.get_execution_options()
    resolved = state.statement_hook
    if resolved is None or resolved[0] is not options:
        resolved = state.statement_hook = (options, hook_for(connection))
    hook: StatementHook | None = resolved[1]
    return hook


def _rows(cursor: Any, rows: list[tuple[Any, ...]], describe: bool) -> Any:
    return (rows, _type_codes(cursor)) if describe else rows


def _no_rows(cursor: Any, error: Exception) -> list[tuple[Any, ...]]:
    """``[]`` when ``error`` is psycopg's refusal to fetch from a statement that returns no rows; else raise it."""
    if cursor.description is not None:  # read only here: psycopg builds it anew on each access
        raise error
    return []


class DriverQuery(ReportedStep):
    """Run a pre-compiled statement on the psycopg cursor of transaction ``state``; return its rows.

    The hot paths use it to skip SQLAlchemy's per-execution work. The cursor is the pool
    connection's (:func:`_kept_cursor`), kept on the state. A statement that returns no rows gives ``[]``.
    ``describe``: also return the type codes of the result's columns, ``(rows, type_codes)``.
    A plain slotted class: one is made per statement.
    """

    __slots__ = ("describe", "parameters", "sql", "state")
    path: ClassVar[FastPath] = "precompiled"

    def __init__(
        self, state: DriverTarget, sql: str, parameters: Sequence[Any], describe: bool = False
    ) -> None:
        self.state = state
        self.sql = sql
        self.parameters = parameters
        self.describe = describe

    def target(self) -> Any:
        """The transaction's connection."""
        return self.state.connection

    def hook(self) -> StatementHook | None:
        """The transaction's statement hook (see :func:`_state_hook`)."""
        return _state_hook(self.state)

    def statement(self) -> tuple[str, int]:
        """The SQL, one parameter row."""
        return self.sql, 1

    def perform(self) -> Any:
        """Execute on the sync cursor."""
        cursor = _cursor_sync(self.state)
        cursor.execute(self.sql, self.parameters)
        try:
            rows = cursor.fetchall()
        except Exception as error:
            rows = _no_rows(cursor, error)
        return _rows(cursor, rows, self.describe)

    async def perform_async(self) -> Any:
        """Execute on the async cursor."""
        cursor = await _cursor_async(self.state)
        await cursor.execute(self.sql, self.parameters)
        try:
            rows = await cursor.fetchall()
        except Exception as error:
            rows = _no_rows(cursor, error)
        return _rows(cursor, rows, self.describe)

    def perform_bridged(self) -> Any:
        """Execute on the async cursor, from inside the greenlet bridge."""
        cursor = _cursor_sync(self.state)
        await_(cursor.execute(self.sql, self.parameters))
        try:
            rows = await_(cursor.fetchall())
        except Exception as error:
            rows = _no_rows(cursor, error)
        return _rows(cursor, rows, self.describe)


class DriverExecuteMany(ReportedStep):
    """Run a pre-compiled statement once per parameter row on the psycopg cursor; return the rowcount."""

    __slots__ = ("rows", "sql", "state")
    path: ClassVar[FastPath] = "executemany"

    def __init__(self, state: DriverTarget, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.state = state
        self.sql = sql
        self.rows = rows

    def target(self) -> Any:
        """The transaction's connection."""
        return self.state.connection

    def hook(self) -> StatementHook | None:
        """The transaction's statement hook (see :func:`_state_hook`)."""
        return _state_hook(self.state)

    def statement(self) -> tuple[str, int]:
        """The SQL, and the number of parameter rows."""
        return self.sql, len(self.rows)

    def perform(self) -> int:
        """Execute on the sync cursor."""
        cursor = _cursor_sync(self.state)
        cursor.executemany(self.sql, self.rows)
        rowcount: int = cursor.rowcount
        return rowcount

    async def perform_async(self) -> int:
        """Execute on the async cursor."""
        cursor = await _cursor_async(self.state)
        await cursor.executemany(self.sql, self.rows)
        rowcount: int = cursor.rowcount
        return rowcount

    def perform_bridged(self) -> int:
        """Execute on the async cursor, from inside the greenlet bridge."""
        cursor = _cursor_sync(self.state)
        await_(cursor.executemany(self.sql, self.rows))
        rowcount: int = cursor.rowcount
        return rowcount


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
        """The transaction's statement hook (see :func:`_state_hook`)."""
        return _state_hook(self.state)

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


# ------------------------------------------------------------------- pre-compiled statements
def _unescaped_names(compiled: Any) -> dict[str, str]:
    """Each escaped bind name of ``compiled`` (a SQLAlchemy ``Compiled``), as its SQL spells it, to the name it escapes."""
    escaped_names: Mapping[str, str] = compiled.escaped_bind_names or {}
    return {escaped: name for name, escaped in escaped_names.items()}


def _positional_sql(compiled: str) -> tuple[str, list[str]]:
    """Compiled ``%(name)s`` SQL as ``%s`` SQL, and the names of its parameters in order (``%%`` kept)."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%%"
        names.append(name)
        return "%s"

    return _PLACEHOLDER.sub(replace, compiled), names


def _positional(compiled: str, names: Sequence[str]) -> str:
    """``%(name)s`` placeholders as ``%s``, checking that they are exactly ``names``, in that order."""
    sql, found = _positional_sql(compiled)
    if found != list(names):  # pragma: no cover - a statement built here names its parameters
        raise AssertionError(f"unexpected placeholders {found} in {compiled!r}")
    return sql


class DriverStatement(Statement):
    """A statement, and the same statement pre-compiled for the psycopg cursor.

    The parameters are given by name, as to SQLAlchemy; the driver's positional
    parameters are taken from them in the compiled order, through the bind processors
    SQLAlchemy would apply (JSON goes as text). Run on the driver while
    :func:`driver_path_allowed`, else through SQLAlchemy.
    """

    __slots__ = ("column_keys", "constants", "names", "processors", "sql")

    def __init__(self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None = None) -> None:
        super().__init__(statement)
        self.column_keys = None if column_keys is None else list(column_keys)
        compiled = statement.compile(dialect=dialect, column_keys=self.column_keys)
        self.sql, found = _positional_sql(str(compiled))
        unescaped = _unescaped_names(compiled)
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
            else:
                processors.append(type_.dialect_impl(dialect).bind_processor(dialect))
        self.processors: tuple[Callable[[Any], Any] | None, ...] = tuple(processors)

    def driver_parameters(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional parameters of :attr:`sql`."""
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
def _key_param(index: int) -> str:
    return f"hx_key_{index}"


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


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


class RepositoryDriverPath(Generic[T, K]):
    """A repository's hot operations on the psycopg cursor: reads, COPY of new aggregates, updates.

    Rows come back as the driver gives them; the columns' result processors (for example
    :class:`~hexalchemy.sqlalchemy.UtcDateTime`) are applied by a generated function
    before ``from_row``.
    """

    def __init__(self, core: RepositoryCore[T, K], dialect: Dialect, copy_sql: str) -> None:
        self.core = core
        self.dialect = dialect
        self.mapping = mapping = core.mapping
        self.spec = core.spec
        self.entity_type = core.entity_type
        self.copy_threshold = core.copy_threshold
        self.copy_sql = copy_sql
        self.copy_types = binary_copy_types(mapping, dialect)
        """The columns' types for a COPY in binary format, or None: COPY in text."""
        key_names = [_key_param(index) for index in range(len(core.key_keys))]
        self.get_sql = _positional(str(core.get_statement.compile(dialect=dialect)), key_names)
        self.contains_sql = _positional(str(core.contains_statement.compile(dialect=dialect)), key_names)
        self.range_sql: str | None = None
        if core.range_by_list:
            self.range_sql = _positional(str(core.range_statement.compile(dialect=dialect)), ["hx_keys"])
        key_types = [column.type for column in mapping.key_columns]
        self.key_processors = [key_type.bind_processor(dialect) for key_type in key_types]
        self._plain_key = len(self.key_processors) == 1 and self.key_processors[0] is None
        """One key column, sent as it is (a checked key is its own parameter)."""
        self.from_driver_row: Any = None  # built from the first result's column type codes
        self.update_sql: str | None = None
        self._changed_updates: dict[int, tuple[str, Any]] = {}
        self._prepare_updates()

    def _prepare_updates(self) -> None:
        """Pre-compile the version-checked UPDATE and generate its positional parameter rows."""
        mapping = self.mapping
        if mapping.version_column is None:
            return
        key_keys = self.core.key_keys
        expected = self.core.expected_version_parameter
        set_indexes = [i for i, column in enumerate(mapping.columns) if column.key not in key_keys]
        key_indexes = [mapping.columns.index(column) for column in mapping.key_columns]
        version_index = mapping.columns.index(mapping.version_column)
        statement = (
            update(mapping.table)
            .where(
                *[column == bindparam(_key_param(i)) for i, column in enumerate(mapping.key_columns)],
                mapping.version_column == bindparam(expected),
            )
            .values({mapping.columns[i]: bindparam(f"hx_set_{i}") for i in set_indexes})
        )
        names = [f"hx_set_{i}" for i in set_indexes] + [_key_param(i) for i in range(len(key_indexes))]
        self.update_sql = _positional(str(statement.compile(dialect=self.dialect)), [*names, expected])
        processors = self._bind_processors()
        namespace: dict[str, Any] = {"to_values": mapping.to_values}
        values: list[str] = []
        for index in [*set_indexes, *key_indexes]:
            if index == version_index:
                values.append("e + 1")
            elif processors[index] is None:
                values.append(f"v[{index}]")
            else:
                namespace[f"p{index}"] = processors[index]
                values.append(f"(None if v[{index}] is None else p{index}(v[{index}]))")
        source = f"def update_row(o, e):\n    v = to_values(o)\n    return ({', '.join(values)}, e)\n"
        self.update_row: Any = compile_function(
            "update_row", source, namespace, f"{self.entity_type.__qualname__}.update_row"
        )

    def _bind_processors(self) -> list[Any]:
        """Per column: what turns a mapped value into what psycopg should receive (None: as is)."""
        dialect = self.dialect
        # psycopg would send a Python list as a PostgreSQL array: JSON goes as text.
        return [
            _json_text
            if isinstance(column.type, JSON)
            else column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in self.mapping.columns
        ]

    def _build_converter(self, type_codes: Sequence[Any]) -> Any:
        """Generate ``row -> aggregate`` (``TableMapping.row_reader``) applying each column's result processor inline.

        The processors are asked with the driver's type codes, as SQLAlchemy itself does:
        without them, NUMERIC would be read through a float. A ``UtcDateTime`` column's
        is :func:`~hexalchemy.sqlalchemy._precompiled.driver_utc`, as on every driver path.
        """
        dialect = self.dialect
        processors: list[Callable[[Any], Any] | None] = []
        for column, type_code in zip(self.mapping.columns, type_codes, strict=True):
            utc_reader = driver_utc(column)
            if utc_reader is not None:
                processors.append(utc_reader)
            elif isinstance(column.type, ExactDecimal):
                # psycopg already returns NUMERIC as Decimal: ExactDecimal has nothing to do there.
                processors.append(None)
            else:
                processors.append(column.type.dialect_impl(dialect).result_processor(dialect, type_code))
        return self.mapping.row_reader(processors)

    def _rows(self, state: TransactionState, sql: str, parameters: Sequence[Any]) -> Plan[list[Any]]:
        """Rows of a pre-compiled read of the mapped columns; builds the converter on first use."""
        if self.from_driver_row is None:
            rows, type_codes = yield DriverQuery(state, sql, parameters, describe=True)
            self.from_driver_row = self._build_converter(type_codes)
        else:
            rows = yield DriverQuery(state, sql, parameters)
        result: list[Any] = rows
        return result

    def _key_params(self, key: K) -> tuple[Any, ...]:
        if self._plain_key:
            return (key,)
        values = self.spec.key_values(key)
        if not any(self.key_processors):
            return values
        return tuple(
            value if processor is None else processor(value)
            for value, processor in zip(values, self.key_processors, strict=True)
        )

    # ------------------------------------------------------------------------- the protocol
    def usable(self, state: TransactionState) -> bool:
        """Whether the driver path may run now (see :func:`driver_path_allowed`)."""
        return driver_path_allowed(state)

    def get_or_none(self, state: TransactionState, key: K) -> Plan[T | None]:
        """Plan: the aggregate with this key, or None (one statement, its row read by the generated reader)."""
        read = self.from_driver_row
        if read is None:
            rows, type_codes = yield DriverQuery(state, self.get_sql, self._key_params(key), describe=True)
            read = self.from_driver_row = self._build_converter(type_codes)
        else:
            rows = yield DriverQuery(state, self.get_sql, self._key_params(key))
        return read(rows[0]) if rows else None

    def contains(self, state: TransactionState, key: K) -> Plan[bool]:
        """Plan: whether the key exists."""
        rows = yield DriverQuery(state, self.contains_sql, self._key_params(key))
        return bool(rows)

    @property
    def ranges(self) -> bool:
        """Whether :meth:`range` can serve this repository (one key column, bound as an array)."""
        return self.range_sql is not None

    def range(
        self, state: TransactionState, wanted: list[K], distinct: list[K], loaded: dict[Any, T] | None
    ) -> Plan[list[T]]:
        """Plan: the aggregates for ``wanted`` (``distinct``: the same keys once each), in order, missing ones left out.

        Each one read is remembered in ``loaded`` (when given) by ``RepositoryCore.loaded_key``.
        """
        assert self.range_sql is not None
        key_of = self.spec.key_of
        processor = self.key_processors[0]
        keys = distinct if processor is None else [processor(key) for key in distinct]
        rows = yield from self._rows(state, self.range_sql, (keys,))
        from_driver_row = self.from_driver_row
        if isinstance(self.mapping.key_columns[0].type, Uuid):
            # UUID hashes in Python; its int hashes in C: key the reordering by the int
            # (check_keys made every key a UUID).
            key_index = self.core.key_index
            by_int = {row[key_index].int: from_driver_row(row) for row in rows}
            if loaded is not None:
                loaded.update(by_int)  # loaded_key of a UUID key: its int
            uuids = cast(list[uuid.UUID], wanted)
            return [found for key in uuids if (found := by_int.get(key.int)) is not None]
        by_key: dict[K, T] = {}
        for row in rows:
            aggregate = from_driver_row(row)
            by_key[key_of(aggregate)] = aggregate
        if loaded is not None:
            loaded.update(by_key)
        return [by_key[key] for key in wanted if key in by_key]

    def insert(self, state: TransactionState, aggregate: T) -> Plan[bool]:
        """Plan: insert one new aggregate (``INSERT ... ON CONFLICT DO NOTHING RETURNING``); False for a duplicate key."""
        prepared = self._insert
        if prepared is None:  # a column default SQLAlchemy computes: its way
            result = yield Call(
                state.connection.execute, (self.core.insert_statement, self.mapping.to_row(aggregate))
            )
            return len(result.all()) == 1
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
        sql, found = _positional_sql(str(compiled))
        unescaped = _unescaped_names(compiled)
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

    def copies(self, count: int) -> bool:
        """Whether ``count`` new aggregates go by COPY (at least ``copy_threshold``)."""
        return self.copy_threshold is not None and count >= self.copy_threshold

    def copy_rows(self, aggregates: Sequence[T]) -> list[Any]:
        """The COPY rows of new aggregates (their columns' bind processors applied)."""
        copy_row = self._copy_row
        return [copy_row(aggregate) for aggregate in aggregates]

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

    @property
    def updates(self) -> bool:
        """Whether :meth:`update` can serve this repository (it has a version column)."""
        return self.update_sql is not None

    def update_rows(self, updates: Sequence[tuple[T, int]], changed: ChangedColumns[T] | None) -> list[Any]:
        """The positional parameter rows of the version-checked updates of ``(aggregate, expected version)``.

        ``changed``: the columns set (with the version), or None for every column.
        """
        update_row = self.update_row if changed is None else self._changed_update(changed)[1]
        return [update_row(aggregate, version) for aggregate, version in updates]

    def update(
        self, state: TransactionState, rows: list[Any], changed: ChangedColumns[T] | None
    ) -> Plan[int]:
        """Plan: run the updates; return how many rows matched."""
        sql = self.update_sql if changed is None else self._changed_update(changed)[0]
        assert sql is not None
        rowcount: int = yield DriverExecuteMany(state, sql, rows)
        return rowcount

    def _changed_update(self, changed: ChangedColumns[T]) -> tuple[str, Any]:
        """The SQL and the generated row function of the update of ``changed`` columns (made once per set)."""
        found = self._changed_updates.get(changed.mask)
        if found is None:
            found = self._changed_updates[changed.mask] = self._prepare_changed_update(changed)
        return found

    def _prepare_changed_update(self, changed: ChangedColumns[T]) -> tuple[str, Any]:
        mapping = self.mapping
        version = mapping.version_column
        assert version is not None
        expected = self.core.expected_version_parameter
        key_columns = mapping.key_columns
        set_columns = [mapping.columns[index] for index in changed.indexes]
        statement = (
            update(mapping.table)
            .where(
                *[column == bindparam(_key_param(i)) for i, column in enumerate(key_columns)],
                version == bindparam(expected),
            )
            .values({column: bindparam(f"hx_set_{i}") for i, column in enumerate([*set_columns, version])})
        )
        names = [f"hx_set_{i}" for i in range(len(set_columns) + 1)]
        names += [_key_param(i) for i in range(len(key_columns))]
        sql = _positional(str(statement.compile(dialect=self.dialect)), [*names, expected])
        processors = self._bind_processors()
        namespace: dict[str, Any] = dict(changed.namespace)
        values: list[str] = []
        for index in changed.indexes:
            if processors[index] is None:
                values.append(f"v{index}")
            else:
                namespace[f"_p{index}"] = processors[index]
                values.append(f"(None if v{index} is None else _p{index}(v{index}))")
        values.append("e + 1")
        for position, field in enumerate(self.spec.key_fields):
            processor = self.key_processors[position]
            if processor is None:
                values.append(f"o.{field}")
            else:
                namespace[f"_k{position}"] = processor
                values.append(f"_k{position}(o.{field})")
        body = "".join(f"{line}\n" for line in changed.lines)
        source = f"def update_row(o, e):\n{body}    return ({', '.join(values)}, e)\n"
        row = compile_function(
            "update_row", source, namespace, f"{self.entity_type.__qualname__}.update_row_{changed.mask}"
        )
        return sql, row

    @functools.cached_property
    def _copy_row(self) -> Any:
        """Generated ``aggregate -> COPY row``, applying the columns' bind processors inline."""
        processors = self._bind_processors()
        namespace: dict[str, Any] = {"to_values": self.mapping.to_values}
        values: list[str] = []
        for index, processor in enumerate(processors):
            if processor is None:
                values.append(f"v[{index}]")
            else:
                namespace[f"p{index}"] = processor
                values.append(f"(None if v[{index}] is None else p{index}(v[{index}]))")
        source = f"def copy_row(o):\n    v = to_values(o)\n    return ({', '.join(values)},)\n"
        return compile_function("copy_row", source, namespace, f"{self.entity_type.__qualname__}.copy_row")


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


class RelayConnection:
    """What a :class:`DriverQuery` needs of a relay plan's own connection: it, and a cursor made on first use.

    The cursor decodes JSON (the headers) with :func:`_load_json`, set with psycopg's
    ``set_json_loads`` on this cursor only: the connection (the application's, from the pool)
    stays as it was. psycopg is an optional dependency: imported here, on first use.
    """

    __slots__ = ("_cursor", "connection", "statement_hook")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._cursor: Any = None
        self.statement_hook: tuple[Any, Any] | None = None

    @property
    def driver_cursor(self) -> Any:
        """The psycopg cursor of :attr:`connection`."""
        if self._cursor is None:
            sync = getattr(self.connection, "sync_connection", None) or self.connection
            from psycopg.types.json import set_json_loads

            self._cursor = sync.connection.driver_connection.cursor()
            set_json_loads(_load_json, self._cursor)
        return self._cursor

    @driver_cursor.setter
    def driver_cursor(self, cursor: Any) -> None:
        self._cursor = cursor
