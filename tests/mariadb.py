"""Where the test MariaDB server is, and what a test does when it is unreachable.

``TEST_MARIADB_URL`` names the server (default: the local one, database ``test``). Without a
server a MariaDB test is skipped, except under ``TEST_REQUIRE_MARIADB=1`` (set by
``.ci/run``), where it fails: in CI no database test may be skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Final, NoReturn

import pytest
from sqlalchemy import Engine, MetaData, Table
from sqlalchemy.engine import make_url

from hexalchemy.pytest_plugin._async.harness import end_session as async_end_session
from hexalchemy.pytest_plugin._sync.harness import end_session
from hexalchemy.sqlalchemy import DatabaseConfig, create_engine

MARIADB_URL: Final = os.environ.get("TEST_MARIADB_URL", "mariadb+pymysql://root@127.0.0.1:3306/test")
REQUIRE_MARIADB: Final = os.environ.get("TEST_REQUIRE_MARIADB") == "1"


def unreachable_message(error: BaseException) -> str:
    """Say why MariaDB could not be reached, with the password hidden."""
    shown = make_url(MARIADB_URL).render_as_string(hide_password=True)
    return f"MariaDB is unreachable at {shown} (TEST_MARIADB_URL): {error}"


def without_mariadb(message: str) -> NoReturn:
    """Skip the test, or fail it when MariaDB is required (CI)."""
    if REQUIRE_MARIADB:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def mariadb_tables(metadata: MetaData) -> list[Table]:
    """``metadata``'s tables that MariaDB can hold, in dependency order: not those with a deferred foreign key (it has none)."""
    return [
        table
        for table in metadata.sorted_tables
        if not any(key.initially is not None or key.deferrable for key in table.foreign_keys)
    ]


def mariadb_with_tables(metadata: MetaData) -> Iterator[Engine | str]:
    """For a session fixture: an engine with :func:`mariadb_tables` created afresh, or why the server is unreachable.

    Never raises, so that an unreachable server is tried once per session, not once per
    test. The tables are dropped at the end of the session.
    """
    engine = create_engine(DatabaseConfig(url=MARIADB_URL))
    try:
        with engine.connect():
            pass
    except Exception as exc:
        engine.dispose()
        yield unreachable_message(exc)
        return
    tables = mariadb_tables(metadata)
    try:
        metadata.drop_all(engine, tables=tables)
        metadata.create_all(engine, tables=tables)
        yield engine
        metadata.drop_all(engine, tables=tables)
    finally:
        engine.dispose()


# the plugin's MariaDB commit breaker (KILL of the transaction's session), written once there
kill_session = end_session
kill_session_async = async_end_session
