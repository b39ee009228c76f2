"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy

from hexalchemy.sqlalchemy import DatabaseConfig, create_engine
from tests import mariadb
from tests.postgresql import POSTGRESQL_URL, unreachable_message, without_postgresql


@pytest.fixture(scope="session")
def mariadb_problem() -> str | None:
    """Why MariaDB cannot be reached (checked once per session), or None."""
    engine = create_engine(DatabaseConfig(url=mariadb.MARIADB_URL))
    try:
        with engine.connect():
            return None
    except Exception as error:
        return mariadb.unreachable_message(error)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgresql_problem() -> str | None:
    """Why PostgreSQL cannot be reached (checked once per session), or None."""
    engine = create_engine(DatabaseConfig(url=POSTGRESQL_URL))
    try:
        with engine.connect():
            return None
    except Exception as error:
        return unreachable_message(error)
    finally:
        engine.dispose()


@pytest.fixture
def postgresql_engine(postgresql_problem: str | None) -> Iterator[sqlalchemy.Engine]:
    """A new engine on the test PostgreSQL server, disposed after the test."""
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    engine = create_engine(DatabaseConfig(url=POSTGRESQL_URL))
    yield engine
    engine.dispose()


@pytest.fixture
def mariadb_engine(mariadb_problem: str | None) -> Iterator[sqlalchemy.Engine]:
    """A new engine on the test MariaDB server, disposed after the test."""
    if mariadb_problem is not None:
        mariadb.without_mariadb(mariadb_problem)
    engine = create_engine(DatabaseConfig(url=mariadb.MARIADB_URL))
    yield engine
    engine.dispose()
