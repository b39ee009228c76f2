"""The seam between hexalchemy's SQL adapters and the databases they run on.

Everything that depends on which database is on the other end lives in one module per
database, each holding a :class:`Backend` (``hexalchemy.sqlalchemy.postgresql``,
``hexalchemy.sqlalchemy.sqlite`` and ``hexalchemy.sqlalchemy.mariadb``); nothing outside them asks which database it talks to.
The adapters find theirs with :func:`backend_for`, keyed by SQLAlchemy's dialect name
in :data:`_MODULES`, the one table of database names outside those modules.

:class:`Backend` gives the portable answer to every question (standard SQL, SQLAlchemy's
generic constructs, no driver fast path); a database's backend overrides what it does
differently or better. Adding a database is one new module defining a subclass and its
``BACKEND`` instance, and one entry in :data:`_MODULES`. The questions, by group:

- URLs and engines: :attr:`~Backend.url_drivers`, :attr:`~Backend.url_hint`,
  :meth:`~Backend.normalise_url`, :meth:`~Backend.url_problem`, :meth:`~Backend.engine_url`,
  :meth:`~Backend.check_pool`, :meth:`~Backend.prepare_engine`; transactions:
  :meth:`~Backend.transaction_options`, :meth:`~Backend.own_transaction_options`;
- errors: :meth:`~Backend.translate_error`, :meth:`~Backend.is_foreign_key_violation`;
- tables and values: :attr:`~Backend.max_identifier_bytes`, :meth:`~Backend.utc_datetime_type`,
  :meth:`~Backend.exact_decimal_type`, :meth:`~Backend.json_type`, :meth:`~Backend.text_type`,
  :meth:`~Backend.binary_type`, :meth:`~Backend.table_options`, :meth:`~Backend.partial_index`, :meth:`~Backend.check_mapping`,
  :meth:`~Backend.append_only_statements`, :meth:`~Backend.drop_append_only_statements`;
- statements: :meth:`~Backend.insert`, :meth:`~Backend.ignore_conflicts`,
  :meth:`~Backend.skipped_rows`, :meth:`~Backend.upsert`, :meth:`~Backend.update_returning`, :meth:`~Backend.one_of`, :meth:`~Backend.materialized`,
  :meth:`~Backend.comparable`, :meth:`~Backend.order`, :meth:`~Backend.starts_with`, :meth:`~Backend.contains_text`,
  :meth:`~Backend.read_latest`, :attr:`~Backend.writes_in_cte`, :attr:`~Backend.write_reads_lock`,
  :attr:`~Backend.max_bound_values`;
- the outbox relay's database-shaped parts: :meth:`~Backend.relay_clock`,
  :meth:`~Backend.due_messages`, :meth:`~Backend.crash_ledger`;
- driver fast paths: :meth:`~Backend.prepare`, :meth:`~Backend.repository_path`, :meth:`~Backend.bulk_insert`,
  :meth:`~Backend.driver_cursor`, :meth:`~Backend.cursor_open`.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Dialect,
    Insert,
    Numeric,
    Select,
    Table,
    bindparam,
    insert,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.sql.expression import CTE, UnaryExpression
from sqlalchemy.types import TypeEngine

from hexalchemy._guards import is_instance
from hexalchemy.ports import ConfigError, ConstraintViolationError, HexalchemyError, IsolationLevel

if TYPE_CHECKING:  # imported for annotations only: those modules import this one
    from hexalchemy.sqlalchemy._operations import Plan
    from hexalchemy.sqlalchemy._outbox_core import DueMessages, OutboxRelayCore, RelayClock
    from hexalchemy.sqlalchemy._outbox_crashes import CrashLedger
    from hexalchemy.sqlalchemy._precompiled import Statement
    from hexalchemy.sqlalchemy._repository_core import BulkInsert, RepositoryCore, RepositoryPath
    from hexalchemy.sqlalchemy.config import DatabaseConfig
    from hexalchemy.sqlalchemy.mapping import TableMapping

__all__ = [
    "FAST_PATHS_EXECUTION_OPTION",
    "LIGHT_TRANSACTIONS_EXECUTION_OPTION",
    "READ_ONLY_EXECUTION_OPTION",
    "Backend",
    "backend_for",
    "backends",
]

READ_ONLY_EXECUTION_OPTION: Final = "hexalchemy_read_only"
"""Execution option: ``True`` on a connection whose transactions only read.

Set by the transaction managers on a read-only transaction and by the relay store on its
reads; a backend may act on it (SQLite begins such a transaction deferred instead of
``BEGIN IMMEDIATE``)."""

FAST_PATHS_EXECUTION_OPTION: Final = "hexalchemy_fast_paths"
"""Execution option: ``False`` on an engine or connection whose statements must all go through SQLAlchemy.

A backend's driver fast paths (:meth:`Backend.prepare`, :meth:`Backend.repository_path`)
then step aside, as they do when the engine echoes. Default: on. Attaching a listener or a
tracer does not need it: the fast paths report their statements themselves
(:mod:`hexalchemy.sqlalchemy.tracing`)."""

LIGHT_TRANSACTIONS_EXECUTION_OPTION: Final = "hexalchemy_light_transactions"
"""Execution option: ``True`` on an engine whose read-write transactions may be *light* (opt-in).

A light transaction (PostgreSQL with psycopg, the fast paths on, the default isolation
level) checks a connection out of the pool and commits it through the driver, and makes
SQLAlchemy's ``Connection`` only when something runs through SQLAlchemy: a transaction
whose statements all run on the fast paths then fires the pool's events but none of the
``Connection``'s (``engine_connect``, ``begin``, ``commit``, ``rollback``). Off by
default, so that a listener on those events (one that sets ``SET LOCAL`` parameters for
row-level security, say) runs for every transaction; turn it on for an engine with no
such listener, to save SQLAlchemy's per-transaction work (see ``docs/transactions.md``)."""


_MODULES: Final = {
    "mariadb": "hexalchemy.sqlalchemy.mariadb.backend",
    "postgresql": "hexalchemy.sqlalchemy.postgresql.backend",
    "sqlite": "hexalchemy.sqlalchemy.sqlite.backend",
}
"""The registry: SQLAlchemy's dialect name -> the module whose ``BACKEND`` serves it."""

_LOADED: dict[str, Backend] = {}


class Backend:
    """What hexalchemy's SQL adapters need to know of one database.

    Each answer here is the portable one; a database's subclass overrides the rest. One
    instance per database, shared by every adapter: a backend keeps no state.
    """

    name: ClassVar[str] = ""
    """SQLAlchemy's dialect name for the database (``Dialect.name``)."""

    # -------------------------------------------------------------------- URLs and engines
    url_drivers: ClassVar[frozenset[str]] = frozenset()
    """The URL driver names (``name+driver``) a :class:`~hexalchemy.sqlalchemy.DatabaseConfig` accepts."""

    url_hint: ClassVar[str] = ""
    """Said with the supported drivers when a URL's driver is refused (``postgresql means postgresql+psycopg``)."""

    def normalise_url(self, url: URL) -> URL | None:
        """``url`` as the configuration keeps it (a bare database name given its driver), or None for a driver not in :attr:`url_drivers`."""
        return url if url.drivername in self.url_drivers else None

    def url_problem(self, url: URL) -> str | None:
        """Why the database cannot be reached at ``url`` (a supported driver's), or None."""
        return None

    def engine_url(self, url: URL, *, is_async: bool) -> URL:
        """The URL the sync or async engine is built on (the driver may differ between the two)."""
        return url

    def check_pool(self, options: Mapping[str, Any], url: URL, *, is_async: bool) -> None:
        """Raise ``ConfigError`` for a pool option (``pool_size``...) the engine's pool cannot honour."""

    def prepare_engine(self, engine: Engine, config: DatabaseConfig, url: URL) -> None:
        """Attach what every connection of a new (sync, or an async engine's sync) engine needs."""

    def transaction_options(self, read_only: bool, isolation_level: IsolationLevel | None) -> dict[str, Any]:
        """The connection's execution options for a transaction (besides :data:`READ_ONLY_EXECUTION_OPTION`)."""
        return {} if isolation_level is None else {"isolation_level": isolation_level.value}

    def light_transactions(self, engine: Engine) -> bool:
        """Whether a read-write transaction at the default level may run on a pool connection alone, now.

        Such a transaction checks a connection out of ``engine``'s pool and commits it
        through the dialect; it makes a SQLAlchemy ``Connection`` (and so fires its events)
        only when something runs through SQLAlchemy. Only for a backend whose fast paths
        need nothing else, and none that acts on SQLAlchemy's ``begin`` event itself.
        """
        return False

    def own_transaction_options(self) -> dict[str, Any]:
        """The execution options of the transactions a store runs on a connection of its own.

        The outbox relay store's calls and the agent leases' claims, extensions and
        releases: short transactions that lock the rows they pick and write them by key.
        Here none: each statement sees every committed row (READ COMMITTED) where the
        database has isolation levels at all.
        """
        return {}

    # ------------------------------------------------------------------------------ errors
    def driver_error(self, error: Exception) -> sa_exc.DBAPIError | None:
        """An error of this database's driver itself (raised on a fast path) wrapped as SQLAlchemy wraps it, or None.

        Every path then reports the same: the hexalchemy error's ``__cause__`` is SQLAlchemy's
        ``DBAPIError`` with the driver's error in ``orig``, whichever path ran the statement.
        """
        return None

    @staticmethod
    def wrap_driver_error(error: Exception, driver_base: type[Exception]) -> sa_exc.DBAPIError:
        """``error``, raised by a driver outside SQLAlchemy, wrapped as SQLAlchemy wraps it (for :meth:`driver_error`).

        ``driver_base`` is the driver's base error class (``psycopg.Error``): SQLAlchemy picks the
        ``DBAPIError`` subclass (``IntegrityError``, ``OperationalError``...) by the error's class.
        """
        wrapped = sa_exc.DBAPIError.instance(None, None, error, driver_base)
        return wrapped if isinstance(wrapped, sa_exc.DBAPIError) else sa_exc.DBAPIError(None, None, error)

    def translate_error(self, error: sa_exc.DBAPIError) -> HexalchemyError | None:
        """The most specific hexalchemy error for a driver error of this database, or None to leave it to the generic rules.

        ``error`` is SQLAlchemy's ``DBAPIError``, the driver's error in ``orig`` (a fast path's
        error is wrapped first, by :meth:`driver_error`). The generic rules make an
        ``IntegrityError`` a ``ConstraintViolationError`` and any other a ``DatabaseError``.
        """
        return None

    def is_foreign_key_violation(self, error: ConstraintViolationError) -> bool:
        """Whether the driver error behind ``error`` (its ``__cause__``) is a foreign key violation."""
        return False

    # -------------------------------------------------------------------- tables and values
    max_identifier_bytes: ClassVar[int] = 63
    """The longest table, index, trigger or function name the database keeps whole, in UTF-8 bytes."""

    def derived_identifier(self, name: str, suffix: str) -> str:
        """``name + suffix`` (a trigger or function named after a table), fitted to :attr:`max_identifier_bytes`.

        A name that would be too long keeps as much of ``name`` as fits (whole characters)
        followed by 8 hex digits of a hash of the whole ``name`` and then ``suffix``, so two
        long table names never share a derived name and the database never cuts one short.
        """
        whole = f"{name}{suffix}"
        if len(whole.encode()) <= self.max_identifier_bytes:
            return whole
        tag = f"_{hashlib.sha256(name.encode()).hexdigest()[:8]}{suffix}"
        room = self.max_identifier_bytes - len(tag.encode())
        kept = name.encode()[:room].decode(errors="ignore")
        return f"{kept}{tag}"

    def utc_datetime_type(self) -> TypeEngine[Any]:
        """The column type behind :class:`~hexalchemy.sqlalchemy.UtcDateTime`; it is given aware datetimes in UTC.

        A database that stores them otherwise returns a ``TypeDecorator`` that converts
        them (SQLite: ISO 8601 text); ``UtcDateTime`` reads back text, naive (taken as
        UTC) and aware values alike.
        """
        return DateTime(timezone=True)

    def exact_decimal_type(self, precision: int | None, scale: int | None) -> TypeEngine[Any]:
        """The column type behind :class:`~hexalchemy.sqlalchemy.ExactDecimal` (``NUMERIC``, of this precision and scale when given).

        It is given Decimals; a database that stores them otherwise returns a
        ``TypeDecorator`` that converts them (SQLite: text).
        """
        return Numeric(precision, scale, asdecimal=True)

    def json_type(self) -> TypeEngine[Any] | None:
        """The column type of the JSON columns a derived table gets, when better than SQLAlchemy's ``JSON``."""
        return None

    def text_type(self, *, key: bool = False) -> TypeEngine[Any] | None:
        """The column type of text of no declared length in a derived table, when SQLAlchemy's ``String()`` does not fit.

        ``key``: for a primary key column (a database may index only bounded text).
        """
        return None

    def binary_type(self) -> TypeEngine[Any] | None:
        """The column type of bytes in a derived table, when SQLAlchemy's ``LargeBinary()`` does not fit."""
        return None

    def table_options(self) -> dict[str, Any]:
        """The ``Table`` keywords every table hexalchemy defines gets on this database (its character set, say)."""
        return {}

    def partial_index(self, where: ColumnElement[bool]) -> dict[str, Any]:
        """The ``Index`` keywords that index only the rows meeting ``where``; none where the database has no partial index.

        hexalchemy's partial indexes also work whole: a unique one covers a nullable
        column, and NULLs are never equal to each other.
        """
        return {}

    def check_mapping(self, mapping: TableMapping[Any, Any]) -> None:
        """Raise ``MappingError`` at repository construction for a field the database cannot store faithfully."""

    def append_only_statements(self, table: Table, dialect: Dialect) -> list[str]:
        """The driver SQL that makes ``table`` refuse UPDATE and DELETE (and TRUNCATE where there is one).

        The refusal surfaces as ``ConstraintViolationError``. Run each with
        ``connection.exec_driver_sql``.
        """
        raise ConfigError("dialect", self.name, "hexalchemy has no append-only triggers for this database")

    def drop_append_only_statements(self, table: Table, dialect: Dialect) -> list[str]:
        """The driver SQL that drops what :meth:`append_only_statements` made and the table's drop leaves."""
        return []

    # -------------------------------------------------------------------------- statements
    def insert(self, table: Table) -> Insert:
        """An ``INSERT`` into ``table``, of the construct :meth:`ignore_conflicts` and :meth:`upsert` take."""
        return insert(table)

    def ignore_conflicts(self, statement: Insert, keys: Sequence[Any] | None = None) -> Insert:
        """``statement`` skipping the rows that conflict with a stored one on ``keys`` (on any unique index: None)."""
        raise ConfigError("dialect", self.name, "hexalchemy cannot skip conflicting rows on this database")

    def skipped_rows(self, connection: Any, *, primary_key_only: bool) -> Plan[None]:
        """Plan, run right after an insert of :meth:`ignore_conflicts` stored fewer rows than given: raise what refused a row that was not a conflict.

        ``primary_key_only``: the insert skips conflicts on the primary key only (a conflict
        on another unique index is then an error). Here nothing is left to find: ``ON
        CONFLICT ... DO NOTHING`` skips only conflicts on its target and raises the rest.
        """
        yield from ()

    def upsert(
        self, statement: Insert, keys: Sequence[Any], changes: Callable[[Any], Mapping[str, Any]]
    ) -> Insert:
        """``statement`` updating the stored row where a row conflicts on ``keys``.

        ``changes(proposed)`` gives the columns to set, by name; ``proposed`` holds the
        columns of the row that was to be inserted (``proposed.name``, ``proposed[name]``).
        """
        raise ConfigError("dialect", self.name, "hexalchemy cannot upsert on this database")

    def one_of(self, column: Any, name: str) -> ColumnElement[bool]:
        """``column`` is one of the values of the list bound to ``name`` (an expanding ``IN`` here)."""
        condition: ColumnElement[bool] = column.in_(bindparam(name, expanding=True))
        return condition

    def comparable(
        self, column: ColumnElement[Any], stored_type: Any, *, ordered: bool
    ) -> tuple[ColumnElement[Any], Callable[[Any], Any] | None]:
        """How queries compare ``column``, holding values of ``stored_type``, as Python compares them; and how a value is bound against it.

        ``ordered``: for ``<``, ``>`` and ``ORDER BY`` (else for ``=`` and ``IN``). Text must
        order by code point, as Python's ``str``; the portable answer is the column itself.
        The conversion is None when a value is bound as it is.
        """
        return column, None

    def order(
        self, expression: ColumnElement[Any], *, descending: bool, nullable: bool
    ) -> UnaryExpression[Any]:
        """``expression`` in an ``ORDER BY``: NULL first ascending, last descending (``NULLS FIRST``/``NULLS LAST``)."""
        if descending:
            return expression.desc().nulls_last() if nullable else expression.desc()
        return expression.asc().nulls_first() if nullable else expression.asc()

    def text_match(
        self, column: ColumnElement[Any], kind: Literal["prefix", "contains"], pattern: Any
    ) -> ColumnElement[bool]:
        """``column`` starts with (``prefix``) or contains a text, case-sensitively (NULL stays unknown).

        ``pattern`` is :meth:`text_pattern` of the text, or a bound parameter that will hold
        it: the statement does not depend on the text, so it is prepared once. Portable:
        ``LIKE`` with ``/`` escaping the wildcards.
        """
        condition: ColumnElement[bool] = column.like(pattern, escape="/")
        return condition

    def text_pattern(self, kind: Literal["prefix", "contains"], text: str) -> str:
        """The value bound in :meth:`text_match` for ``text``: here a ``LIKE`` pattern, ``%`` and ``_`` plain characters."""
        escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
        return f"{escaped}%" if kind == "prefix" else f"%{escaped}%"

    def materialized(self, cte: CTE) -> CTE:
        """``cte`` evaluated once, as written (an optimisation fence), where the database must be told."""
        return cte

    writes_in_cte: ClassVar[bool] = False
    """Whether a statement may write in a ``WITH`` clause (``WITH x AS (INSERT ...) UPDATE ...``)."""

    write_reads_lock: ClassVar[bool] = False
    """Whether a write locks the rows its subqueries read, and the gaps between them (InnoDB under ``REPEATABLE READ``).

    A check folded into a write (``INSERT ... SELECT ... WHERE NOT EXISTS``) then makes two
    writers that both passed it deadlock on their inserts: where this is True, such a check
    runs as a read of its own before the write."""

    def read_latest(self, statement: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
        """``statement`` reading the rows as last committed, whatever the transaction's snapshot.

        For the read after a write that found a row changed or taken by another
        transaction (a version check that failed, an insert that skipped a conflict), which
        must see what the write saw. Here each statement sees every committed row (READ
        COMMITTED; under REPEATABLE READ the write itself fails as a serialization failure).
        """
        return statement

    max_bound_values: ClassVar[int] = 32_000
    """How many values a hexalchemy statement binds at most; longer lists are sent in chunks."""

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
        """``UPDATE table SET values WHERE where RETURNING returning``, ready to run in a transaction.

        ``values``: the columns set by the statement itself (name to expression); columns
        set by the parameters of each run are named in ``column_keys``. The ``Statement``'s
        ``run`` returns the updated rows' ``returning``. ``driver_path``: whether a driver
        may pre-compile it (:meth:`prepare`); else it always goes through SQLAlchemy. A
        database without ``UPDATE ... RETURNING`` gets the same rows in more statements,
        in the same transaction, the rows locked first.
        """
        from hexalchemy.sqlalchemy._precompiled import Statement

        statement = update(table).where(*where)
        if values:
            statement = statement.values(dict(values))
        statement = statement.returning(*returning)
        return self.prepare(statement, dialect, column_keys) if driver_path else Statement(statement)

    # ----------------------------------------------------------------------- outbox relay
    def relay_clock(self) -> RelayClock:
        """Whose clock the relay store's times come from: Python's here (see ``_outbox_core.ClientClock``)."""
        from hexalchemy.sqlalchemy._outbox_core import ClientClock

        return ClientClock()

    def crash_ledger(self, core: OutboxRelayCore, *, lock: bool) -> CrashLedger:
        """How locked deliveries record what they publish, and count those that died (see ``_outbox_crashes``).

        ``lock``: whether :meth:`due_messages` holds the rows it takes (the record is then
        written on a second connection, after the take). Here a record per delivery,
        deleted by the delivery's own transaction.
        """
        from hexalchemy.sqlalchemy._outbox_crashes import CrashLedger

        return CrashLedger(core, self, lock=lock)

    def due_messages(self, core: OutboxRelayCore) -> DueMessages:
        """How the relay store claims and takes due messages: a select, then writes (see ``_outbox_core``)."""
        from hexalchemy.sqlalchemy._outbox_core import SelectedDueMessages

        return SelectedDueMessages(core)

    # ---------------------------------------------------------------------- fast paths
    def prepare(
        self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> Statement:
        """``statement`` ready to run in a transaction (see ``_precompiled.Statement``); a driver may pre-compile it."""
        from hexalchemy.sqlalchemy._precompiled import Statement

        return Statement(statement)

    def repository_path(self, core: RepositoryCore[Any, Any]) -> RepositoryPath[Any, Any] | None:
        """A faster way to run a repository's hot operations on this driver, or None."""
        return None

    def bulk_insert(self, core: RepositoryCore[Any, Any]) -> BulkInsert[Any] | None:
        """A faster way for ``save_all`` to insert many new aggregates, when :meth:`repository_path` gives none or it steps aside; or None."""
        return None

    def driver_cursor(self, connection: Any) -> Any:
        """A new cursor of the driver connection behind ``connection`` (SQLAlchemy's ``PoolProxiedConnection``), or an awaitable of it.

        For the driver paths (``_driver_path``), which keep it as long as the connection;
        only a backend that has such a path is asked.
        """
        raise NotImplementedError(f"{self.name or 'this database'} has no driver path")

    def cursor_open(self, cursor: Any) -> bool:
        """Whether a cursor made by :meth:`driver_cursor` can still run statements (not closed)."""
        raise NotImplementedError(f"{self.name or 'this database'} has no driver path")


def backend_for(dialect: Dialect | str, *, portable: bool = False) -> Backend:
    """The backend of ``dialect`` (a SQLAlchemy dialect or its name); ``ConfigError`` for a database hexalchemy does not support.

    ``portable``: for such a database, the portable :class:`Backend` instead (the column
    types use it, so that a type still compiles for SQLAlchemy's default dialect, in a
    message or a migration script).
    """
    if isinstance(dialect, str):
        name = dialect
    elif is_instance(dialect, Dialect):
        name = dialect.name
    else:
        raise ConfigError("dialect", dialect, "must be a SQLAlchemy dialect or a dialect name")
    backend = _LOADED.get(name)
    if backend is None:
        if portable and name not in _MODULES:
            return _PORTABLE
        backend = _load(name)
    return backend


_PORTABLE: Final = Backend()


def _load(name: str) -> Backend:
    module_name = _MODULES.get(name)
    if module_name is None:
        raise ConfigError("dialect", name, f"hexalchemy supports {', '.join(sorted(_MODULES))}")
    backend = importlib.import_module(module_name).BACKEND
    if not isinstance(backend, Backend) or backend.name != name:  # pragma: no cover - a broken registry
        raise AssertionError(f"{module_name}.BACKEND is not the backend of {name!r}")
    _LOADED[name] = backend
    return backend


def backends() -> tuple[Backend, ...]:
    """Every registered backend, in the registry's order."""
    return tuple(backend_for(name) for name in _MODULES)
