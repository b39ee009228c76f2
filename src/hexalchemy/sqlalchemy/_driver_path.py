"""The driver fast paths every backend shares: steps run on the driver's own cursor, below SQLAlchemy.

- :class:`ReportedStep`, :class:`DriverQuery`, :class:`DriverExecuteMany`, :class:`DriverStatements`: the plan steps
  that run on the transaction's driver cursor (sync, async, or inside the greenlet bridge),
  each reporting its statement to the connection's statement hook.
- :class:`DriverRepositoryPath`: a repository's ``get``, ``contains``, ``range`` and
  version-checked updates on that cursor (a ``RepositoryPath``); a backend subclasses it
  for what its driver does its own way (the bulk insert, how a list of keys is bound, how
  a value read is converted).

The cursor is a DB-API one (psycopg's, PyMySQL's, aiomysql's): ``execute``, ``executemany``,
``fetchall``, ``rowcount`` and ``description``, awaited where the driver is async. Every
path steps aside, to SQLAlchemy, while :func:`driver_path_allowed` says no: the engine
echoes, a schema is translated, or the execution option
:data:`~hexalchemy.sqlalchemy.backend.FAST_PATHS_EXECUTION_OPTION` is off. SQLAlchemy's
listeners do not see these statements; each step reports its own to the connection's
statement hook (see :mod:`hexalchemy.sqlalchemy.tracing`), so a tracer attached never
changes the path.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar, cast

from sqlalchemy import Dialect, bindparam, update
from sqlalchemy.util import await_

from hexalchemy._codegen import compile_function
from hexalchemy.sqlalchemy._operations import Call, DriverStep, Plan
from hexalchemy.sqlalchemy._precompiled import DriverTarget
from hexalchemy.sqlalchemy._statement_hooks import (
    FastPath,
    FastPathStatement,
    StatementHook,
    hook_for,
    report_to,
)
from hexalchemy.sqlalchemy.backend import FAST_PATHS_EXECUTION_OPTION, Backend, backend_for

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._repository_core import RepositoryCore
    from hexalchemy.sqlalchemy.mapping import ChangedColumns
    from hexalchemy.sqlalchemy.transaction import TransactionState

__all__ = [
    "DriverExecuteMany",
    "DriverQuery",
    "DriverRepositoryPath",
    "DriverStatements",
    "ReportedStep",
    "TransactionStep",
    "driver_path_allowed",
    "fast_paths_on",
    "positional",
    "positional_sql",
    "state_hook",
    "unescaped_names",
]

T = TypeVar("T")
K = TypeVar("K")

_PLACEHOLDER: Final = re.compile(r"%%|%\((\w+)\)s")
"""A named parameter in SQL compiled for the ``pyformat`` paramstyle (``%%``, a literal ``%``, matched to be skipped)."""


def fast_paths_on(holder: Any) -> bool:
    """Whether the driver fast paths may bypass SQLAlchemy under ``holder``'s execution options (a ``Connection`` or an ``Engine``), now.

    Not when the engine echoes (its log would miss the statements), nor with a
    ``schema_translate_map`` (the SQL is compiled without one), nor with
    :data:`~hexalchemy.sqlalchemy.backend.FAST_PATHS_EXECUTION_OPTION` set to ``False``.
    """
    return _allowed(holder, holder.get_execution_options())


def _allowed(holder: Any, options: Any) -> bool:
    return not (
        holder.engine.echo
        or options.get("schema_translate_map")
        or options.get(FAST_PATHS_EXECUTION_OPTION, True) is False
    )


def _route(state: DriverTarget) -> tuple[Any, bool, StatementHook | None]:
    """What the fast paths need to know of ``state``'s connection: ``(options, allowed, hook)``.

    ``options`` are the execution options in force (``state.options_holder()``'s: its
    sync connection's, or a light transaction's engine's until it makes one), ``allowed``
    whether the fast paths may run (:func:`fast_paths_on`), ``hook`` its statement hook
    (``_statement_hooks.hook_for``). Kept on ``state`` (its ``statement_hook``) and resolved
    again whenever the execution options are another object: SQLAlchemy makes a new one at
    each change, so an option or a hook set mid-transaction takes effect at once, and one
    lookup per statement answers both questions. The engine's ``echo`` is read then too:
    SQLAlchemy's own connection reads it once, when it is made.
    """
    holder = state.options_holder()
    options = holder.get_execution_options()
    route: tuple[Any, bool, StatementHook | None] | None = state.statement_hook
    if route is None or route[0] is not options:
        route = state.statement_hook = (options, _allowed(holder, options), hook_for(holder))
    return route


def driver_path_allowed(state: DriverTarget) -> bool:
    """Whether the fast paths may bypass SQLAlchemy on this connection, now (see :func:`fast_paths_on`).

    Listeners do not matter: SQLAlchemy's cursor-execute listeners see the statements
    SQLAlchemy runs, and the fast paths report theirs to the engine's statement hook
    (:mod:`hexalchemy.sqlalchemy.tracing`). Asked at every statement: the options may
    change mid-transaction (see :func:`_route`).
    """
    return _route(state)[1]


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
        engine = self.target().engine
        system = backend_for(engine.dialect).name
        report_to(hook, FastPathStatement(self.path, sql, rows, wall, duration, system, engine.url, error))

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
    return [column[1] for column in cursor.description]  # DB-API: a column's second item is its type code


_KEPT_CURSOR: Final = "hexalchemy.driver_cursor"
"""The key of the fast paths' driver cursor in the pool connection's ``info`` (see :func:`_kept_cursor`)."""


def _kept_cursor(fairy: Any, backend: Backend) -> Any:
    """The fast paths' cursor of a pool connection (SQLAlchemy's ``PoolProxiedConnection``) if it made one, else None.

    Kept in the connection's public ``info`` dictionary, which lives as long as the DBAPI
    connection (cleared when it is invalidated): a transaction reuses the cursor of the
    connection it checked out, as code written by hand keeps its cursor, instead of making
    one per transaction.
    """
    cursor = fairy.info.get(_KEPT_CURSOR)
    return None if cursor is None or not backend.cursor_open(cursor) else cursor


def _cursor_sync(state: DriverTarget) -> Any:
    """The driver cursor of transaction ``state`` (sync, or an async driver's inside the greenlet bridge), made once per DBAPI connection.

    A driver whose ``cursor()`` is awaited (aiomysql) is awaited through the bridge: it does no I/O.
    """
    cursor = state.driver_cursor
    if cursor is None:
        fairy = state.pool_connection
        backend = backend_for(state.options_holder().dialect)
        cursor = _kept_cursor(fairy, backend)
        if cursor is None:
            made = backend.driver_cursor(fairy)
            cursor = fairy.info[_KEPT_CURSOR] = await_(made) if inspect.isawaitable(made) else made
        state.driver_cursor = cursor
    return cursor


async def _cursor_async(state: DriverTarget) -> Any:
    """The async driver cursor of transaction ``state`` (see :func:`_cursor_sync`)."""
    cursor = state.driver_cursor
    if cursor is None:
        sync = state.connection.sync_connection
        if sync is not None and sync.in_transaction():
            # A connection inside a transaction holds its pool connection: no I/O, no bridge.
            fairy = sync.connection
        else:
            fairy = await state.connection.get_raw_connection()
        backend = backend_for(state.connection.dialect)
        cursor = _kept_cursor(fairy, backend)
        if cursor is None:
            made = backend.driver_cursor(fairy)
            cursor = fairy.info[_KEPT_CURSOR] = (await made) if inspect.isawaitable(made) else made
        state.driver_cursor = cursor
    return cursor


def state_hook(state: DriverTarget) -> StatementHook | None:
    """The statement hook of ``state``'s connection (see ``_statement_hooks.hook_for``), kept on ``state``.

    Resolved again whenever the connection's execution options are another object (see
    :func:`_route`): a hook set mid-transaction takes effect at once. So a tracer provider
    set globally while a transaction runs is seen from its next one.
    """
    return _route(state)[2]


def _no_rows(cursor: Any, error: Exception) -> list[tuple[Any, ...]]:
    """``[]`` when ``error`` is the driver's refusal to fetch from a statement that returns no rows (psycopg's); else raise it."""
    if cursor.description is not None:  # read only here: psycopg builds it anew on each access
        raise error
    return []


class TransactionStep(ReportedStep):
    """A reported step on the driver cursor of transaction ``state`` (a subclass sets it), reported to its connection's hook."""

    __slots__ = ()
    state: DriverTarget

    def target(self) -> Any:
        """What holds the transaction's options: its sync connection, or its engine (a light transaction's, until it makes one)."""
        return self.state.options_holder()

    def hook(self) -> StatementHook | None:
        """The transaction's statement hook (see :func:`state_hook`)."""
        return state_hook(self.state)


class DriverQuery(TransactionStep):
    """Run a pre-compiled statement on the driver cursor of transaction ``state``; return its rows.

    The hot paths use it to skip SQLAlchemy's per-execution work. The cursor is the pool
    connection's (:func:`_cursor_sync`), kept on the state. A statement that returns no rows gives ``[]``.
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

    def statement(self) -> tuple[str, int]:
        """The SQL, one parameter row."""
        return self.sql, 1

    def perform(self) -> Any:
        """Execute on the sync cursor."""
        cursor = self.state.driver_cursor
        if cursor is None:
            cursor = _cursor_sync(self.state)
        cursor.execute(self.sql, self.parameters)
        try:
            rows = cursor.fetchall()
        except Exception as error:
            rows = _no_rows(cursor, error)
        return (rows, _type_codes(cursor)) if self.describe else rows

    async def perform_async(self) -> Any:
        """Execute on the async cursor."""
        cursor = self.state.driver_cursor
        if cursor is None:
            cursor = await _cursor_async(self.state)
        await cursor.execute(self.sql, self.parameters)
        try:
            rows = await cursor.fetchall()
        except Exception as error:
            rows = _no_rows(cursor, error)
        return (rows, _type_codes(cursor)) if self.describe else rows

    def perform_bridged(self) -> Any:
        """Execute on the async cursor, from inside the greenlet bridge."""
        cursor = _cursor_sync(self.state)
        await_(cursor.execute(self.sql, self.parameters))
        try:
            rows = await_(cursor.fetchall())
        except Exception as error:
            rows = _no_rows(cursor, error)
        return (rows, _type_codes(cursor)) if self.describe else rows


class DriverExecuteMany(TransactionStep):
    """Run a pre-compiled statement once per parameter row on the driver cursor; return the rowcount."""

    __slots__ = ("rows", "sql", "state")
    path: ClassVar[FastPath] = "executemany"

    def __init__(self, state: DriverTarget, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.state = state
        self.sql = sql
        self.rows = rows

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


class DriverStatements(TransactionStep):
    """Run the statements a writer chooses once it sees the driver's connection, on the driver cursor; return the rows changed.

    ``statements(connection)`` yields ``(sql, rows)``: ``rows`` None for SQL run as it is (no
    parameters: no ``%`` is read as a placeholder), else parameter rows for ``executemany``.
    Reported as one statement: ``sql`` (placeholders, no values) for ``rows`` rows.
    """

    __slots__ = ("rows", "sql", "state", "statements")
    path: ClassVar[FastPath] = "executemany"

    def __init__(
        self,
        state: DriverTarget,
        sql: str,
        rows: int,
        statements: Callable[[Any], Iterable[tuple[str, Sequence[Sequence[Any]] | None]]],
    ) -> None:
        self.state = state
        self.sql = sql
        self.rows = rows
        self.statements = statements

    def statement(self) -> tuple[str, int]:
        """The SQL reported, and the number of rows."""
        return self.sql, self.rows

    def perform(self) -> int:
        """Execute on the sync cursor."""
        cursor = _cursor_sync(self.state)
        changed = 0
        for sql, rows in self.statements(cursor.connection):
            if rows is None:
                cursor.execute(sql)
            else:
                cursor.executemany(sql, rows)
            changed += cursor.rowcount
        return changed

    async def perform_async(self) -> int:
        """Execute on the async cursor."""
        cursor = await _cursor_async(self.state)
        changed = 0
        for sql, rows in self.statements(cursor.connection):
            if rows is None:
                await cursor.execute(sql)
            else:
                await cursor.executemany(sql, rows)
            changed += cursor.rowcount
        return changed

    def perform_bridged(self) -> int:
        """Execute on the async cursor, from inside the greenlet bridge."""
        cursor = _cursor_sync(self.state)
        changed = 0
        for sql, rows in self.statements(cursor.connection):
            if rows is None:
                await_(cursor.execute(sql))
            else:
                await_(cursor.executemany(sql, rows))
            changed += cursor.rowcount
        return changed


# ------------------------------------------------------------------- pre-compiled statements
def unescaped_names(compiled: Any) -> dict[str, str]:
    """Each escaped bind name of ``compiled`` (a SQLAlchemy ``Compiled``), as its SQL spells it, to the name it escapes."""
    escaped_names: Mapping[str, str] = compiled.escaped_bind_names or {}
    return {escaped: name for name, escaped in escaped_names.items()}


def positional_sql(compiled: str) -> tuple[str, list[str]]:
    """Compiled ``%(name)s`` SQL as ``%s`` SQL, and the names of its parameters in order (``%%`` kept)."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%%"
        names.append(name)
        return "%s"

    return _PLACEHOLDER.sub(replace, compiled), names


def positional(compiled: Any, names: Sequence[str]) -> str:
    """The SQL of ``compiled`` (a SQLAlchemy ``Compiled``) with ``%s`` placeholders, checking that they are exactly ``names``, in that order.

    A ``pyformat`` dialect's ``%(name)s`` are replaced; a ``format`` dialect's (aiomysql)
    are ``%s`` already, in the order of the compiled ``positiontup``.
    """
    text = str(compiled)
    order: Sequence[str] | None = compiled.positiontup
    if order is None:
        sql, found = positional_sql(text)
    else:
        sql, found = text, list(order)
    if found != list(names):  # pragma: no cover - a statement built here names its parameters
        raise AssertionError(f"unexpected placeholders {found} in {text!r}")
    return sql


# ------------------------------------------------------------------------ the repositories
def _key_param(index: int) -> str:
    return f"hx_key_{index}"


def _processed(index: int, processor: Callable[[Any], Any] | None, namespace: dict[str, Any]) -> str:
    """The expression of column ``index``'s value ``v<index>`` given to the driver (its bind processor applied, if any)."""
    if processor is None:
        return f"v[{index}]"
    namespace[f"p{index}"] = processor
    return f"(None if v[{index}] is None else p{index}(v[{index}]))"


class DriverRepositoryPath(Generic[T, K]):
    """A repository's hot operations on the driver cursor: ``get``, ``contains``, ``range``, version-checked updates.

    A ``RepositoryPath``. Rows come back as the driver gives them; each column's value is
    converted by :meth:`result_processor` inside a generated reader (``TableMapping.row_reader``),
    and parameters go through :meth:`bind_processor`, as SQLAlchemy would convert them. A
    backend's subclass says how its driver takes a list of keys (:attr:`range_sql`,
    :meth:`range_parameters`) and inserts many rows (:meth:`copy`).
    """

    keys_read_as_uuid: ClassVar[bool] = False
    """Whether the driver reads a ``Uuid`` key column as ``uuid.UUID`` (so ``range`` reorders by the row's key itself)."""

    def __init__(self, core: RepositoryCore[T, K], dialect: Dialect) -> None:
        self.core = core
        self.dialect = dialect
        self.mapping = mapping = core.mapping
        self.spec = core.spec
        self.entity_type = core.entity_type
        self.copy_threshold = core.copy_threshold
        key_names = [_key_param(index) for index in range(len(core.key_keys))]
        self.get_sql = positional(core.get_statement.compile(dialect=dialect), key_names)
        self.contains_sql = positional(core.contains_statement.compile(dialect=dialect), key_names)
        self.range_sql: str | None = None
        """The SQL of ``range`` (one key column), its keys bound as :meth:`range_parameters` gives them; None: no ``range`` here."""
        self.range_chunk: int | None = None
        """How many keys one ``range`` statement takes at most (None: any number)."""
        self.key_processors = [self.key_processor(column) for column in mapping.key_columns]
        self._plain_key = len(self.key_processors) == 1 and self.key_processors[0] is None
        """One key column, sent as it is (a checked key is its own parameter)."""
        self.from_driver_row: Any = None  # built from the first result's column type codes
        self.update_sql: str | None = None
        self._changed_updates: dict[int, tuple[str, Any]] = {}
        self._prepare_updates()

    # ------------------------------------------------------------------- the driver's ways
    def bind_processor(self, column: Any) -> Callable[[Any], Any] | None:
        """What turns a mapped value of ``column`` into what the driver should receive (None: as it is)."""
        processor: Callable[[Any], Any] | None = column.type.dialect_impl(self.dialect).bind_processor(
            self.dialect
        )
        return processor

    def key_processor(self, column: Any) -> Callable[[Any], Any] | None:
        """What turns a key value of ``column`` into what the driver should receive (None: as it is)."""
        processor: Callable[[Any], Any] | None = column.type.bind_processor(self.dialect)
        return processor

    def result_processor(self, column: Any, type_code: Any) -> Callable[[Any], Any] | None:
        """What turns the driver's value of ``column`` (of the driver's ``type_code``) into what ``from_row`` expects.

        Asked with the driver's type codes, as SQLAlchemy itself does: without them, a
        ``NUMERIC`` might be read through a float.
        """
        processor: Callable[[Any], Any] | None = column.type.dialect_impl(self.dialect).result_processor(
            self.dialect, type_code
        )
        return processor

    def range_parameters(self, keys: list[Any]) -> Sequence[Any]:
        """The parameters of :attr:`range_sql` for ``keys`` (processed): here the list, as one parameter."""
        return (keys,)

    def copy(self, state: TransactionState, rows: list[Any]) -> Plan[None]:
        """Plan: insert new aggregates' rows in bulk (a duplicate key: ``ConstraintViolationError``)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------- helpers
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
        self.update_sql = positional(statement.compile(dialect=self.dialect), [*names, expected])
        processors = self._bind_processors()
        namespace: dict[str, Any] = {"to_values": mapping.to_values}
        values = [
            "e + 1" if index == version_index else _processed(index, processors[index], namespace)
            for index in [*set_indexes, *key_indexes]
        ]
        source = f"def update_row(o, e):\n    v = to_values(o)\n    return ({', '.join(values)}, e)\n"
        self.update_row: Any = compile_function(
            "update_row", source, namespace, f"{self.entity_type.__qualname__}.update_row"
        )

    def _bind_processors(self) -> list[Any]:
        """Per column: :meth:`bind_processor`."""
        return [self.bind_processor(column) for column in self.mapping.columns]

    def _build_converter(self, type_codes: Sequence[Any]) -> Any:
        """Generate ``row -> aggregate`` (``TableMapping.row_reader``) applying each column's :meth:`result_processor` inline."""
        return self.mapping.row_reader(
            [
                self.result_processor(column, type_code)
                for column, type_code in zip(self.mapping.columns, type_codes, strict=True)
            ]
        )

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
        """Whether :meth:`range` can serve this repository (:attr:`range_sql` is set)."""
        return self.range_sql is not None

    def range(
        self, state: TransactionState, wanted: list[K], distinct: list[K], loaded: dict[Any, T] | None
    ) -> Plan[list[T]]:
        """Plan: the aggregates for ``wanted`` (``distinct``: the same keys once each), in order, missing ones left out.

        Each one read is remembered in ``loaded`` (when given) by ``RepositoryCore.loaded_key``.
        """
        sql = self.range_sql
        assert sql is not None
        processor = self.key_processors[0]
        keys = distinct if processor is None else [processor(key) for key in distinct]
        chunk = self.range_chunk
        rows: list[Any]
        if chunk is None or len(keys) <= chunk:
            rows = yield from self._rows(state, sql, self.range_parameters(keys))
        else:
            rows = []
            for start in range(0, len(keys), chunk):
                rows.extend(
                    (yield from self._rows(state, sql, self.range_parameters(keys[start : start + chunk])))
                )
        from_driver_row = self.from_driver_row
        key_of = self.spec.key_of
        if self.core.loaded_by_int:
            # UUID hashes in Python; its int hashes in C: key the reordering by the int
            # (check_keys made every key a UUID), as loaded_key does.
            if self.keys_read_as_uuid:
                key_index = self.core.key_index
                by_int = {row[key_index].int: from_driver_row(row) for row in rows}
            else:
                by_int = {}
                uuid_of = cast(Callable[[T], uuid.UUID], key_of)
                for row in rows:
                    aggregate = from_driver_row(row)
                    by_int[uuid_of(aggregate).int] = aggregate
            if loaded is not None:
                loaded.update(by_int)
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
        """Plan: insert one new aggregate (``core.insert_statement``, through SQLAlchemy here); False for a duplicate key.

        A row the insert skipped for another reason than a duplicate key raises its error
        (``Backend.skipped_rows``).
        """
        core = self.core
        result = yield Call(state.connection.execute, (core.insert_statement, self.mapping.to_row(aggregate)))
        inserted = len(result.all()) == 1
        if not inserted:
            yield from core.backend.skipped_rows(state.connection, primary_key_only=True)
        return inserted

    def copies(self, count: int) -> bool:
        """Whether ``count`` new aggregates go by :meth:`copy` (at least ``copy_threshold``)."""
        return self.copy_threshold is not None and count >= self.copy_threshold

    def copy_rows(self, aggregates: Sequence[T]) -> list[Any]:
        """The rows :meth:`copy` sends for new aggregates (their columns' bind processors applied)."""
        copy_row = self._copy_row
        return [copy_row(aggregate) for aggregate in aggregates]

    @property
    def updates(self) -> bool:
        """Whether :meth:`update` can serve this repository (it has a version column)."""
        return self.update_sql is not None

    def update_rows(
        self, aggregates: Sequence[T], versions: Sequence[int], changed: ChangedColumns[T] | None
    ) -> list[Any]:
        """The positional parameter rows of the version-checked updates of ``aggregates`` expected at ``versions``.

        ``changed``: the columns set (with the version), or None for every column.
        """
        update_row = self.update_row if changed is None else self._changed_update(changed)[1]
        return list(map(update_row, aggregates, versions))

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
        sql = positional(statement.compile(dialect=self.dialect), [*names, expected])
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
        """Generated ``aggregate -> bulk row``, applying the columns' bind processors inline."""
        processors = self._bind_processors()
        namespace: dict[str, Any] = {"to_values": self.mapping.to_values}
        values = [_processed(index, processor, namespace) for index, processor in enumerate(processors)]
        source = f"def copy_row(o):\n    v = to_values(o)\n    return ({', '.join(values)},)\n"
        return compile_function("copy_row", source, namespace, f"{self.entity_type.__qualname__}.copy_row")
