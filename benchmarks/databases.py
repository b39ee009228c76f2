"""The two sides of every benchmark: a hexalchemy repository and a raw psycopg 3 connection.

Both talk to the same table of the same server. The raw connection is in autocommit mode
and opens explicit transactions, so between runs no transaction holds the table and it
can be truncated and re-seeded (untimed) to give each run the same starting state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any, Final, LiteralString

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.model import COPY_SQL, TABLE, Order, build_schema, insert_params
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    TableMapping,
    create_async_engine,
    create_engine,
)
from hexalchemy.sqlalchemy.backend import LIGHT_TRANSACTIONS_EXECUTION_OPTION

DEFAULT_URL: Final = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
URL_VARIABLE: Final = "HEXALCHEMY_TEST_POSTGRESQL_URL"

RawConnection = psycopg.Connection[tuple[Any, ...]]
AsyncRawConnection = psycopg.AsyncConnection[tuple[Any, ...]]


def default_url() -> str:
    """The database URL: ``$HEXALCHEMY_TEST_POSTGRESQL_URL`` or the local test database."""
    return os.environ.get(URL_VARIABLE, DEFAULT_URL)


def conninfo_for(url: str) -> str:
    """The libpq connection string for the same database as a SQLAlchemy URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(f"the benchmarks need PostgreSQL, not {parsed.drivername}")
    parts: dict[str, str | int | None] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    return make_conninfo("", **{name: value for name, value in parts.items() if value is not None})


def _truncate_sql() -> LiteralString:
    return f"TRUNCATE {TABLE}"


class SyncSides:
    """A sync hexalchemy repository and a sync raw psycopg connection on one table."""

    def __init__(self, url: str) -> None:
        schema, mapping = build_schema()
        self.schema: Schema = schema
        self.mapping: TableMapping[Order, uuid.UUID] = mapping
        # light transactions (opt-in): the bench's engine has no Connection event listener
        self.engine: Engine = create_engine(DatabaseConfig(url=url)).execution_options(
            **{LIGHT_TRANSACTIONS_EXECUTION_OPTION: True}
        )
        self.transactions = SqlAlchemyTransactionManager(self.engine)
        self.repository: SqlAlchemyRepository[Order, uuid.UUID] = SqlAlchemyRepository(
            mapping, self.transactions
        )
        self.raw: RawConnection = psycopg.connect(conninfo_for(url), autocommit=True)

    def create_table(self) -> None:
        """Drop and create the benchmark table (from the hexalchemy mapping).

        Autovacuum is off for it: every run truncates it, and a vacuum started by the
        previous run's dead rows would compete for this machine's cores.
        """
        self.schema.drop_all(self.engine)
        self.schema.create_all(self.engine)
        self.raw.execute(f"ALTER TABLE {TABLE} SET (autovacuum_enabled = false)")

    def drop_table(self) -> None:
        """Drop the benchmark table."""
        self.schema.drop_all(self.engine)

    def reset(self, seed: Sequence[Order] = (), *, version: int = 1) -> None:
        """Empty the table, then COPY ``seed`` in at ``version`` and ANALYZE; untimed."""
        with self.raw.cursor() as cursor:
            cursor.execute(_truncate_sql())
            if seed:
                with cursor.copy(COPY_SQL) as copy:
                    for order in seed:
                        copy.write_row(insert_params(order, version))
            cursor.execute(f"ANALYZE {TABLE}")

    def close(self) -> None:
        """Close the raw connection and dispose of the engine."""
        self.raw.close()
        self.engine.dispose()


class AsyncSides:
    """An async hexalchemy repository and an async raw psycopg connection on one table."""

    def __init__(self, url: str, engine: AsyncEngine, raw: AsyncRawConnection) -> None:
        _, mapping = build_schema()
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self.repository: AsyncSqlAlchemyRepository[Order, uuid.UUID] = AsyncSqlAlchemyRepository(
            mapping, self.transactions
        )
        self.raw = raw

    @classmethod
    async def open(cls, url: str) -> AsyncSides:
        """Build the async engine and connect the raw async connection (the table must exist)."""
        engine = create_async_engine(DatabaseConfig(url=url))
        raw = await psycopg.AsyncConnection.connect(conninfo_for(url), autocommit=True)
        return cls(url, engine, raw)

    async def reset(self, seed: Sequence[Order] = (), *, version: int = 1) -> None:
        """Empty the table, then COPY ``seed`` in at ``version`` and ANALYZE; untimed."""
        async with self.raw.cursor() as cursor:
            await cursor.execute(_truncate_sql())
            if seed:
                async with cursor.copy(COPY_SQL) as copy:
                    for order in seed:
                        await copy.write_row(insert_params(order, version))
            await cursor.execute(f"ANALYZE {TABLE}")

    async def close(self) -> None:
        """Close the raw connection and dispose of the engine."""
        await self.raw.close()
        await self.engine.dispose()
