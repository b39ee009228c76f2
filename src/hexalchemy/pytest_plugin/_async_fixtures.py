"""The plugin's async fixtures, registered by ``_plugin.pytest_configure`` when pytest-asyncio is installed.

Each is the async twin of the sync fixture of the same name without ``async_``: same
database, same tables, an :class:`~sqlalchemy.ext.asyncio.AsyncEngine` of its own,
disposed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from hexalchemy.pytest_plugin._async.harness import AsyncMemoryHarness, AsyncSqlHarness, end_session
from hexalchemy.pytest_plugin._databases import ServerDatabase, create_tables
from hexalchemy.pytest_plugin._plugin import without_server
from hexalchemy.sqlalchemy import DatabaseConfig, Schema, create_async_engine


@pytest.fixture
def hexalchemy_async_memory() -> AsyncMemoryHarness:
    """The async in-memory adapters on a new, empty store."""
    return AsyncMemoryHarness()


@pytest_asyncio.fixture
async def hexalchemy_async_sqlite(
    hexalchemy_schema: Schema, hexalchemy_sqlite_url: str
) -> AsyncIterator[AsyncSqlHarness]:
    """The async SQL adapters (aiosqlite) on a new SQLite database holding your schema's tables."""
    engine = create_async_engine(DatabaseConfig(url=hexalchemy_sqlite_url))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(create_tables, hexalchemy_schema)
        yield AsyncSqlHarness(engine, hexalchemy_schema)
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def hexalchemy_async_postgresql(
    pytestconfig: pytest.Config,
    hexalchemy_postgresql_database: ServerDatabase | str,
    hexalchemy_schema: Schema,
) -> AsyncIterator[AsyncSqlHarness]:
    """The async SQL adapters on the session's PostgreSQL database, your schema's tables emptied for this test."""
    if isinstance(hexalchemy_postgresql_database, str):
        without_server(pytestconfig, hexalchemy_postgresql_database)
    hexalchemy_postgresql_database.prepare(hexalchemy_schema)
    engine = create_async_engine(hexalchemy_postgresql_database.config)
    try:
        yield AsyncSqlHarness(engine, hexalchemy_schema)
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def hexalchemy_async_mariadb(
    pytestconfig: pytest.Config,
    hexalchemy_mariadb_database: ServerDatabase | str,
    hexalchemy_schema: Schema,
) -> AsyncIterator[AsyncSqlHarness]:
    """The async SQL adapters (aiomysql) on the session's MariaDB database, your schema's tables emptied for this test."""
    if isinstance(hexalchemy_mariadb_database, str):
        without_server(pytestconfig, hexalchemy_mariadb_database, "mariadb")
    hexalchemy_mariadb_database.prepare(hexalchemy_schema)
    engine = create_async_engine(hexalchemy_mariadb_database.config)
    try:
        yield AsyncSqlHarness(engine, hexalchemy_schema, end_session)
    finally:
        await engine.dispose()
