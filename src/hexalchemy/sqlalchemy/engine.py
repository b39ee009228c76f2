"""Build SQLAlchemy engines, sync and async, from one :class:`DatabaseConfig`.

PostgreSQL uses psycopg 3 for both engines. SQLite uses the standard library's
``sqlite3`` (pysqlite) for the sync engine and ``aiosqlite`` for the async engine,
whichever of the two the configured URL names.

SQLite engines get SQLAlchemy's documented recipe for correct transactions with
pysqlite and aiosqlite (see "Transactions with SQLite and the sqlite3 driver" in the
SQLAlchemy SQLite dialect documentation): the driver's own, legacy, transaction
handling is switched off and SQLAlchemy emits ``BEGIN`` itself, so SELECTs, DDL and
SAVEPOINTs all take part in the transaction. On top of that every new connection runs
``PRAGMA foreign_keys=ON``, ``PRAGMA busy_timeout`` (from
:attr:`DatabaseConfig.sqlite_busy_timeout`) and, for file databases,
``PRAGMA journal_mode=WAL``. A transaction begins with ``BEGIN IMMEDIATE``, so a
writer takes the write lock up front instead of failing to upgrade a read lock later,
unless the connection has the execution option :data:`READ_ONLY_EXECUTION_OPTION` set
to ``True``, in which case it begins with a plain (deferred) ``BEGIN``.

Nothing happens at import time; each call builds a new engine, which the caller owns
and must dispose of.
"""

from __future__ import annotations

from typing import Any, Final, Protocol, cast

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as _sa_create_async_engine

from hexalchemy.ports.errors import ConfigError
from hexalchemy.rules import check_instance
from hexalchemy.sqlalchemy.config import DatabaseConfig

__all__ = ["READ_ONLY_EXECUTION_OPTION", "create_async_engine", "create_engine"]

READ_ONLY_EXECUTION_OPTION: Final = "hexalchemy_read_only"
"""Execution option: when ``True`` on a SQLite connection, its transactions begin with
``BEGIN`` (deferred, a reader) instead of ``BEGIN IMMEDIATE`` (a writer)."""

_SYNC_SQLITE_DRIVER: Final = "sqlite"
_ASYNC_SQLITE_DRIVER: Final = "sqlite+aiosqlite"

# create_engine() pool arguments that the single-connection pools SQLAlchemy uses for
# SQLite memory databases do not take (SingletonThreadPool for pysqlite, StaticPool for
# aiosqlite), keyed by attribute; pool_recycle is accepted but would throw the
# database away, so it is refused too.
_MEMORY_POOL_REFUSED: Final[dict[bool, tuple[str, ...]]] = {
    False: ("max_overflow", "pool_timeout", "pool_recycle"),  # sync: SingletonThreadPool
    True: ("pool_size", "max_overflow", "pool_timeout", "pool_recycle"),  # async: StaticPool
}


def create_engine(config: DatabaseConfig) -> sqlalchemy.Engine:
    """Build a new sync :class:`sqlalchemy.Engine` from ``config``.

    A SQLite URL naming aiosqlite is served by pysqlite here. Every option of ``config``
    is applied; options left at ``None`` use SQLAlchemy's defaults.

    Raises:
        ConfigError: a pool option is set that the pool SQLAlchemy uses for this
            database cannot honour (SQLite ``:memory:`` databases use a single-connection
            pool).
    """
    url = _url_for(config, is_async=False)
    engine = sqlalchemy.create_engine(url, **_engine_arguments(config, url, is_async=False))
    if url.get_backend_name() == "sqlite":
        _install_sqlite_recipe(engine, config, is_file_database=_is_sqlite_file_database(url))
    return engine


def create_async_engine(config: DatabaseConfig) -> AsyncEngine:
    """Build a new :class:`~sqlalchemy.ext.asyncio.AsyncEngine` from ``config``.

    A SQLite URL naming pysqlite (or no driver) is served by aiosqlite here. Every option
    of ``config`` is applied; options left at ``None`` use SQLAlchemy's defaults. Dispose
    of the engine with ``await engine.dispose()``.

    Raises:
        ConfigError: a pool option is set that the pool SQLAlchemy uses for this
            database cannot honour (SQLite ``:memory:`` databases use a single-connection
            pool).
    """
    url = _url_for(config, is_async=True)
    engine = _sa_create_async_engine(url, **_engine_arguments(config, url, is_async=True))
    if url.get_backend_name() == "sqlite":
        # Engine and pool events of an async engine are registered on its sync engine;
        # the connect event then receives SQLAlchemy's adapted aiosqlite connection.
        _install_sqlite_recipe(engine.sync_engine, config, is_file_database=_is_sqlite_file_database(url))
    return engine


def _url_for(config: DatabaseConfig, *, is_async: bool) -> URL:
    check_instance("config", config, DatabaseConfig, error=ConfigError)
    url = make_url(config.url)
    if url.get_backend_name() == "sqlite":
        return url.set(drivername=_ASYNC_SQLITE_DRIVER if is_async else _SYNC_SQLITE_DRIVER)
    return url


def _is_sqlite_file_database(url: URL) -> bool:
    # The test SQLAlchemy's pysqlite and aiosqlite dialects use to choose their pool.
    return bool(url.database) and url.database != ":memory:" and url.query.get("mode") != "memory"


def _engine_arguments(config: DatabaseConfig, url: URL, *, is_async: bool) -> dict[str, Any]:
    pool_options = {
        "pool_size": config.pool_size,
        "max_overflow": config.max_overflow,
        "pool_timeout": config.pool_timeout,
        "pool_recycle": config.pool_recycle,
    }
    if url.get_backend_name() == "sqlite" and not _is_sqlite_file_database(url):
        pool = "StaticPool" if is_async else "SingletonThreadPool"
        for name in _MEMORY_POOL_REFUSED[is_async]:
            value = pool_options[name]
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

    arguments: dict[str, Any] = {
        "echo": config.echo,
        "echo_pool": config.echo_pool,
        "pool_pre_ping": config.pool_pre_ping,
    }
    arguments.update((name, value) for name, value in pool_options.items() if value is not None)
    return arguments


class _SQLiteDBAPIConnection(Protocol):
    """What the recipe uses of a ``sqlite3`` connection or SQLAlchemy's aiosqlite adapter."""

    isolation_level: str | None

    def cursor(self) -> _SQLiteDBAPICursor: ...


class _SQLiteDBAPICursor(Protocol):
    def execute(self, operation: str) -> object: ...

    def fetchall(self) -> object: ...

    def close(self) -> object: ...


def _install_sqlite_recipe(
    engine: sqlalchemy.Engine, config: DatabaseConfig, *, is_file_database: bool
) -> None:
    pragmas = ["PRAGMA foreign_keys=ON", f"PRAGMA busy_timeout={round(config.sqlite_busy_timeout * 1000)}"]
    if is_file_database:
        pragmas.append("PRAGMA journal_mode=WAL")

    def on_connect(dbapi_connection: _SQLiteDBAPIConnection, _connection_record: object) -> None:
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

    def on_begin(connection: sqlalchemy.Connection) -> None:
        options = connection.get_execution_options()
        dbapi_connection = cast("_SQLiteDBAPIConnection | None", connection.connection.dbapi_connection)
        if options.get("isolation_level") == "AUTOCOMMIT":
            # SQLAlchemy's driver-level autocommit: there is no transaction to begin.
            return
        if dbapi_connection is not None and dbapi_connection.isolation_level is not None:
            # SQLAlchemy restores a connection used with another isolation level by
            # setting the driver's isolation_level to "", which re-enables the driver's
            # legacy transaction handling; switch it off again.
            dbapi_connection.isolation_level = None
        connection.exec_driver_sql("BEGIN" if options.get(READ_ONLY_EXECUTION_OPTION) else "BEGIN IMMEDIATE")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
