"""MariaDB (10.5 and later, through PyMySQL and aiomysql): everything hexalchemy does differently there.

- URLs and engines: ``mariadb://`` means ``mariadb+pymysql://``; the sync engine uses
  PyMySQL and the async engine aiomysql, whichever of the two the URL names (aiomysql is
  built on PyMySQL's protocol code: both send and read values alike, and raise the same
  error classes). Both are pure Python and install from PyPI anywhere; the C drivers
  (mysqlclient, MariaDB Connector/Python) need MariaDB Connector/C's headers to build.
  The connection uses ``utf8mb4``; every new connection gets ``time_zone = '+00:00'`` (the
  database's clock reads UTC) and a strict ``sql_mode`` (``STRICT_ALL_TABLES``: a value
  that does not fit is an error, never cut short or rounded in silence).
- Transactions: isolation levels as asked; ``START TRANSACTION READ ONLY`` for a read-only
  one. MariaDB has no transactional DDL: hexalchemy runs no DDL inside its transactions.
- Errors (by MariaDB's error number): 1213 (deadlock) is a ``DeadlockError``, 1205 (lock
  wait timeout) a ``DatabaseBusyError``; 1451/1452 are foreign key violations; a value the
  column cannot hold (1406 data too long, 1264 out of range, 1366 incorrect value, 1292
  incorrect datetime value, 1265 data truncated) is an ``InvalidValueError`` naming the
  column; the append-only triggers' ``SIGNAL`` (1644) a ``ConstraintViolationError``.
- Types: ``DATETIME(6)`` holding UTC (MariaDB's ``TIMESTAMP`` ends in 2038),
  ``DECIMAL(p, s)`` for an ``ExactDecimal(p, s)``, its text for one of no declared precision
  (a ``DECIMAL`` holds 65 digits and pads to its scale: text keeps every digit, NaN and
  infinities; queries compare it as ``DECIMAL(65, 30)``), ``UUID`` for a ``Uuid``,
  ``LONGTEXT``/``LONGBLOB`` for text and bytes of no declared length (``VARCHAR(255)`` for
  a derived key column: an index holds 3,072 bytes). Tables are declared
  ``utf8mb4`` with the collation ``utf8mb4_nopad_bin``: text compares and orders by code
  point as Python's ``str`` does, case and trailing spaces included (MariaDB's default
  collation ignores both). A float field that allows NaN is refused (``DOUBLE`` has none).
- Statements: ``INSERT IGNORE`` (skips a row that conflicts on any unique index) and
  ``INSERT ... ON DUPLICATE KEY UPDATE`` (the proposed row as ``inserted``); ``INSERT ...
  RETURNING`` and ``DELETE ... RETURNING``, but no ``UPDATE ... RETURNING``.
- Triggers: the append-only tables' ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers
  ``SIGNAL``. MariaDB has no trigger on ``TRUNCATE``: that needs the ``DROP`` privilege,
  which the application's user should not have.
- ``UPDATE ... RETURNING`` (the agent stores' compare-and-set, leases and consume): the
  rows are locked by a ``SELECT ... FOR UPDATE``, updated by key, then read back, in the
  caller's transaction.
- The outbox relay: Python's clock, and a select that locks the due rows ``FOR UPDATE SKIP
  LOCKED``, then the writes (no ``UPDATE ... RETURNING``).

Every SQL text written here by hand names tables and triggers through the dialect's
identifier preparer, and quotes its text literals with SQLAlchemy's literal renderer.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Insert,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    cast,
    event,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy import column as named_column
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Engine
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.types import TypeDecorator, TypeEngine

from hexalchemy.ports import (
    ConstraintViolationError,
    DatabaseBusyError,
    DeadlockError,
    HexalchemyError,
    InvalidValueError,
    IsolationLevel,
    MappingError,
)
from hexalchemy.rules import parse_decimal_int
from hexalchemy.sqlalchemy._errors import translate_error
from hexalchemy.sqlalchemy._operations import Call, Plan
from hexalchemy.sqlalchemy._precompiled import DriverTarget, JsonText, Statement
from hexalchemy.sqlalchemy.backend import READ_ONLY_EXECUTION_OPTION, Backend
from hexalchemy.sqlalchemy.types import ExactDecimal

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._outbox_core import DueMessages, OutboxRelayCore
    from hexalchemy.sqlalchemy._repository_core import BulkInsert, RepositoryCore, RepositoryPath
    from hexalchemy.sqlalchemy.config import DatabaseConfig
    from hexalchemy.sqlalchemy.mapping import TableMapping

__all__ = ["BACKEND", "MAX_DECIMAL_PRECISION", "MAX_DECIMAL_SCALE", "MAX_KEY_TEXT_LENGTH", "MariaDBBackend"]

_SYNC_DRIVER: Final = "mariadb+pymysql"
_ASYNC_DRIVER: Final = "mariadb+aiomysql"
_DRIVER_MODULES: Final = ("pymysql", "aiomysql")
_CHARSET: Final = "utf8mb4"
_COLLATION: Final = "utf8mb4_nopad_bin"
_SQL_MODE: Final = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"

MAX_DECIMAL_PRECISION: Final = 65
"""The most digits a MariaDB ``DECIMAL`` holds."""

MAX_DECIMAL_SCALE: Final = 30
"""The most digits after the point a MariaDB ``DECIMAL`` holds (hexalchemy's widest: ``DECIMAL(65, 30)``)."""

MAX_KEY_TEXT_LENGTH: Final = 255
"""The length of a derived ``str`` key column with no declared ``max_length`` (``VARCHAR(255)``)."""

_QUERY_ARGUMENTS: Final[dict[str, type]] = {
    **{name: str for name in ("charset", "init_command", "program_name", "server_public_key", "unix_socket")},
    **{name: str for name in ("read_default_file", "read_default_group")},
    **{name: str for name in ("ssl_ca", "ssl_cert", "ssl_key", "ssl_capath", "ssl_cipher")},
    "ssl_check_hostname": bool,
    "connect_timeout": int,
    "client_flag": int,
    "local_infile": bool,
    "use_unicode": bool,
}
"""The URL query arguments both drivers take (PyMySQL and aiomysql), by the kind of value SQLAlchemy converts them to;
the ``ssl_*`` ones SQLAlchemy gathers into the drivers' ``ssl`` argument."""
_SET_BY_HEXALCHEMY: Final = {
    "sql_mode": "a strict sql_mode: a value that does not fit is an error",
    "autocommit": "SQLAlchemy begins and ends every transaction",
}
_BOOLEAN_TEXT: Final = frozenset({"true", "yes", "on", "y", "t", "1", "false", "no", "off", "n", "f", "0"})
"""What SQLAlchemy's ``asbool`` reads as a boolean."""

_DEADLOCK: Final = 1213
_LOCK_WAIT_TIMEOUT: Final = 1205
_FOREIGN_KEY: Final = frozenset({1451, 1452})
_SIGNALLED: Final = 1644
_DUPLICATE: Final = 1062
_ON_DUPLICATE: Final = " ON DUPLICATE KEY UPDATE "
_DIVISION_BY_ZERO: Final = 1365
_REFUSED_UPSERT: Final[ColumnElement[Any]] = literal_column("1 / 0")
"""The upsert's guard (see :meth:`MariaDBBackend.upsert`): fails under ``ERROR_FOR_DIVISION_BY_ZERO``."""
_ON_PRIMARY_KEY: Final = "for key 'PRIMARY'"
_VALUE_REFUSED: Final = frozenset({1264, 1265, 1292, 1366, 1406})
_COLUMN_IN_MESSAGE: Final = re.compile(r"column [`']?(?P<column>[^`']+)[`']?")


class _Refused:
    """Stands for a value the database refused, which its error does not show."""

    def __repr__(self) -> str:
        return "<the value>"


def _errno(error: BaseException | None) -> int | None:
    """MariaDB's error number of a PyMySQL or aiomysql error (its first argument), or None for another driver's."""
    if error is None or not type(error).__module__.startswith(_DRIVER_MODULES):
        return None
    args = error.args
    return args[0] if args and isinstance(args[0], int) else None


class _Proposed:
    """The row an ``INSERT ... ON DUPLICATE KEY UPDATE`` proposed: ``proposed[key]`` or ``proposed.key`` is ``VALUES(column)``.

    Not SQLAlchemy's ``Insert.inserted``, which writes a ``%`` in the column's name twice
    over (``%%%%``) for PyMySQL: MariaDB then finds no such column.
    """

    __slots__ = ("_table",)

    def __init__(self, table: Table) -> None:
        self._table = table

    def __getitem__(self, key: str) -> ColumnElement[Any]:
        stored = self._table.c[key]
        return func.values(named_column(stored.name, stored.type), type_=stored.type)

    def __getattr__(self, key: str) -> ColumnElement[Any]:
        return self[key]


def _guard(table: Table, keys: list[str], proposed: _Proposed) -> tuple[str, ColumnElement[Any]]:
    """The upsert's first assignment: the first key column kept when the stored row has the proposed keys, else a failure."""
    first: ColumnElement[Any] = table.c[keys[0]]
    same = and_(*[table.c[key] == proposed[key] for key in keys])
    return keys[0], case((same, first), else_=_REFUSED_UPSERT)


def _other_unique(table: Table, keys: Sequence[Any]) -> bool:
    """Whether ``table`` has a unique constraint or index on other columns than ``keys``."""
    names = {key.key for key in keys}
    sets = [
        {column.key for column in constraint.columns}
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint)
    ]
    sets += [{column.key for column in index.columns} for index in table.indexes if index.unique]
    sets += [{column.key} for column in table.columns if column.unique]
    return any(columns != names for columns in sets)


def _skipped_error(code: int, message: str) -> Exception:
    """The hexalchemy error of a row ``INSERT IGNORE`` skipped with warning ``code``, as if it had been an error."""
    err: Any = importlib.import_module(
        "pymysql.err"
    )  # the drivers' error classes (aiomysql raises PyMySQL's)
    return translate_error(Backend.wrap_driver_error(err.IntegrityError(code, message), err.Error))


def _literal(text: str, dialect: Dialect) -> str:
    """``text`` as a SQL string literal, rendered by SQLAlchemy."""
    return str(literal(text, String()).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


class _UtcDateTime6(TypeDecorator[dt.datetime]):
    """How MariaDB stores a ``UtcDateTime``: ``DATETIME(6)`` holding the UTC time (it keeps no zone)."""

    impl = mysql.DATETIME(fsp=6)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """The UTC time of an aware datetime, without its zone."""
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None)


class _DecimalText(TypeDecorator[Decimal]):
    """How MariaDB stores an ``ExactDecimal`` of no declared precision: its text, digit for digit.

    A ``DECIMAL`` holds at most 65 digits and pads every value to its scale, where
    PostgreSQL's ``NUMERIC`` keeps ``1.500`` and 131,072 digits; queries compare the text
    as ``DECIMAL(65, 30)`` (see :meth:`MariaDBBackend.comparable`).
    """

    impl = mysql.LONGTEXT()
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        """The decimal's text."""
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        """The decimal of the stored text."""
        return None if value is None else Decimal(value)


class MariaDBBackend(Backend):
    """MariaDB 10.5 and later, through PyMySQL (sync) and aiomysql (async)."""

    name: ClassVar[str] = "mariadb"
    url_drivers: ClassVar[frozenset[str]] = frozenset({_SYNC_DRIVER, _ASYNC_DRIVER})
    url_hint: ClassVar[str] = "mariadb means mariadb+pymysql; the async engine uses aiomysql"
    max_identifier_bytes: ClassVar[int] = 64
    """MariaDB's limit is 64 characters: 64 bytes keeps every name within it."""
    max_bound_values: ClassVar[int] = 32_000
    """PyMySQL and aiomysql bind on the client: a statement is bounded by ``max_allowed_packet``, not a count."""

    # -------------------------------------------------------------------- URLs and engines
    def normalise_url(self, url: URL) -> URL | None:
        """``mariadb://`` is ``mariadb+pymysql://``; PyMySQL and aiomysql only."""
        return super().normalise_url(url.set(drivername=_SYNC_DRIVER) if url.drivername == self.name else url)

    def url_problem(self, url: URL) -> str | None:
        """A query argument that is not one both drivers take from a URL (``?pool_size=5``, a typo), or a value SQLAlchemy cannot convert.

        The sync and async engines are built on the same URL: it may carry what PyMySQL and
        aiomysql both take as text (:data:`_QUERY_ARGUMENTS`) and SQLAlchemy's ``ssl_*``
        arguments. ``sql_mode`` and ``autocommit`` are hexalchemy's to set.
        """
        for name, value in url.query.items():
            if name in _SET_BY_HEXALCHEMY:
                return f"the URL's query sets {name!r}, which hexalchemy sets on every connection ({_SET_BY_HEXALCHEMY[name]})"
            kind = _QUERY_ARGUMENTS.get(name)
            if kind is None:
                return (
                    f"the URL's query names {name!r}, which is not a connection argument of both PyMySQL and "
                    f"aiomysql (they take {', '.join(sorted(_QUERY_ARGUMENTS))}; pool options go to "
                    "DatabaseConfig, not the URL)"
                )
            values = value if isinstance(value, tuple) else (value,)
            if len(values) != 1:
                return f"the URL's query gives {name!r} {len(values)} times"
            if kind is int and parse_decimal_int(values[0]) is None:
                return f"the URL's query argument {name!r} must be a whole number, not {values[0]!r}"
            if kind is bool and values[0].strip().lower() not in _BOOLEAN_TEXT:
                return f"the URL's query argument {name!r} must be true or false, not {values[0]!r}"
        return None

    def engine_url(self, url: URL, *, is_async: bool) -> URL:
        """PyMySQL for the sync engine, aiomysql for the async one, whichever the URL names; ``utf8mb4`` unless it says otherwise."""
        url = url.set(drivername=_ASYNC_DRIVER if is_async else _SYNC_DRIVER)
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": _CHARSET})
        return url

    def prepare_engine(self, engine: Engine, config: DatabaseConfig, url: URL) -> None:
        """UTC and a strict ``sql_mode`` on every connection; ``START TRANSACTION READ ONLY`` for a read-only transaction."""
        setup = f"SET SESSION time_zone = '+00:00', sql_mode = '{_SQL_MODE}'"

        def on_connect(dbapi_connection: Any, _connection_record: object) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(setup)
            finally:
                cursor.close()

        def on_begin(connection: Connection) -> None:
            # The driver begins a transaction implicitly at the first statement; a read-only one
            # is begun explicitly instead.
            if connection.get_execution_options().get(READ_ONLY_EXECUTION_OPTION):
                connection.exec_driver_sql("START TRANSACTION READ ONLY")

        def do_executemany(cursor: Any, statement: str, parameters: Any, _context: object) -> bool | None:
            # PyMySQL's (and aiomysql's) executemany rewrites an INSERT into one multi-row
            # statement, but leaves the ON DUPLICATE KEY UPDATE clause unformatted: a % in a
            # column's name stays written %% there, and MariaDB finds no such column. Such a
            # statement is run row by row instead.
            if "%%" not in statement.partition(_ON_DUPLICATE)[2]:
                return None
            for row in parameters:
                cursor.execute(statement, row)
            return True

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)
        event.listen(engine, "do_executemany", do_executemany)

    def transaction_options(self, read_only: bool, isolation_level: IsolationLevel | None) -> dict[str, Any]:
        """The isolation level asked for (read-only is begun by the engine's listener, see :meth:`prepare_engine`)."""
        return super().transaction_options(read_only, isolation_level)

    def own_transaction_options(self) -> dict[str, Any]:
        """``READ COMMITTED``: under InnoDB's default ``REPEATABLE READ`` the relay's and the claimers' picks deadlock with producers.

        There a locking read also locks the gaps of the index it scans (the producers'
        inserts wait for the relay), and an ``UPDATE`` that scans more rows than it changes
        waits for every row a producer holds (the relay waits for the producers). Under
        ``READ COMMITTED`` neither happens: no gap is locked, and an ``UPDATE`` skips a
        locked row whose last committed version does not match.
        """
        return {"isolation_level": "READ COMMITTED"}

    # ------------------------------------------------------------------------------ errors
    def driver_error(self, error: Exception) -> sa_exc.DBAPIError | None:
        """An error of PyMySQL or aiomysql themselves (the driver path), wrapped as SQLAlchemy wraps it."""
        if not type(error).__module__.startswith(_DRIVER_MODULES):
            return None
        err: Any = importlib.import_module("pymysql.err")  # aiomysql raises PyMySQL's error classes
        if not isinstance(error, err.Error):
            return None
        return self.wrap_driver_error(error, err.Error)

    def translate_error(self, error: Exception) -> HexalchemyError | None:
        """Deadlocks, lock wait timeouts, values a column cannot hold and the triggers' refusals, by error number."""
        original = error.orig if isinstance(error, sa_exc.DBAPIError) else error
        number = _errno(original)
        if number is None or original is None:
            return None
        message = str(original.args[1]) if len(original.args) > 1 else str(original)
        if number == _DEADLOCK:
            return DeadlockError(message)
        if number == _LOCK_WAIT_TIMEOUT:
            return DatabaseBusyError(message)
        if number == _SIGNALLED:
            return ConstraintViolationError(message)
        if number == _DIVISION_BY_ZERO:  # hexalchemy divides only in the upsert's guard
            return ConstraintViolationError(
                f"MariaDB refused it ({message}): the row conflicts with another row on a unique index"
            )
        if number in _VALUE_REFUSED:
            found = _COLUMN_IN_MESSAGE.search(message)
            column = found.group("column") if found else "?"
            return InvalidValueError(None, column, _Refused(), f"MariaDB refused it: {message}")
        return None

    def is_foreign_key_violation(self, error: ConstraintViolationError) -> bool:
        """Error 1451 (a referenced row deleted) or 1452 (a reference to no row)."""
        cause = error.__cause__
        original = getattr(cause, "orig", None) or cause
        return _errno(original) in _FOREIGN_KEY

    # -------------------------------------------------------------------- tables and values
    def utc_datetime_type(self) -> TypeEngine[Any]:
        """``DATETIME(6)`` holding the UTC time (``TIMESTAMP`` would end in 2038)."""
        return _UtcDateTime6()

    def exact_decimal_type(self, precision: int | None, scale: int | None) -> TypeEngine[Any]:
        """``DECIMAL(p, s)``; ``DECIMAL(65, 30)`` without a declared precision (MariaDB's plain ``DECIMAL`` is ``DECIMAL(10, 0)``)."""
        if precision is None:
            return _DecimalText()
        return mysql.DECIMAL(precision, scale or 0, asdecimal=True)

    def text_type(self, *, key: bool = False) -> TypeEngine[Any] | None:
        """``LONGTEXT`` (a ``VARCHAR`` needs a length, ``TEXT`` holds 64 KiB); ``VARCHAR(255)`` for a key (an index holds 3,072 bytes)."""
        return mysql.VARCHAR(MAX_KEY_TEXT_LENGTH) if key else mysql.LONGTEXT()

    def binary_type(self) -> TypeEngine[Any] | None:
        """``LONGBLOB`` (a ``BLOB`` holds 64 KiB)."""
        return mysql.LONGBLOB()

    def table_options(self) -> dict[str, Any]:
        """``utf8mb4`` with the collation ``utf8mb4_nopad_bin`` (text compared by code point), InnoDB."""
        return {"mariadb_charset": _CHARSET, "mariadb_collate": _COLLATION, "mariadb_engine": "InnoDB"}

    def check_mapping(self, mapping: TableMapping[Any, Any]) -> None:
        """``DOUBLE`` has no NaN or infinity; a ``DECIMAL`` holds at most 65 digits, 30 after the point."""
        for leaf, column in zip(mapping.leaves, mapping.columns, strict=True):
            if leaf.kind != "plain":
                continue
            options = leaf.options
            if leaf.python_type is float and options is not None and options.allow_non_finite:
                raise MappingError(
                    mapping.entity_type,
                    "MariaDB's DOUBLE holds no NaN or infinity: allow_non_finite cannot be kept there",
                    field=leaf.dotted_path,
                    column=column.name,
                )
            stored = column.type
            if leaf.python_type is Decimal and isinstance(stored, ExactDecimal):
                precision, scale = stored.precision, stored.scale
                if precision is not None and (precision > MAX_DECIMAL_PRECISION or (scale or 0) > 38):
                    raise MappingError(
                        mapping.entity_type,
                        f"MariaDB's DECIMAL holds at most {MAX_DECIMAL_PRECISION} digits, 38 after the point",
                        field=leaf.dotted_path,
                        column=column.name,
                    )

    def append_only_statements(self, table: Table, dialect: Dialect) -> list[str]:
        """Two triggers, ``<table>_no_update`` and ``<table>_no_delete``, that ``SIGNAL SQLSTATE '45000'``."""
        preparer = dialect.identifier_preparer
        target = preparer.format_table(table)
        statements: list[str] = []
        for operation in ("UPDATE", "DELETE"):
            trigger = preparer.quote(self.derived_identifier(table.name, f"_no_{operation.lower()}"))
            if table.schema is not None:
                trigger = f"{preparer.quote_schema(table.schema)}.{trigger}"
            message = _literal(f"hexalchemy: {table.name} is append-only: {operation} refused", dialect)
            statements.append(
                f"CREATE TRIGGER {trigger} BEFORE {operation} ON {target} FOR EACH ROW "
                f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = {message}"
            )
        return statements

    # -------------------------------------------------------------------------- statements
    def comparable(
        self, column: ColumnElement[Any], stored_type: Any, *, ordered: bool
    ) -> tuple[ColumnElement[Any], Callable[[Any], Any] | None]:
        """Text by code point (``utf8mb4_nopad_bin``), UUIDs by their text, decimals stored as text as ``DECIMAL(65, 30)``.

        MariaDB's ``UUID`` type orders its values by a rearrangement of their bytes, not as
        Python orders UUIDs: they are ordered by their text, which does.
        """
        if stored_type is str:
            return column.collate(_COLLATION), None
        if stored_type is uuid.UUID and ordered:
            return cast(column, mysql.CHAR(36)), str
        if stored_type is Decimal and isinstance(column.type, ExactDecimal) and column.type.precision is None:
            return cast(column, mysql.DECIMAL(MAX_DECIMAL_PRECISION, MAX_DECIMAL_SCALE)), None
        return column, None

    def order(
        self, expression: ColumnElement[Any], *, descending: bool, nullable: bool
    ) -> UnaryExpression[Any]:
        """Plain ``ASC``/``DESC``: MariaDB has no ``NULLS FIRST``, and orders NULL first ascending, last descending."""
        return expression.desc() if descending else expression.asc()

    def text_match(
        self, column: ColumnElement[Any], kind: Literal["prefix", "contains"], pattern: Any
    ) -> ColumnElement[bool]:
        """``LIKE`` under ``utf8mb4_nopad_bin``: case-sensitive whatever the column's collation."""
        return super().text_match(column.collate(_COLLATION), kind, pattern)

    def insert(self, table: Table) -> Insert:
        """MariaDB's ``INSERT``, with ``ON DUPLICATE KEY UPDATE``."""
        return mysql.insert(table)

    def ignore_conflicts(self, statement: Insert, keys: Sequence[Any] | None = None) -> Insert:
        """``INSERT IGNORE``: a row that conflicts on any unique index is skipped.

        ``IGNORE`` also turns the other refusals of a row (a foreign key, a value that does
        not fit) into warnings: the value rules refuse such values before the statement, and
        the callers count the rows inserted, so a row skipped for another reason than a
        duplicate is an error there too.
        """
        return statement.prefix_with("IGNORE")

    def skipped_rows(self, connection: Any, *, primary_key_only: bool) -> Plan[None]:
        """Plan: read the warnings ``INSERT IGNORE`` left (``SHOW WARNINGS``) and raise the error of a row it skipped that was no conflict.

        ``IGNORE`` turns a foreign key violation (and any other refusal) into a warning: it
        is raised as the error it would have been (a foreign key violation: a
        ``ConstraintViolationError`` that :meth:`is_foreign_key_violation` recognises).
        With ``primary_key_only``, a duplicate on another unique index is raised too.
        """
        result = yield Call(connection.exec_driver_sql, ("SHOW WARNINGS",))
        for _level, code, message in result.all():
            if code == _DUPLICATE and not (primary_key_only and not message.endswith(_ON_PRIMARY_KEY)):
                continue
            raise _skipped_error(code, message)

    def upsert(
        self, statement: Insert, keys: Sequence[Any], changes: Callable[[Any], Mapping[str, Any]]
    ) -> Insert:
        """``ON DUPLICATE KEY UPDATE ...``, the proposed row as ``inserted``; a conflict on another unique index than ``keys`` fails.

        MariaDB updates the row a proposed row conflicts with on *any* unique index. Where
        the table has another unique index or constraint, the first assignment keeps the
        first key column as it is when the stored row has the proposed keys, and divides by
        zero otherwise (NULL would not do: an ``AUTO_INCREMENT`` column takes it as 0): the
        statement then fails (error 1365 under the connection's strict ``sql_mode``, a
        ``ConstraintViolationError``) instead of overwriting another aggregate's row.
        """
        assert isinstance(statement, mysql.Insert)
        assert isinstance(statement.table, Table)
        table = typing.cast(Table, statement.table)
        proposed = _Proposed(table)
        assignments = list(dict(changes(proposed)).items())
        if _other_unique(table, keys):
            assignments.insert(0, _guard(table, [key.key for key in keys], proposed))
        return statement.on_duplicate_key_update(assignments)

    write_reads_lock: ClassVar[bool] = True
    """InnoDB locks the rows (and gaps) a write's subqueries read under ``REPEATABLE READ``, its default."""

    def read_latest(self, statement: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
        """``LOCK IN SHARE MODE``: InnoDB's locking read sees the last committed rows, not the transaction's snapshot.

        Under ``REPEATABLE READ`` (MariaDB's default) a plain ``SELECT`` reads the snapshot
        taken at the transaction's first read, which may predate the row a write just met.
        """
        return statement.with_for_update(read=True)

    def update_returning(
        self,
        table: Table,
        where: Sequence[ColumnElement[bool]],
        values: Mapping[str, Any],
        returning: Sequence[ColumnElement[Any]],
        dialect: Dialect,
        column_keys: Sequence[str] | None = None,
        *,
        driver_path: bool = True,
    ) -> Statement:
        """No ``UPDATE ... RETURNING``: lock the rows (``SELECT ... FOR UPDATE``), update them by key, read them back."""
        return _LockedUpdate(table, where, values, returning, dialect, column_keys)

    def repository_path(self, core: RepositoryCore[Any, Any]) -> RepositoryPath[Any, Any] | None:
        """With PyMySQL or aiomysql, the hot reads, updates and the bulk insert on their cursor (see ``mariadb._driver``)."""
        from hexalchemy.sqlalchemy.mariadb._driver import MariaDBRepositoryPath, uses_pymysql

        dialect = core.transactions.dialect
        return MariaDBRepositoryPath(core, dialect) if uses_pymysql(dialect) else None

    def bulk_insert(self, core: RepositoryCore[Any, Any]) -> BulkInsert[Any] | None:
        """The drivers' multi-row ``INSERT`` (``executemany``, rewritten by PyMySQL and aiomysql), see ``mariadb._bulk``."""
        from hexalchemy.sqlalchemy.mariadb._bulk import MultiRowInsert

        return MultiRowInsert(core)

    # ----------------------------------------------------------------------- outbox relay
    def due_messages(self, core: OutboxRelayCore) -> DueMessages:
        """A select that locks the due rows ``FOR UPDATE SKIP LOCKED``, then the writes."""
        from hexalchemy.sqlalchemy._outbox_core import SelectedDueMessages

        return SelectedDueMessages(core, lock=True)

    def driver_cursor(self, connection: Any) -> Any:
        """The driver connection's plain cursor."""
        return connection.driver_connection.cursor()  # aiomysql: an awaitable of it (no I/O)

    def cursor_open(self, cursor: Any) -> bool:
        """Whether the cursor is not closed."""
        return cursor.connection is not None  # PyMySQL and aiomysql let go of it when closed


class _LockedUpdate(Statement):
    """``UPDATE ... RETURNING`` as MariaDB can run it: three statements in the caller's transaction.

    The first selects the keys of the rows the ``WHERE`` picks and locks them (``FOR
    UPDATE``; a ``SKIP LOCKED`` subquery in it skips the rows others hold), the second
    updates those rows by key (the ``WHERE`` is not evaluated again: nothing can change
    the locked rows meanwhile, and a subquery picking rows could pick others the second
    time), the third reads ``returning`` of them, as updated.
    """

    __slots__ = ("pick", "pick_names", "read", "update", "update_names")

    def __init__(
        self,
        table: Table,
        where: Sequence[ColumnElement[bool]],
        values: Mapping[str, Any],
        returning: Sequence[ColumnElement[Any]],
        dialect: Dialect,
        column_keys: Sequence[str] | None,
    ) -> None:
        (key,) = table.primary_key.columns  # hexalchemy's own tables: one key column
        locked = key.in_(bindparam("hx_locked", expanding=True))
        self.pick = select(key).where(*where).with_for_update()
        changes = update(table).where(locked)
        self.update = changes.values(dict(values)) if values else changes
        self.read = select(*returning).where(locked)
        super().__init__(self.update)
        keys = list(column_keys or ())
        self.pick_names = frozenset(self.pick.compile(dialect=dialect).params)
        self.update_names = frozenset(self.update.compile(dialect=dialect, column_keys=keys).params)

    def run(
        self,
        state: DriverTarget,
        parameters: Mapping[str, Any],
        encoded: Mapping[str, JsonText] | None = None,
    ) -> Plan[list[Any]]:
        """Plan: lock, update and read the rows; [] when the ``WHERE`` picks none (nothing written)."""
        execute = state.connection.execute
        pick_names = self.pick_names
        picked = yield Call(execute, (self.pick, {k: v for k, v in parameters.items() if k in pick_names}))
        keys = [row[0] for row in picked.all()]
        if not keys:
            return []
        update_names = self.update_names
        changes = {k: v for k, v in parameters.items() if k in update_names}
        changes["hx_locked"] = keys
        yield Call(execute, (self.update, changes))
        result = yield Call(execute, (self.read, {"hx_locked": keys}))
        return list(result.all())


BACKEND: Final = MariaDBBackend()
"""The MariaDB backend (see :func:`hexalchemy.sqlalchemy.backend.backend_for`)."""
