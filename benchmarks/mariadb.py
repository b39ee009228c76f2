"""``--only mariadb``: issue 12's 9-column jobs on MariaDB, hexalchemy against raw PyMySQL (sync) and aiomysql (async).

The same :class:`~benchmarks.invoice_model.Invoice` on the same two tables (hand-written
and derived, :mod:`benchmarks.invoice_tables`), created on the MariaDB server at
``$HEXALCHEMY_TEST_MARIADB_URL`` (else ``$TEST_MARIADB_URL``, else the local ``test``
database), and the raw side the best a user writes by hand with the driver:

- get: ``execute(SELECT ... WHERE id = %s)``, ``fetchone()``, the aggregate built by hand
  (the UUID parsed from its text, the datetime given its UTC zone, the text amount of the
  derived table made a ``Decimal``);
- range: ``SELECT ... WHERE id IN %s`` with the tuple of ids (PyMySQL writes the list),
  ``fetchall()``, the aggregates in the order asked;
- insert: ``executemany`` of a parameterised ``INSERT``, which PyMySQL (and aiomysql)
  rewrite into multi-row ``INSERT`` statements of up to ``max_stmt_length`` (1 MB) each:
  the driver's best batched insert;
- update: ``executemany`` of the version-checked ``UPDATE`` of the changed field (the
  drivers send it row by row: MariaDB has no pipelining) and the row count checked.

The job shapes (what is seeded, timed and checked) are the PostgreSQL jobs' own
(:func:`benchmarks.invoice_get.runners` and its siblings): this module gives them the
MariaDB tables and the raw code (:class:`PyMySQLInvoices`, :class:`AiomysqlInvoices`).
Everything is timed inside an open transaction, commit excluded. Targets (issue 15):
get <= 1.25x, range <= 1.10x, insert <= 1.0x, update <= 1.2x.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from typing import Any, Final

import attrs
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks import invoice_get, invoice_insert, invoice_range, invoice_update
from benchmarks.databases import SyncSides
from benchmarks.harness import Kind, Measurement, Settings, interleave, interleave_async
from benchmarks.invoice_model import COLUMNS, Invoice, InvoiceStatus
from benchmarks.invoice_tables import VARIANTS, InvoiceTable, Variant, invoice_tables
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_async_engine,
    create_engine,
)

# the drivers have no type information: they are used as untyped modules
pymysql: Any = importlib.import_module("pymysql")
aiomysql: Any = importlib.import_module("aiomysql")

DEFAULT_URL: Final = "mariadb+pymysql://root@127.0.0.1:3306/test"
TARGETS: Final = {"get": 1.25, "range": 1.10, "insert": 1.0, "update": 1.2}


def mariadb_url() -> str:
    """The MariaDB server's URL: ``$HEXALCHEMY_TEST_MARIADB_URL``, ``$TEST_MARIADB_URL`` or the local test database."""
    return os.environ.get("HEXALCHEMY_TEST_MARIADB_URL") or os.environ.get("TEST_MARIADB_URL") or DEFAULT_URL


def _connect_arguments(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    if parsed.get_backend_name() != "mariadb":
        raise SystemExit(f"the MariaDB jobs need a mariadb:// URL, not {parsed.drivername}")
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "db": parsed.database,
        "charset": "utf8mb4",
        "autocommit": True,
        "init_command": "SET time_zone = '+00:00'",
    }


# ------------------------------------------------------------------ raw, written by hand
@attrs.frozen
class RawSql:
    """The statements raw PyMySQL code sends for one of the two tables."""

    table: str

    @property
    def get(self) -> str:
        return f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE id = %s"

    @property
    def range(self) -> str:
        return f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE id IN %s"

    @property
    def insert(self) -> str:
        return f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"

    @property
    def update_status(self) -> str:
        return f"UPDATE {self.table} SET status = %s, version = %s WHERE id = %s AND version = %s"

    @property
    def digest(self) -> str:
        """The row count and a checksum of every row, to check that both sides wrote the same rows."""
        values = "CONCAT_WS('|', " + ", ".join(f"COALESCE({name}, '~')" for name in COLUMNS) + ")"
        return f"SELECT COUNT(*), COALESCE(SUM(CRC32({values})), 0) FROM {self.table}"


def invoice_from_row(r: Sequence[Any]) -> Invoice:
    """What raw PyMySQL code writes: the UUID from its text, the UTC zone, the amount as a Decimal."""
    amount = r[4]
    return Invoice(
        id=uuid.UUID(r[0]),
        customer=r[1],
        reference=r[2],
        quantity=r[3],
        amount=amount if isinstance(amount, Decimal) else Decimal(amount),
        status=InvoiceStatus(r[5]),
        issued_at=r[6].replace(tzinfo=dt.UTC),
        note=r[7],
        version=r[8],
    )


def insert_params(o: Invoice, version: int) -> tuple[Any, ...]:
    """The parameters of :attr:`RawSql.insert` for ``o`` at ``version`` (the datetimes are in UTC already)."""
    return (
        str(o.id),
        o.customer,
        o.reference,
        o.quantity,
        str(o.amount),
        o.status.value,
        o.issued_at.replace(tzinfo=None),
        o.note,
        version,
    )


def update_status_params(o: Invoice) -> tuple[Any, ...]:
    return (o.status.value, o.version + 1, str(o.id), o.version)


def in_order(rows: Sequence[Any], ids: list[uuid.UUID]) -> list[Invoice]:
    """The rows as aggregates in the order asked, missing ones left out."""
    by_id = {row[0]: row for row in rows}
    return [invoice_from_row(row) for id in ids if (row := by_id.get(str(id))) is not None]


class PyMySQLInvoices:
    """PyMySQL's raw code: a cursor, ``id IN %s`` with the tuple of ids, ``executemany`` for batches."""

    name = "PyMySQL"

    def __init__(self, connection: Any, sql: RawSql) -> None:
        self.connection = connection
        self.sql = sql

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Begin, give a cursor, commit; roll back on an error, so no transaction is left holding the table (a TRUNCATE would wait for it)."""
        self.connection.begin()
        try:
            with self.connection.cursor() as cursor:
                yield cursor
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()

    def get_each(self, cursor: Any, ids: Sequence[uuid.UUID]) -> list[Invoice]:
        sql, found = self.sql.get, []
        for id in ids:
            cursor.execute(sql, (str(id),))
            row = cursor.fetchone()
            if row is None:
                raise LookupError(id)
            found.append(invoice_from_row(row))
        return found

    def range_each(self, cursor: Any, id_lists: Sequence[list[uuid.UUID]]) -> list[list[Invoice]]:
        sql, found = self.sql.range, []
        for ids in id_lists:
            cursor.execute(sql, (tuple(str(id) for id in ids),))
            found.append(in_order(cursor.fetchall(), ids))
        return found

    def load(self, cursor: Any, ids: list[uuid.UUID]) -> list[Invoice]:
        cursor.execute(self.sql.range, (tuple(str(id) for id in ids),))
        return [invoice_from_row(row) for row in cursor.fetchall()]

    def insert_all(self, cursor: Any, invoices: Sequence[Invoice]) -> None:
        cursor.executemany(self.sql.insert, [insert_params(o, o.version + 1) for o in invoices])

    def update_status(self, cursor: Any, changed: Sequence[Invoice]) -> int:
        updated: int = cursor.executemany(self.sql.update_status, [update_status_params(o) for o in changed])
        return updated


class AiomysqlInvoices:
    """The async twin of :class:`PyMySQLInvoices` (aiomysql)."""

    name = "aiomysql"

    def __init__(self, connection: Any, sql: RawSql) -> None:
        self.connection = connection
        self.sql = sql

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """See :meth:`PyMySQLInvoices.transaction`."""
        await self.connection.begin()
        try:
            async with self.connection.cursor() as cursor:
                yield cursor
        except BaseException:
            await self.connection.rollback()
            raise
        await self.connection.commit()

    async def get_each(self, cursor: Any, ids: Sequence[uuid.UUID]) -> list[Invoice]:
        sql, found = self.sql.get, []
        for id in ids:
            await cursor.execute(sql, (str(id),))
            row = await cursor.fetchone()
            if row is None:
                raise LookupError(id)
            found.append(invoice_from_row(row))
        return found

    async def range_each(self, cursor: Any, id_lists: Sequence[list[uuid.UUID]]) -> list[list[Invoice]]:
        sql, found = self.sql.range, []
        for ids in id_lists:
            await cursor.execute(sql, (tuple(str(id) for id in ids),))
            found.append(in_order(await cursor.fetchall(), ids))
        return found

    async def load(self, cursor: Any, ids: list[uuid.UUID]) -> list[Invoice]:
        await cursor.execute(self.sql.range, (tuple(str(id) for id in ids),))
        return [invoice_from_row(row) for row in await cursor.fetchall()]

    async def insert_all(self, cursor: Any, invoices: Sequence[Invoice]) -> None:
        await cursor.executemany(self.sql.insert, [insert_params(o, o.version + 1) for o in invoices])

    async def update_status(self, cursor: Any, changed: Sequence[Invoice]) -> int:
        updated: int = await cursor.executemany(
            self.sql.update_status, [update_status_params(o) for o in changed]
        )
        return updated


# ------------------------------------------------------------------ sides
class Sides:
    """A sync repository on one table of the MariaDB server, a raw PyMySQL connection, and untimed resets."""

    def __init__(self, url: str, variant: Variant) -> None:
        self.table: InvoiceTable = invoice_tables()[variant]
        self.sql = RawSql(self.table.table.name)
        self.engine: Engine = create_engine(DatabaseConfig(url=url))
        self.transactions = SqlAlchemyTransactionManager(self.engine)
        self.repository: SqlAlchemyRepository[Invoice, uuid.UUID] = SqlAlchemyRepository(
            self.table.mapping, self.transactions
        )
        self.connection = pymysql.connect(**_connect_arguments(url))
        self.raw = PyMySQLInvoices(self.connection, self.sql)
        self.table.table.drop(self.engine, checkfirst=True)
        self.table.table.create(self.engine)

    def reset(self, seed: Sequence[Invoice] = (), *, version: int = 1) -> None:
        """Empty the table, then insert ``seed`` at ``version`` and ANALYZE; untimed."""
        with self.connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {self.sql.table}")
            if seed:
                cursor.executemany(self.sql.insert, [insert_params(o, version) for o in seed])
            cursor.execute(f"ANALYZE TABLE {self.sql.table}")
            cursor.fetchall()

    def digest(self) -> tuple[int, object]:
        with self.connection.cursor() as cursor:
            cursor.execute(self.sql.digest)
            count, checksum = cursor.fetchone()
        return int(count), int(checksum)

    def close(self) -> None:
        self.table.table.drop(self.engine, checkfirst=True)
        self.connection.close()
        self.engine.dispose()


class AsyncSides:
    """The async twin of :class:`Sides` (aiomysql); build it with :meth:`open`."""

    def __init__(self, url: str, variant: Variant, engine: AsyncEngine, raw: Any) -> None:
        self.table: InvoiceTable = invoice_tables()[variant]
        self.sql = RawSql(self.table.table.name)
        self.engine = engine
        self.transactions = AsyncSqlAlchemyTransactionManager(engine)
        self.repository: AsyncSqlAlchemyRepository[Invoice, uuid.UUID] = AsyncSqlAlchemyRepository(
            self.table.mapping, self.transactions
        )
        self.connection = raw
        self.raw = AiomysqlInvoices(raw, self.sql)

    @classmethod
    async def open(cls, url: str, variant: Variant) -> AsyncSides:
        engine = create_async_engine(DatabaseConfig(url=url))
        table = invoice_tables()[variant].table
        async with engine.begin() as connection:
            await connection.run_sync(table.drop, checkfirst=True)
            await connection.run_sync(table.create)
        raw = await aiomysql.connect(**_connect_arguments(url))
        return cls(url, variant, engine, raw)

    async def reset(self, seed: Sequence[Invoice] = (), *, version: int = 1) -> None:
        async with self.connection.cursor() as cursor:
            await cursor.execute(f"TRUNCATE {self.sql.table}")
            if seed:
                await cursor.executemany(self.sql.insert, [insert_params(o, version) for o in seed])
            await cursor.execute(f"ANALYZE TABLE {self.sql.table}")
            await cursor.fetchall()

    async def digest(self) -> tuple[int, object]:
        async with self.connection.cursor() as cursor:
            await cursor.execute(self.sql.digest)
            count, checksum = await cursor.fetchone()
        return int(count), int(checksum)

    async def close(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(self.table.table.drop, checkfirst=True)
        self.connection.close()
        await self.engine.dispose()


_SYNC: Final = {
    "get": invoice_get.runners,
    "range": invoice_range.runners,
    "insert": invoice_insert.runners,
    "update": invoice_update.runners,
}
_ASYNC: Final = {
    "get": invoice_get.async_runners,
    "range": invoice_range.async_runners,
    "insert": invoice_insert.async_runners,
    "update": invoice_update.async_runners,
}
_NAMES: Final = {
    "get": "get by id",
    "range": "range of 1,000 ids",
    "insert": "save_all 10k new",
    "update": "save_all 10k, one field changed",
}


@attrs.frozen
class MariaDBJob:
    """One operation on one table of the MariaDB server (the PostgreSQL sides the other jobs use are not touched)."""

    operation: str
    variant: Variant
    key: str = "mariadb"
    kind: Kind = "latency"
    modes: tuple[str, ...] = ("sync", "async")

    @property
    def name(self) -> str:
        return f"mariadb {self.operation}: {_NAMES[self.operation]}, {self.variant} table"

    @property
    def target(self) -> float:
        return TARGETS[self.operation]

    @property
    def unit(self) -> str:
        return "row" if self.operation in ("insert", "update") else "call"

    def work(self, settings: Settings) -> int:
        if self.operation == "get":
            return settings.get_calls
        if self.operation == "range":
            return settings.range_calls
        return settings.rows

    def repetitions(self, settings: Settings) -> int:
        return settings.get_repetitions if self.operation == "get" else settings.repetitions

    def measure_sync(self, _sides: SyncSides, settings: Settings) -> Measurement:
        """Prepare the table on the MariaDB server, then time both sides interleaved."""
        sides = Sides(mariadb_url(), self.variant)
        try:
            runners = _SYNC[self.operation](sides, settings)
            timings = interleave(
                runners.hexalchemy, runners.raw, settings, self.repetitions(settings), f"{self.name} (sync)"
            )
        finally:
            sides.close()
        return Measurement(
            self.name, "sync", self.kind, self.work(settings), timings, self.target, self.unit, "PyMySQL"
        )

    async def measure_async(self, settings: Settings, _url: str | None = None) -> Measurement:
        """The async twin of :meth:`measure_sync` (aiomysql on both sides)."""
        sides = await AsyncSides.open(mariadb_url(), self.variant)
        try:
            runners = await _ASYNC[self.operation](sides, settings)
            timings = await interleave_async(
                runners.hexalchemy, runners.raw, settings, self.repetitions(settings), f"{self.name} (async)"
            )
        finally:
            await sides.close()
        return Measurement(
            self.name, "async", self.kind, self.work(settings), timings, self.target, self.unit, "aiomysql"
        )


def server_version() -> str:
    """The MariaDB server's version, for the report's heading."""
    connection = pymysql.connect(**_connect_arguments(mariadb_url()))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            return str(cursor.fetchone()[0])
    finally:
        connection.close()


JOBS: Final = tuple(
    MariaDBJob(operation, variant)
    for operation in ("get", "range", "insert", "update")
    for variant in VARIANTS
)
