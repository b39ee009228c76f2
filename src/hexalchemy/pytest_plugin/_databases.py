"""Where the plugin's databases come from: the options, the user's schema, a server database per worker.

One rule each, used by the sync and the async fixtures alike: :func:`load_schema` (the
``hexalchemy_schema`` option), :func:`create_tables` (a schema's tables and the commit
breaker), :class:`ServerDatabase` (a database on a server for the session, tables created
once per schema and emptied before each test).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Final, cast

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hexalchemy.pytest_plugin.tables import COMMIT_BREAKER
from hexalchemy.sqlalchemy import DatabaseConfig, Schema, create_engine

ISOLATIONS: Final = ("delete", "recreate")
"""How a server database is isolated between tests: rows deleted, or tables dropped and created again."""
SQLITE_MODES: Final = ("file", "memory")
"""Where a SQLite test database lives: a new file under ``tmp_path``, or ``:memory:``."""
XDIST_WORKER: Final = "PYTEST_XDIST_WORKER"
"""The variable pytest-xdist sets in each worker (``gw0``, ``gw1``...)."""


def load_schema(reference: str) -> Schema:
    """The :class:`Schema` named by ``package.module:NAME``: a ``Schema``, or a callable that returns one."""
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        raise pytest.UsageError(
            f"hexalchemy_schema = {reference!r}: expected 'package.module:NAME', NAME a Schema "
            "or a function returning one"
        )
    try:
        module = importlib.import_module(module_name)
        found: object = functools.reduce(getattr, attribute.split("."), module)
    except (ImportError, AttributeError) as error:
        raise pytest.UsageError(f"hexalchemy_schema = {reference!r}: {error}") from error
    if not isinstance(found, Schema) and callable(found):
        found = cast("Callable[[], object]", found)()
    if not isinstance(found, Schema):
        raise pytest.UsageError(
            f"hexalchemy_schema = {reference!r} is {found!r}, not a hexalchemy.sqlalchemy.Schema"
        )
    return found


def create_tables(connection: Connection, schema: Schema, *, commit_breaker: bool = True) -> None:
    """Create ``schema``'s tables and :data:`COMMIT_BREAKER` (those that do not exist yet; ``commit_breaker``: that one too)."""
    schema.metadata.create_all(connection)
    if commit_breaker:
        COMMIT_BREAKER.metadata.create_all(connection)


def drop_tables(connection: Connection, schema: Schema, *, commit_breaker: bool = True) -> None:
    """Drop ``schema``'s tables and :data:`COMMIT_BREAKER` (those that exist; ``commit_breaker``: that one too)."""
    if commit_breaker:
        COMMIT_BREAKER.metadata.drop_all(connection)
    schema.metadata.drop_all(connection)


class ServerDatabase:
    """A database on a server (PostgreSQL, MariaDB) for this session, shared by the tests of one pytest-xdist worker.

    Under pytest-xdist each worker gets a database of its own, named after the URL's with
    the worker's id appended (``test_gw0``), dropped and created at the start and dropped at
    the end. A schema's tables are dropped and created the first time a test asks for them,
    then emptied (``isolation="delete"``) or dropped and created again (``"recreate"``)
    before each test, and dropped at the end of the session. ``commit_breaker``: whether
    :data:`COMMIT_BREAKER` goes beside them (not on a database without deferred
    constraints, MariaDB, whose harnesses break a commit by ending the session).
    """

    def __init__(self, url: str, *, isolation: str, worker: str | None, commit_breaker: bool = True) -> None:
        if isolation not in ISOLATIONS:
            raise pytest.UsageError(f"hexalchemy_isolation = {isolation!r}: expected one of {ISOLATIONS}")
        self.isolation = isolation
        self.commit_breaker = commit_breaker
        self._base = DatabaseConfig(url=url)
        self._worker_database: str | None = None
        if worker is not None:
            parsed = make_url(self._base.url)
            self._worker_database = f"{parsed.database}_{worker}"
            self._recreate_worker_database(drop_only=False)
            self.config = self._base.with_url(
                parsed.set(database=self._worker_database).render_as_string(hide_password=False)
            )
        else:
            self.config = self._base
        self.engine = create_engine(self.config)
        self._prepared: list[Schema] = []

    @classmethod
    def open(
        cls, url: str, *, isolation: str, worker: str | None, commit_breaker: bool = True
    ) -> ServerDatabase | str:
        """The database, or why the server cannot be used (never raises for an unreachable server)."""
        shown = make_url(url).render_as_string(hide_password=True)
        try:
            database = cls(url, isolation=isolation, worker=worker, commit_breaker=commit_breaker)
            with database.engine.connect():
                pass
        except pytest.UsageError:
            raise
        except Exception as error:
            return f"hexalchemy: the test database at {shown} cannot be used: {error}"
        return database

    def prepare(self, schema: Schema) -> Engine:
        """The session engine, with ``schema``'s tables existing and empty.

        A table whose rows cannot be deleted (the append-only agent evidence table) fails the
        test with a message naming the table and ``hexalchemy_isolation = recreate``.
        """
        first = not any(prepared is schema for prepared in self._prepared)
        with self.engine.begin() as connection:
            if first or self.isolation == "recreate":
                drop_tables(connection, schema, commit_breaker=self.commit_breaker)
                create_tables(connection, schema, commit_breaker=self.commit_breaker)
                if first:
                    self._prepared.append(schema)
                return self.engine
            breaker = [COMMIT_BREAKER] if self.commit_breaker else []
            for table in [*reversed(schema.metadata.sorted_tables), *breaker]:
                try:
                    connection.execute(table.delete())
                except DBAPIError as error:
                    pytest.fail(
                        f"hexalchemy: the rows of {table.name} cannot be deleted before the test "
                        f"({type(error.orig).__name__}): set `hexalchemy_isolation = recreate` "
                        "(or --hexalchemy-isolation=recreate) to drop and create the tables instead",
                        pytrace=False,
                    )
        return self.engine

    def close(self) -> None:
        """Drop the tables this session made (and the worker's database); dispose of the engine."""
        try:
            with self.engine.begin() as connection:
                for schema in self._prepared:
                    drop_tables(connection, schema, commit_breaker=self.commit_breaker)
        finally:
            self.engine.dispose()
            if self._worker_database is not None:
                self._recreate_worker_database(drop_only=True)

    def _recreate_worker_database(self, *, drop_only: bool) -> None:
        assert self._worker_database is not None
        engine = create_engine(self._base)
        try:
            name = engine.dialect.identifier_preparer.quote(self._worker_database)
            with engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                autocommit.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
                if not drop_only:
                    autocommit.exec_driver_sql(f"CREATE DATABASE {name}")
        finally:
            engine.dispose()


def xdist_worker() -> str | None:
    """This process's pytest-xdist worker id (``gw0``...), or None outside pytest-xdist."""
    return os.environ.get(XDIST_WORKER) or None
