"""Where the test databases are, what a test does when PostgreSQL is unreachable, and their tables.

``TEST_POSTGRESQL_URL`` names the server (default: the local one). Without a server a
PostgreSQL test is skipped, except under ``TEST_REQUIRE_POSTGRESQL=1`` (set by ``.ci/run``),
where it fails: in CI no database test may be skipped.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NoReturn

import pytest
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.engine import make_url

from hexalchemy.sqlalchemy import DatabaseConfig, create_engine

POSTGRESQL_URL: Final = os.environ.get(
    "TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRESQL: Final = os.environ.get("TEST_REQUIRE_POSTGRESQL") == "1"


def unreachable_message(error: BaseException) -> str:
    """Say why PostgreSQL could not be reached, with the password hidden."""
    shown = make_url(POSTGRESQL_URL).render_as_string(hide_password=True)
    return f"PostgreSQL is unreachable at {shown} (TEST_POSTGRESQL_URL): {error}"


def without_postgresql(message: str) -> NoReturn:
    """Skip the test, or fail it when PostgreSQL is required (CI)."""
    if REQUIRE_POSTGRESQL:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def engine_with_tables(metadata: MetaData, config: DatabaseConfig | None = None) -> Iterator[Engine | str]:
    """For a session fixture: an engine with ``metadata``'s tables created afresh, or why the server is unreachable.

    Never raises, so that an unreachable server is tried once per session, not once per
    test. The tables are dropped at the end of the session.
    """
    engine = create_engine(config or DatabaseConfig(url=POSTGRESQL_URL))
    try:
        with engine.connect():
            pass
    except Exception as exc:
        engine.dispose()
        yield unreachable_message(exc)
        return
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        yield engine
        metadata.drop_all(engine)
    finally:
        engine.dispose()


def sqlite_file_with_tables(metadata: MetaData, path: Path) -> DatabaseConfig:
    """The configuration of a new SQLite file at ``path`` holding ``metadata``'s tables."""
    config = DatabaseConfig(url=f"sqlite:///{path}")
    engine = create_engine(config)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    return config


@contextlib.contextmanager
def aborted_writes(engine: Engine, table: str, event: str, times: int) -> Iterator[None]:
    """Make PostgreSQL abort the first ``times`` statements that ``event`` (DELETE, INSERT) rows of ``table``.

    Each is aborted as a deadlock victim is (SQLSTATE 40P01). A sequence counts them: it is
    not rolled back with the aborted transaction.
    """
    name = f"hx_abort_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SEQUENCE {name}"))
        connection.execute(
            text(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF nextval('{name}') <= {times} THEN "
                "RAISE EXCEPTION 'deadlock injected by the test' USING ERRCODE = '40P01'; END IF; "
                f"RETURN COALESCE(NEW, OLD); END $$"
            )
        )
        connection.execute(
            text(f'CREATE TRIGGER {name} BEFORE {event} ON "{table}" FOR EACH ROW EXECUTE FUNCTION {name}()')
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP TRIGGER {name} ON "{table}"'))
            connection.execute(text(f"DROP FUNCTION {name}()"))
            connection.execute(text(f"DROP SEQUENCE {name}"))
