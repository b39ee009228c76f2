"""SQLite (the standard library's ``sqlite3`` and ``aiosqlite``): everything hexalchemy does differently there.

- URLs and engines: a file (or ``:memory:``), no host; the sync engine uses pysqlite and the
  async engine aiosqlite, whichever the URL names. Every new connection gets SQLAlchemy's
  documented recipe for correct transactions with these drivers (see "Transactions with
  SQLite and the sqlite3 driver" in SQLAlchemy's SQLite dialect documentation): the
  driver's own, legacy, transaction handling is switched off and SQLAlchemy emits
  ``BEGIN`` itself, so SELECTs, DDL and SAVEPOINTs all take part in the transaction. On
  top of that ``PRAGMA foreign_keys=ON``, ``PRAGMA busy_timeout`` (from
  :attr:`~hexalchemy.sqlalchemy.DatabaseConfig.sqlite_busy_timeout`) and, for file
  databases, ``PRAGMA journal_mode=WAL``. A transaction begins with ``BEGIN IMMEDIATE``,
  so a writer takes the write lock up front instead of failing to upgrade a read lock
  later, unless the connection has the execution option
  :data:`~hexalchemy.sqlalchemy.backend.READ_ONLY_EXECUTION_OPTION`: then a plain
  (deferred) ``BEGIN``. Every transaction is serializable, which satisfies any isolation
  level asked for.
- In-memory databases live in one connection (SQLAlchemy's ``SingletonThreadPool`` or
  ``StaticPool``): pool options those pools cannot honour are refused.
- Errors: "database is locked" is a ``DatabaseBusyError``.
- Types: datetimes as fixed-width ISO 8601 text in UTC (they sort chronologically), exact
  decimals as text (SQLite's NUMERIC goes through binary floats). A mapping that would
  lose values is refused when its repository is built: a float field that allows NaN
  (stored as NULL), a Decimal field on a plain ``Numeric`` column (binary floats).
- Statements: ``INSERT ... ON CONFLICT``; the append-only triggers ``RAISE(ABORT)``.

Every SQL text written here by hand names tables and triggers through the dialect's
identifier preparer, and quotes its text literals with SQLAlchemy's literal renderer.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Protocol, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Dialect,
    Float,
    Insert,
    String,
    Table,
    event,
    func,
    literal,
)
from sqlalchemy import cast as cast_
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import TypeDecorator, TypeEngine

from hexalchemy.ports import (
    ConfigError,
    ConstraintViolationError,
    DatabaseBusyError,
    HexalchemyError,
    IsolationLevel,
    MappingError,
)
from hexalchemy.sqlalchemy.backend import READ_ONLY_EXECUTION_OPTION, Backend
from hexalchemy.sqlalchemy.types import ExactDecimal

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy.config import DatabaseConfig
    from hexalchemy.sqlalchemy.mapping import TableMapping

__all__ = ["BACKEND", "SQLiteBackend"]

_SYNC_DRIVER: Final = "sqlite"
_ASYNC_DRIVER: Final = "sqlite+aiosqlite"
_BUSY_MESSAGES: Final = ("database is locked", "database table is locked", "database is busy")
_FOREIGN_KEY_MESSAGE: Final = "FOREIGN KEY constraint failed"
_DRIVER_MODULES: Final = (sqlite3.__name__, "aiosqlite")
_QUERY_ARGUMENTS: Final = frozenset(
    {"timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements", "uri"}
)
"""The URL query arguments SQLAlchemy's SQLite dialects pass to the driver (others need ``uri=true``)."""

# create_engine() pool arguments that the single-connection pools SQLAlchemy uses for
# SQLite memory databases do not take (SingletonThreadPool for pysqlite, StaticPool for
# aiosqlite), keyed by attribute; pool_recycle is accepted but would throw the
# database away, so it is refused too.
_MEMORY_POOL_REFUSED: Final[dict[bool, tuple[str, ...]]] = {
    False: ("max_overflow", "pool_timeout", "pool_recycle"),  # sync: SingletonThreadPool
    True: ("pool_size", "max_overflow", "pool_timeout", "pool_recycle"),  # async: StaticPool
}


def _is_file_database(url: URL) -> bool:
    # The test SQLAlchemy's pysqlite and aiosqlite dialects use to choose their pool.
    return bool(url.database) and url.database != ":memory:" and url.query.get("mode") != "memory"


class _JsonText(JSON):
    """JSON in a column declared ``TEXT``: SQLite gives a column declared ``JSON`` NUMERIC affinity,
    which stores the text ``5.0`` (a plain JSON value that is one whole float) as the integer 5."""


def _json_text_ddl(type_: _JsonText, compiler: object, **kw: object) -> str:
    return "TEXT"


compiles(_JsonText, "sqlite")(_json_text_ddl)


class _UtcText(TypeDecorator[dt.datetime]):
    """How SQLite stores a ``UtcDateTime``: its UTC time as ISO 8601 text, to the microsecond (fixed width)."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> str | None:
        """The ISO 8601 text of an aware UTC datetime."""
        return None if value is None else value.isoformat(timespec="microseconds")


class _DecimalText(TypeDecorator[Decimal]):
    """How SQLite stores an ``ExactDecimal``: its text, padded to the declared scale as ``NUMERIC(p, s)`` stores it."""

    impl = String(64)
    cache_ok = True

    def __init__(self, scale: int | None = None) -> None:
        super().__init__()
        self.scale = scale

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        """The decimal's text, with at least ``scale`` digits after the point (``1.5`` -> ``1.50``)."""
        if value is None:
            return None
        if self.scale is not None and value.is_finite():
            _, digits, exponent = value.as_tuple()
            if isinstance(exponent, int) and exponent > -self.scale:
                # padding only: the value rules refused more places than the scale
                context = Context(prec=len(digits) + max(exponent, 0) + self.scale + 1)
                value = value.quantize(Decimal(1).scaleb(-self.scale), context=context)
        return str(value)


def _literal(text: str, dialect: Dialect) -> str:
    """``text`` as a SQL string literal, rendered by SQLAlchemy."""
    return str(literal(text, String()).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


class _DBAPIConnection(Protocol):
    """What the recipe uses of a ``sqlite3`` connection or SQLAlchemy's aiosqlite adapter."""

    isolation_level: str | None

    def cursor(self) -> _DBAPICursor: ...


class _DBAPICursor(Protocol):
    def execute(self, operation: str) -> object: ...

    def fetchall(self) -> object: ...

    def close(self) -> object: ...


class SQLiteBackend(Backend):
    """SQLite, through ``sqlite3`` (sync) and ``aiosqlite`` (async)."""

    name: ClassVar[str] = "sqlite"
    url_drivers: ClassVar[frozenset[str]] = frozenset({"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"})
    max_identifier_bytes: ClassVar[int] = sys.maxsize
    """SQLite keeps names of any length."""
    max_bound_values: ClassVar[int] = 32_000
    """Below SQLite's ``SQLITE_MAX_VARIABLE_NUMBER`` (32,766 since SQLite 3.32)."""

    # -------------------------------------------------------------------- URLs and engines
    def url_problem(self, url: URL) -> str | None:
        """A SQLite URL names a file (or ``:memory:``): no user, password, host or port."""
        if url.username or url.password or url.host or url.port:
            return (
                "a SQLite URL names a file and has no user, password, host or port: use "
                "sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:///:memory:"
            )
        unknown = sorted(set(url.query) - _QUERY_ARGUMENTS)
        if unknown and url.query.get("uri") != "true":
            return (
                f"the URL's query names {', '.join(map(repr, unknown))}, which SQLite's driver does not take "
                f"(it takes {', '.join(sorted(_QUERY_ARGUMENTS))}; SQLite URI parameters need uri=true)"
            )
        return None

    def engine_url(self, url: URL, *, is_async: bool) -> URL:
        """pysqlite for the sync engine, aiosqlite for the async one, whichever the URL names."""
        return url.set(drivername=_ASYNC_DRIVER if is_async else _SYNC_DRIVER)

    def check_pool(self, options: Mapping[str, Any], url: URL, *, is_async: bool) -> None:
        """An in-memory database's single-connection pool takes no overflow, timeout or recycling (nor a size, async)."""
        if _is_file_database(url):
            return
        pool = "StaticPool" if is_async else "SingletonThreadPool"
        for name in _MEMORY_POOL_REFUSED[is_async]:
            value = options[name]
            if value is None or (name == "pool_recycle" and value == -1):
                continue
            if name == "pool_recycle":
                reason = (
                    f"an in-memory SQLite database lives in its one connection ({pool}); "
                    "recycling it would discard the database"
                )
            else:
                reason = (
                    f"an in-memory SQLite database uses a single-connection pool ({pool}) "
                    f"for the {'async' if is_async else 'sync'} engine, which has no {name}; "
                    "leave it unset or use a file database"
                )
            raise ConfigError(name, value, reason)

    def prepare_engine(self, engine: Engine, config: DatabaseConfig, url: URL) -> None:
        """The transaction recipe, the pragmas, and ``BEGIN IMMEDIATE`` (see the module's docstring)."""
        pragmas = [
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={round(config.sqlite_busy_timeout * 1000)}",
        ]
        if _is_file_database(url):
            pragmas.append("PRAGMA journal_mode=WAL")

        def on_connect(dbapi_connection: _DBAPIConnection, _connection_record: object) -> None:
            # Hand transaction control to SQLAlchemy: the driver must not emit BEGIN itself.
            # (With aiosqlite this is SQLAlchemy's adapter, whose setter runs the change on
            # aiosqlite's worker thread.) Outside a transaction the PRAGMAs below take effect.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                for pragma in pragmas:
                    cursor.execute(pragma)
                    cursor.fetchall()
            finally:
                cursor.close()

        def on_begin(connection: Connection) -> None:
            options = connection.get_execution_options()
            dbapi_connection = cast("_DBAPIConnection | None", connection.connection.dbapi_connection)
            if options.get("isolation_level") == "AUTOCOMMIT":
                # SQLAlchemy's driver-level autocommit: there is no transaction to begin.
                return
            if dbapi_connection is not None and dbapi_connection.isolation_level is not None:
                # SQLAlchemy restores a connection used with another isolation level by
                # setting the driver's isolation_level to "", which re-enables the driver's
                # legacy transaction handling; switch it off again.
                dbapi_connection.isolation_level = None
            connection.exec_driver_sql(
                "BEGIN" if options.get(READ_ONLY_EXECUTION_OPTION) else "BEGIN IMMEDIATE"
            )

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)

    def transaction_options(self, read_only: bool, isolation_level: IsolationLevel | None) -> dict[str, Any]:
        """None: SQLite runs every transaction serializably, which satisfies any requested level."""
        return {}

    # ------------------------------------------------------------------------------ errors
    def driver_error(self, error: Exception) -> sa_exc.DBAPIError | None:
        """An error of ``sqlite3`` (or ``aiosqlite``) raised outside SQLAlchemy, wrapped as SQLAlchemy wraps it."""
        if isinstance(error, sqlite3.Error):
            return self.wrap_driver_error(error, sqlite3.Error)
        if type(error).__module__.startswith(_DRIVER_MODULES):  # aiosqlite's own (a closed connection)
            return sa_exc.DBAPIError(None, None, error)
        return None

    def translate_error(self, error: sa_exc.DBAPIError) -> HexalchemyError | None:
        """ "database is locked" (and its kin) is a ``DatabaseBusyError``."""
        original = error.orig
        message = str(original) if original is not None else str(error)
        if isinstance(error, sa_exc.OperationalError) and any(text in message for text in _BUSY_MESSAGES):
            return DatabaseBusyError(message)
        return None

    def is_foreign_key_violation(self, error: ConstraintViolationError) -> bool:
        """SQLite's message says so."""
        cause = error.__cause__
        original = getattr(cause, "orig", None) or cause
        return _FOREIGN_KEY_MESSAGE in str(original)

    # -------------------------------------------------------------------- tables and values
    def json_type(self) -> TypeEngine[Any] | None:
        """JSON in a ``TEXT`` column (a ``JSON`` one has NUMERIC affinity: ``5.0`` would come back as ``5``)."""
        return _JsonText()

    def utc_datetime_type(self) -> TypeEngine[Any]:
        """Text: a fixed-width ISO 8601 string in UTC, which sorts chronologically."""
        return _UtcText()

    def exact_decimal_type(self, precision: int | None, scale: int | None) -> TypeEngine[Any]:
        """Text, padded to the scale: SQLite's NUMERIC affinity goes through binary floats (compared as text in SQL)."""
        return _DecimalText(scale)

    def partial_index(self, where: ColumnElement[bool]) -> dict[str, Any]:
        """``sqlite_where``."""
        return {"sqlite_where": where}

    def check_mapping(self, mapping: TableMapping[Any, Any]) -> None:
        """SQLite stores a float NaN as NULL, and a plain ``Numeric`` column's decimals as binary floats."""
        for leaf, column in zip(mapping.leaves, mapping.columns, strict=True):
            options = leaf.options
            if leaf.kind != "plain":
                continue
            if leaf.python_type is float and options is not None and options.allow_non_finite:
                raise MappingError(
                    mapping.entity_type,
                    "SQLite stores a float NaN as NULL: allow_non_finite cannot be kept there "
                    "(use PostgreSQL, or leave allow_non_finite off)",
                    field=leaf.dotted_path,
                    column=column.name,
                )
            if leaf.python_type is Decimal and not isinstance(column.type, ExactDecimal):
                raise MappingError(
                    mapping.entity_type,
                    f"SQLite stores the decimals of a {column.type!r} column as binary floats (1.555 comes "
                    "back 1.55): use hexalchemy.sqlalchemy.ExactDecimal for the column",
                    field=leaf.dotted_path,
                    column=column.name,
                )

    def append_only_statements(self, table: Table, dialect: Dialect) -> list[str]:
        """Two triggers, ``<table>_no_update`` and ``<table>_no_delete``, that ``RAISE(ABORT, ...)``."""
        preparer = dialect.identifier_preparer
        statements: list[str] = []
        for operation in ("UPDATE", "DELETE"):
            trigger = preparer.quote(f"{table.name}_no_{operation.lower()}")
            if table.schema is not None:  # the trigger names the schema; its table may not
                trigger = f"{preparer.quote_schema(table.schema)}.{trigger}"
            message = _literal(f"hexalchemy: {table.name} is append-only: {operation} refused", dialect)
            statements.append(
                f"CREATE TRIGGER {trigger} BEFORE {operation} ON {preparer.quote(table.name)} "
                f"BEGIN SELECT RAISE(ABORT, {message}); END"
            )
        return statements

    # -------------------------------------------------------------------------- statements
    def comparable(
        self, column: ColumnElement[Any], stored_type: Any, *, ordered: bool
    ) -> tuple[ColumnElement[Any], Callable[[Any], Any] | None]:
        """Decimals, stored as text, compared as ``REAL`` (exact to 15 significant digits); the rest as stored.

        SQLite compares text by its bytes (code point order, as Python) and the stored datetimes
        are fixed-width UTC text, so both order as their values do.
        """
        if stored_type is Decimal:
            return cast_(column, Float()), float
        return column, None

    def text_match(
        self, column: ColumnElement[Any], kind: Literal["prefix", "contains"], pattern: Any
    ) -> ColumnElement[bool]:
        """``instr(column, text) = 1`` (prefix) or ``> 0``: SQLite's ``LIKE`` ignores the case of ASCII letters."""
        position = func.instr(column, pattern)
        condition: ColumnElement[bool] = position == 1 if kind == "prefix" else position > 0
        return condition

    def text_pattern(self, kind: Literal["prefix", "contains"], text: str) -> str:
        """The text itself: ``instr`` has no wildcards."""
        return text

    def insert(self, table: Table) -> Insert:
        """SQLite's ``INSERT``, with ``ON CONFLICT``."""
        return sqlite.insert(table)

    def ignore_conflicts(self, statement: Insert, keys: Sequence[Any] | None = None) -> Insert:
        """``ON CONFLICT (keys) DO NOTHING``."""
        assert isinstance(statement, sqlite.Insert)
        return statement.on_conflict_do_nothing(index_elements=keys)

    def upsert(
        self, statement: Insert, keys: Sequence[Any], changes: Callable[[Any], Mapping[str, Any]]
    ) -> Insert:
        """``ON CONFLICT (keys) DO UPDATE SET ...``, the proposed row as ``excluded``."""
        assert isinstance(statement, sqlite.Insert)
        return statement.on_conflict_do_update(index_elements=keys, set_=dict(changes(statement.excluded)))


BACKEND: Final = SQLiteBackend()
"""The SQLite backend (see :func:`hexalchemy.sqlalchemy.backend.backend_for`)."""
