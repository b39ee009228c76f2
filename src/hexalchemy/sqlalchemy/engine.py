"""Build SQLAlchemy engines, sync and async, from one :class:`DatabaseConfig`.

PostgreSQL uses psycopg 3 for both engines. SQLite uses the standard library's
``sqlite3`` (pysqlite) for the sync engine and ``aiosqlite`` for the async engine,
whichever of the two the configured URL names.

What a database needs of its engines is its backend's to say (see
:mod:`hexalchemy.sqlalchemy.backend`): the URL of each engine, the pool options it can
honour, and what every new connection needs. SQLite engines get SQLAlchemy's documented
recipe for correct transactions with pysqlite and aiosqlite (see "Transactions with
SQLite and the sqlite3 driver" in the SQLAlchemy SQLite dialect documentation): the
driver's own, legacy, transaction handling is switched off and SQLAlchemy emits
``BEGIN`` itself, so SELECTs, DDL and SAVEPOINTs all take part in the transaction. On
top of that every new connection runs ``PRAGMA foreign_keys=ON``, ``PRAGMA busy_timeout``
(from :attr:`DatabaseConfig.sqlite_busy_timeout`) and, for file databases,
``PRAGMA journal_mode=WAL``. A transaction begins with ``BEGIN IMMEDIATE``, so a
writer takes the write lock up front instead of failing to upgrade a read lock later,
unless the connection has the execution option :data:`READ_ONLY_EXECUTION_OPTION` set
to ``True``, in which case it begins with a plain (deferred) ``BEGIN``.

Nothing happens at import time; each call builds a new engine, which the caller owns
and must dispose of. The fast-path statements of an engine's connections are reported to
its statement hook (:mod:`hexalchemy.sqlalchemy.tracing`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
import sqlalchemy.ext.asyncio
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports.errors import ConfigError
from hexalchemy.rules import check_instance
from hexalchemy.sqlalchemy.backend import READ_ONLY_EXECUTION_OPTION, Backend, backend_for
from hexalchemy.sqlalchemy.config import DatabaseConfig

__all__ = ["READ_ONLY_EXECUTION_OPTION", "create_async_engine", "create_engine"]


def create_engine(config: DatabaseConfig) -> sqlalchemy.Engine:
    """Build a new sync :class:`sqlalchemy.Engine` from ``config``.

    A SQLite URL naming aiosqlite is served by pysqlite here. Every option of ``config``
    is applied; options left at ``None`` use SQLAlchemy's defaults.

    Raises:
        ConfigError: a pool option is set that the pool SQLAlchemy uses for this
            database cannot honour (SQLite ``:memory:`` databases use a single-connection
            pool).
    """
    backend, url = _url_for(config, is_async=False)
    engine = sqlalchemy.create_engine(url, **_engine_arguments(config, backend, url, is_async=False))
    backend.prepare_engine(engine, config, url)
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
    backend, url = _url_for(config, is_async=True)
    # Looked up at each call, as sqlalchemy.create_engine above: an instrumentation that wraps
    # SQLAlchemy's engine factories (OpenTelemetry's, without engine=) sees hexalchemy's engines too.
    engine = sqlalchemy.ext.asyncio.create_async_engine(
        url, **_engine_arguments(config, backend, url, is_async=True)
    )
    # Engine and pool events of an async engine are registered on its sync engine; the
    # connect event then receives SQLAlchemy's adapted driver connection.
    backend.prepare_engine(engine.sync_engine, config, url)
    return engine


def _url_for(config: DatabaseConfig, *, is_async: bool) -> tuple[Backend, URL]:
    check_instance("config", config, DatabaseConfig, error=ConfigError)
    url = make_url(config.url)
    backend = backend_for(url.get_backend_name())
    return backend, backend.engine_url(url, is_async=is_async)


def _engine_arguments(
    config: DatabaseConfig, backend: Backend, url: URL, *, is_async: bool
) -> dict[str, Any]:
    pool_options = {
        "pool_size": config.pool_size,
        "max_overflow": config.max_overflow,
        "pool_timeout": config.pool_timeout,
        "pool_recycle": config.pool_recycle,
    }
    backend.check_pool(pool_options, url, is_async=is_async)
    arguments: dict[str, Any] = {
        "echo": config.echo,
        "echo_pool": config.echo_pool,
        "pool_pre_ping": config.pool_pre_ping,
    }
    arguments.update((name, value) for name, value in pool_options.items() if value is not None)
    return arguments
