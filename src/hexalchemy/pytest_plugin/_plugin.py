"""The pytest plugin's hooks and sync fixtures, registered by :mod:`hexalchemy._pytest_entry` (``pytest11``).

The async fixtures are in ``_async_fixtures.py``, registered when pytest-asyncio is
installed; without it the sync fixtures still work and nothing else changes.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NoReturn

import pytest

from hexalchemy.pytest_plugin._databases import (
    ISOLATIONS,
    SQLITE_MODES,
    ServerDatabase,
    create_tables,
    load_schema,
    xdist_worker,
)
from hexalchemy.pytest_plugin._sync.harness import MemoryHarness, SqlHarness, end_session
from hexalchemy.sqlalchemy import DatabaseConfig, Schema, create_engine
from hexalchemy.sqlalchemy.config import TEST_ENV_PREFIX

POSTGRESQL_URL_VARIABLE: Final = TEST_ENV_PREFIX + "POSTGRESQL_URL"
"""The environment variable naming the PostgreSQL test database (between the command line and the ini file)."""
MARIADB_URL_VARIABLE: Final = TEST_ENV_PREFIX + "MARIADB_URL"
"""The environment variable naming the MariaDB test database (between the command line and the ini file)."""
_URL_VARIABLES: Final = {"postgresql_url": POSTGRESQL_URL_VARIABLE, "mariadb_url": MARIADB_URL_VARIABLE}
_SERVERS: Final = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}
_OPTIONS: Final = {
    "schema": "your Schema, as 'package.module:NAME' (a Schema or a function returning one)",
    "postgresql_url": f"URL of the PostgreSQL test database (also: ${POSTGRESQL_URL_VARIABLE})",
    "require_postgresql": "fail, instead of skipping, a test that needs PostgreSQL when it is unset or unreachable",
    "mariadb_url": f"URL of the MariaDB test database (also: ${MARIADB_URL_VARIABLE})",
    "require_mariadb": "fail, instead of skipping, a test that needs MariaDB when it is unset or unreachable",
    "sqlite": f"where each test's SQLite database lives: {' or '.join(SQLITE_MODES)} (default: file)",
    "isolation": f"how a server database is reset before each test: {' or '.join(ISOLATIONS)} (default: delete)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--hexalchemy-*`` options and their ``hexalchemy_*`` ini twins."""
    group = parser.getgroup("hexalchemy", "hexalchemy test databases")
    for name, help_text in _OPTIONS.items():
        flag = f"--hexalchemy-{name.replace('_', '-')}"
        if name.startswith("require_"):
            group.addoption(
                flag, action="store_true", default=None, dest=f"hexalchemy_{name}", help=help_text
            )
            parser.addini(f"hexalchemy_{name}", help_text, type="bool", default=False)
        else:
            choices = {"sqlite": SQLITE_MODES, "isolation": ISOLATIONS}.get(name)
            group.addoption(flag, default=None, choices=choices, dest=f"hexalchemy_{name}", help=help_text)
            parser.addini(f"hexalchemy_{name}", help_text, default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the async fixtures when pytest-asyncio is installed."""
    if importlib.util.find_spec("pytest_asyncio") is None:
        return
    from hexalchemy.pytest_plugin import _async_fixtures

    config.pluginmanager.register(_async_fixtures, "hexalchemy-async")


def setting(config: pytest.Config, name: str) -> str:
    """An option's value: the command line, else (for the URL) the environment, else the ini file."""
    given: object = config.getoption(f"hexalchemy_{name}")
    if given is not None:
        return str(given)
    variable = _URL_VARIABLES.get(name)
    if variable is not None and os.environ.get(variable):
        return os.environ[variable]
    return str(config.getini(f"hexalchemy_{name}"))


def requires_server(config: pytest.Config, server: str = "postgresql") -> bool:
    """``--hexalchemy-require-<server>`` or ``hexalchemy_require_<server> = true`` (``postgresql``, ``mariadb``)."""
    return bool(
        config.getoption(f"hexalchemy_require_{server}") or config.getini(f"hexalchemy_require_{server}")
    )


def without_server(config: pytest.Config, reason: str, server: str = "postgresql") -> NoReturn:
    """Skip the test, or fail it when the server (``postgresql``, ``mariadb``) is required."""
    if requires_server(config, server):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def server_database(config: pytest.Config, server: str) -> Iterator[ServerDatabase | str]:
    """For a session fixture: the server's test database (a :class:`ServerDatabase`), or why there is none."""
    url = setting(config, f"{server}_url")
    if not url:
        yield (
            f"hexalchemy: no {_SERVERS[server]} test database: set --hexalchemy-{server}-url, "
            f"${_URL_VARIABLES[f'{server}_url']} or the ini option hexalchemy_{server}_url"
        )
        return
    isolation = setting(config, "isolation") or "delete"
    # MariaDB has no deferred constraints: its harnesses break a commit by ending the session
    database = ServerDatabase.open(
        url, isolation=isolation, worker=xdist_worker(), commit_breaker=server != "mariadb"
    )
    yield database
    if isinstance(database, ServerDatabase):
        database.close()


# -- the schema ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hexalchemy_schema(pytestconfig: pytest.Config) -> Schema:
    """Your :class:`~hexalchemy.sqlalchemy.Schema`, from the ``hexalchemy_schema`` option; override the fixture to build it yourself."""
    reference = setting(pytestconfig, "schema")
    if not reference:
        pytest.fail(
            "hexalchemy: no schema: set `hexalchemy_schema = package.module:NAME` in the ini file "
            "(or --hexalchemy-schema), or define a session fixture `hexalchemy_schema` returning your Schema",
            pytrace=False,
        )
    return load_schema(reference)


# -- in memory ----------------------------------------------------------------------------------


@pytest.fixture
def hexalchemy_memory() -> MemoryHarness:
    """The in-memory adapters on a new, empty store: ``.transactions`` and ``.repository(spec)``."""
    return MemoryHarness()


# -- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def hexalchemy_sqlite_url(pytestconfig: pytest.Config, tmp_path: Path) -> str:
    """The URL of this test's new SQLite database: a file under ``tmp_path``, or ``:memory:`` (``hexalchemy_sqlite``)."""
    mode = setting(pytestconfig, "sqlite") or "file"
    if mode not in SQLITE_MODES:
        raise pytest.UsageError(f"hexalchemy_sqlite = {mode!r}: expected one of {SQLITE_MODES}")
    return "sqlite:///:memory:" if mode == "memory" else f"sqlite:///{tmp_path / 'hexalchemy.db'}"


@pytest.fixture
def hexalchemy_sqlite(hexalchemy_schema: Schema, hexalchemy_sqlite_url: str) -> Iterator[SqlHarness]:
    """The SQL adapters on a new SQLite database holding your schema's tables, disposed after the test."""
    engine = create_engine(DatabaseConfig(url=hexalchemy_sqlite_url))
    try:
        with engine.begin() as connection:
            create_tables(connection, hexalchemy_schema)
        yield SqlHarness(engine, hexalchemy_schema)
    finally:
        engine.dispose()


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hexalchemy_postgresql_database(pytestconfig: pytest.Config) -> Iterator[ServerDatabase | str]:
    """This session's (this xdist worker's) PostgreSQL test database, or why there is none."""
    yield from server_database(pytestconfig, "postgresql")


@pytest.fixture
def hexalchemy_postgresql(
    pytestconfig: pytest.Config,
    hexalchemy_postgresql_database: ServerDatabase | str,
    hexalchemy_schema: Schema,
) -> SqlHarness:
    """The SQL adapters on the session's PostgreSQL database, your schema's tables emptied for this test."""
    if isinstance(hexalchemy_postgresql_database, str):
        without_server(pytestconfig, hexalchemy_postgresql_database)
    engine = hexalchemy_postgresql_database.prepare(hexalchemy_schema)
    return SqlHarness(engine, hexalchemy_schema)


# -- MariaDB ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hexalchemy_mariadb_database(pytestconfig: pytest.Config) -> Iterator[ServerDatabase | str]:
    """This session's (this xdist worker's) MariaDB test database, or why there is none."""
    yield from server_database(pytestconfig, "mariadb")


@pytest.fixture
def hexalchemy_mariadb(
    pytestconfig: pytest.Config,
    hexalchemy_mariadb_database: ServerDatabase | str,
    hexalchemy_schema: Schema,
) -> SqlHarness:
    """The SQL adapters on the session's MariaDB database, your schema's tables emptied for this test.

    A commit is broken by having the server end the session (:func:`end_session`).
    """
    if isinstance(hexalchemy_mariadb_database, str):
        without_server(pytestconfig, hexalchemy_mariadb_database, "mariadb")
    engine = hexalchemy_mariadb_database.prepare(hexalchemy_schema)
    return SqlHarness(engine, hexalchemy_schema, end_session)
