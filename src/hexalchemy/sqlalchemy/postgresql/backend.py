"""PostgreSQL (through psycopg 3): everything hexalchemy does differently there.

- URLs: ``postgresql://`` means ``postgresql+psycopg://``; the only driver supported.
- Transactions: isolation levels as asked, ``READ ONLY`` for read-only ones.
- Errors: SQLSTATE ``40001`` is a ``SerializationConflictError``, ``40P01`` a
  ``DeadlockError``; on the fast paths (errors of psycopg itself) class ``23`` is a
  ``ConstraintViolationError``; ``23503`` is a foreign key violation.
- Types: ``timestamptz``, ``NUMERIC``, ``JSONB`` for derived JSON columns; partial indexes.
- Statements: ``INSERT ... ON CONFLICT``, one array parameter (``= ANY(:list)``) for a list
  of values, ``MATERIALIZED`` CTEs, writes in CTEs.
- Triggers: the append-only evidence table's trigger function and triggers.
- The outbox relay: the database's clock and one-statement claims
  (:mod:`~hexalchemy.sqlalchemy.postgresql._relay`).
- psycopg fast paths: pre-compiled statements and COPY
  (:mod:`~hexalchemy.sqlalchemy.postgresql._driver`), only with psycopg.
- LISTEN/NOTIFY wake-ups for the relay: :mod:`~hexalchemy.sqlalchemy.postgresql.notify`
  (public as :mod:`hexalchemy.sqlalchemy.outbox_notify`).

Every SQL text written here by hand names tables, columns, functions and triggers through
the dialect's identifier preparer, never by pasting a name in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from sqlalchemy import ColumnElement, Dialect, Engine, Insert, Table, any_, bindparam
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.sql.compiler import IdentifierPreparer
from sqlalchemy.sql.expression import CTE
from sqlalchemy.types import TypeEngine

from hexalchemy.ports import (
    ConstraintViolationError,
    DeadlockError,
    HexalchemyError,
    IsolationLevel,
    SerializationConflictError,
)
from hexalchemy.sqlalchemy.backend import LIGHT_TRANSACTIONS_EXECUTION_OPTION, Backend
from hexalchemy.sqlalchemy.postgresql._conninfo import query_problem

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._outbox_core import DueMessages, OutboxRelayCore, RelayClock
    from hexalchemy.sqlalchemy._outbox_crashes import CrashLedger
    from hexalchemy.sqlalchemy._precompiled import Statement
    from hexalchemy.sqlalchemy._repository_core import RepositoryCore, RepositoryPath

__all__ = ["BACKEND", "PostgreSQLBackend"]

_SERIALIZATION_FAILURE: Final = "40001"
_DEADLOCK_DETECTED: Final = "40P01"
_FOREIGN_KEY_VIOLATION: Final = "23503"
_INTEGRITY_CONSTRAINT_CLASS: Final = "23"


def _qualified(preparer: IdentifierPreparer, schema: str | None, name: str) -> str:
    """``name`` (a function, say), quoted, in ``schema`` when there is one."""
    quoted = preparer.quote(name)
    return quoted if schema is None else f"{preparer.quote_schema(schema)}.{quoted}"


def _copy_statement(table: Table, columns: Sequence[Any], dialect: Dialect) -> str:
    """``COPY table (columns) FROM STDIN``, every name through the dialect's identifier preparer.

    The preparer writes a ``%`` in a name as ``%%``, for statements sent with parameters;
    COPY goes without, and psycopg sends such a statement as it is: ``%%`` is put back to ``%``.
    """
    preparer = dialect.identifier_preparer
    names = ", ".join(preparer.format_column(column) for column in columns)
    sql = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
    return sql.replace("%%", "%") if dialect.paramstyle in ("format", "pyformat") else sql


def _append_only_function(table: Table, preparer: IdentifierPreparer) -> str:
    name = BACKEND.derived_identifier(table.name, "_append_only")
    return _qualified(preparer, table.schema, name)


_CHARACTERISTICS: Final = frozenset({"isolation_level", "postgresql_readonly", "postgresql_deferrable"})
"""Engine execution options that SQLAlchemy applies to each ``Connection`` it makes (so not to a light transaction)."""


class PostgreSQLBackend(Backend):
    """PostgreSQL, through psycopg 3 (sync and async)."""

    name: ClassVar[str] = "postgresql"
    url_drivers: ClassVar[frozenset[str]] = frozenset({"postgresql+psycopg"})
    url_hint: ClassVar[str] = "postgresql means postgresql+psycopg"
    max_identifier_bytes: ClassVar[int] = 63
    writes_in_cte: ClassVar[bool] = True
    max_bound_values: ClassVar[int] = 65_535
    """The protocol's limit: a statement carries at most 65,535 parameters (a list bound as an array counts one)."""

    # -------------------------------------------------------------------- URLs and engines
    def normalise_url(self, url: URL) -> URL | None:
        """``postgresql://`` is ``postgresql+psycopg://``; no other driver."""
        return super().normalise_url(
            url.set(drivername="postgresql+psycopg") if url.drivername == self.name else url
        )

    def url_problem(self, url: URL) -> str | None:
        """A query argument libpq does not know (``?pool_size=5``, a typo) or would refuse the value of when connecting (``?sslmode=bogus``)."""
        return query_problem(url.query)

    def transaction_options(self, read_only: bool, isolation_level: IsolationLevel | None) -> dict[str, Any]:
        """The isolation level asked for, and ``READ ONLY`` for a read-only transaction."""
        options = super().transaction_options(read_only, isolation_level)
        if read_only:
            options["postgresql_readonly"] = True
        return options

    def light_transactions(self, engine: Engine) -> bool:
        """With psycopg, when ``engine`` opts in (``LIGHT_TRANSACTIONS_EXECUTION_OPTION``) and its fast paths are on.

        Not when the engine's options set a connection characteristic (an isolation level,
        read-only, deferrable): SQLAlchemy applies those when it makes a ``Connection``.
        """
        from hexalchemy.sqlalchemy._driver_path import fast_paths_on
        from hexalchemy.sqlalchemy.postgresql._driver import uses_psycopg

        options = engine.get_execution_options()
        return (
            options.get(LIGHT_TRANSACTIONS_EXECUTION_OPTION) is True
            and not _CHARACTERISTICS.intersection(options)
            and uses_psycopg(engine.dialect)
            and fast_paths_on(engine)
        )

    # ------------------------------------------------------------------------------ errors
    def driver_error(self, error: Exception) -> sa_exc.DBAPIError | None:
        """An error of psycopg itself (the fast paths), wrapped as SQLAlchemy wraps it."""
        if not type(error).__module__.startswith("psycopg"):
            return None
        import psycopg

        if not isinstance(error, psycopg.Error):
            return None
        return self.wrap_driver_error(error, psycopg.Error)

    def translate_error(self, error: sa_exc.DBAPIError) -> HexalchemyError | None:
        """Serialization failures and deadlocks by SQLSTATE."""
        original = error.orig
        sqlstate = getattr(original, "sqlstate", None)
        message = str(original) if original is not None else str(error)
        if sqlstate == _SERIALIZATION_FAILURE:
            return SerializationConflictError(message)
        if sqlstate == _DEADLOCK_DETECTED:
            return DeadlockError(message)
        return None

    def is_foreign_key_violation(self, error: ConstraintViolationError) -> bool:
        """SQLSTATE ``23503``."""
        cause = error.__cause__
        original = getattr(cause, "orig", None) or cause
        return getattr(original, "sqlstate", None) == _FOREIGN_KEY_VIOLATION

    # -------------------------------------------------------------------- tables and values
    def json_type(self) -> TypeEngine[Any] | None:
        """``JSONB``."""
        return postgresql.JSONB()

    def partial_index(self, where: ColumnElement[bool]) -> dict[str, Any]:
        """``postgresql_where``."""
        return {"postgresql_where": where}

    def append_only_statements(self, table: Table, dialect: Dialect) -> list[str]:
        """A trigger function raising ``restrict_violation`` (SQLSTATE 23001), a row trigger
        ``BEFORE UPDATE OR DELETE`` and a statement trigger ``BEFORE TRUNCATE``.

        The function is ``<table>_append_only``, in the table's schema; the triggers are
        ``<table>_no_change`` and ``<table>_no_truncate`` (fitted to 63 bytes by
        :meth:`~hexalchemy.sqlalchemy.backend.Backend.derived_identifier`). The message names the table
        (``TG_TABLE_NAME``): no name is written inside the function's body.
        """
        preparer = dialect.identifier_preparer
        target = preparer.format_table(table)
        function = _append_only_function(table, preparer)
        no_change = preparer.quote(self.derived_identifier(table.name, "_no_change"))
        no_truncate = preparer.quote(self.derived_identifier(table.name, "_no_truncate"))
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = 'hexalchemy: ' || TG_TABLE_NAME || ' is append-only: ' "
            "|| TG_OP || ' refused', ERRCODE = 'restrict_violation'; END $$",
            f"CREATE TRIGGER {no_change} BEFORE UPDATE OR DELETE ON {target} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {no_truncate} BEFORE TRUNCATE ON {target} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]

    def drop_append_only_statements(self, table: Table, dialect: Dialect) -> list[str]:
        """The trigger function (the triggers go with the table)."""
        return [f"DROP FUNCTION IF EXISTS {_append_only_function(table, dialect.identifier_preparer)}()"]

    # -------------------------------------------------------------------------- statements
    def insert(self, table: Table) -> Insert:
        """PostgreSQL's ``INSERT``, with ``ON CONFLICT``."""
        return postgresql.insert(table)

    def ignore_conflicts(self, statement: Insert, keys: Sequence[Any] | None = None) -> Insert:
        """``ON CONFLICT (keys) DO NOTHING``."""
        assert isinstance(statement, postgresql.Insert)
        return statement.on_conflict_do_nothing(index_elements=keys)

    def upsert(
        self, statement: Insert, keys: Sequence[Any], changes: Callable[[Any], Mapping[str, Any]]
    ) -> Insert:
        """``ON CONFLICT (keys) DO UPDATE SET ...``, the proposed row as ``excluded``."""
        assert isinstance(statement, postgresql.Insert)
        return statement.on_conflict_do_update(index_elements=keys, set_=dict(changes(statement.excluded)))

    def one_of(self, column: Any, name: str) -> ColumnElement[bool]:
        """``column = ANY(:name)``, the list bound as one array: one statement text for every length."""
        condition: ColumnElement[bool] = column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
        return condition

    def comparable(
        self, column: ColumnElement[Any], stored_type: Any, *, ordered: bool
    ) -> tuple[ColumnElement[Any], Callable[[Any], Any] | None]:
        """Text ordered ``COLLATE "C"`` (bytes of UTF-8: code point order, as Python); equality needs no collation, so an index still serves it."""
        if ordered and stored_type is str:
            return column.collate("C"), None
        return column, None

    def materialized(self, cte: CTE) -> CTE:
        """``WITH name AS MATERIALIZED (...)``."""
        return cte.prefix_with("MATERIALIZED")

    # ----------------------------------------------------------------------- outbox relay
    def crash_ledger(self, core: OutboxRelayCore, *, lock: bool) -> CrashLedger:
        """Each delivery recorded with its transaction's id, in one autocommit statement; ``pg_xact_status`` tells a dead one."""
        from hexalchemy.sqlalchemy.postgresql._deliveries import TransactionLedger

        return TransactionLedger(core, self)

    def relay_clock(self) -> RelayClock:
        """The database's clock (``now()``)."""
        from hexalchemy.sqlalchemy.postgresql._relay import DatabaseClock

        return DatabaseClock()

    def due_messages(self, core: OutboxRelayCore) -> DueMessages:
        """One statement to claim, one to take, locking the rows with ``FOR UPDATE SKIP LOCKED``."""
        from hexalchemy.sqlalchemy.postgresql._relay import LockingDueMessages

        return LockingDueMessages(core, self)

    # ---------------------------------------------------------------------- fast paths
    def prepare(
        self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> Statement:
        """With psycopg, the statement pre-compiled for its cursor."""
        from hexalchemy.sqlalchemy.postgresql._driver import DriverStatement, uses_psycopg

        if uses_psycopg(dialect):
            return DriverStatement(statement, dialect, column_keys)
        return super().prepare(statement, dialect, column_keys)

    def repository_path(self, core: RepositoryCore[Any, Any]) -> RepositoryPath[Any, Any] | None:
        """With psycopg, the hot reads and updates on its cursor, and COPY for new aggregates."""
        from hexalchemy.sqlalchemy.postgresql._driver import RepositoryDriverPath, uses_psycopg

        dialect = core.transactions.dialect
        if not uses_psycopg(dialect):
            return None
        mapping = core.mapping
        return RepositoryDriverPath(core, dialect, _copy_statement(mapping.table, mapping.columns, dialect))

    def driver_cursor(self, connection: Any) -> Any:
        """The driver connection's plain cursor."""
        return connection.driver_connection.cursor()

    def cursor_open(self, cursor: Any) -> bool:
        """Whether the cursor is not closed."""
        return not cursor.closed


BACKEND: Final = PostgreSQLBackend()
"""The PostgreSQL backend (see :func:`hexalchemy.sqlalchemy.backend.backend_for`)."""
