"""The two tables of the 9-column jobs, and each job's sides on one of them.

:class:`Invoice` is mapped onto two tables of one ``MetaData``, each by a ``Schema`` of
its own (a schema maps a class once): ``bench_invoices``, written by hand
(:func:`~benchmarks.invoice_model.hand_written_table`, its string lengths and the
amount's precision and scale declared on the spec), and ``bench_invoices_derived``,
derived from the class as it is. A job creates its table when it is set up (dropping a leftover
one) and drops it when it is done (:func:`drop_tables`, the job's ``clean_up``).
Autovacuum is off for them, as for ``bench_orders``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Final, Literal, LiteralString

import attrs
import psycopg
from sqlalchemy import MetaData, Table

from benchmarks.databases import AsyncRawConnection, AsyncSides, RawConnection, SyncSides, conninfo_for
from benchmarks.invoice_model import (
    COLUMNS,
    HAND_WRITTEN_OPTIONS,
    Invoice,
    RawSql,
    hand_written_table,
    insert_params,
)
from benchmarks.invoice_raw import AsyncPsycopgInvoices, PsycopgInvoices
from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    Schema,
    SqlAlchemyRepository,
    TableMapping,
)

Variant = Literal["hand-written", "derived"]
VARIANTS: Final[tuple[Variant, ...]] = ("hand-written", "derived")
TABLE_NAMES: Final[dict[Variant, LiteralString]] = {
    "hand-written": "bench_invoices",
    "derived": "bench_invoices_derived",
}


@attrs.frozen
class InvoiceTable:
    """One of the two tables: its mapping and the raw SQL written against it."""

    variant: Variant
    mapping: TableMapping[Invoice, uuid.UUID]
    raw: RawSql

    @property
    def table(self) -> Table:
        """The SQLAlchemy table."""
        return self.mapping.table

    @property
    def label(self) -> str:
        """How the table is named in the results: ``hand-written table`` or ``derived table``."""
        return f"{self.variant} table"


@functools.cache
def invoice_tables() -> dict[Variant, InvoiceTable]:
    """Both mappings, built once (the sync and async repositories share them)."""
    metadata = MetaData()
    hand_written = Schema(metadata=metadata).map(
        EntitySpec(Invoice, key="id", version="version", key_type=uuid.UUID, columns=HAND_WRITTEN_OPTIONS),
        table=hand_written_table(TABLE_NAMES["hand-written"], metadata),
    )
    derived = Schema(metadata=metadata).map(
        EntitySpec(Invoice, key="id", version="version", key_type=uuid.UUID), table=TABLE_NAMES["derived"]
    )
    tables: dict[Variant, InvoiceTable] = {}
    mappings: dict[Variant, TableMapping[Invoice, uuid.UUID]] = {
        "hand-written": hand_written,
        "derived": derived,
    }
    for variant, mapping in mappings.items():
        names = tuple(column.name for column in mapping.columns)
        if names != COLUMNS:
            raise AssertionError(f"the {variant} mapping's columns {names} are not the raw SQL's {COLUMNS}")
        tables[variant] = InvoiceTable(variant, mapping, RawSql(TABLE_NAMES[variant]))
    return tables


def drop_tables(url: str) -> None:
    """Drop both tables, if they exist (every 9-column job's ``clean_up``)."""
    with psycopg.connect(conninfo_for(url), autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {', '.join(TABLE_NAMES.values())}")


class InvoiceSides:
    """A sync repository on one table, the raw connection, and the table's untimed resets."""

    def __init__(self, sides: SyncSides, variant: Variant) -> None:
        self.table = invoice_tables()[variant]
        self.sql = self.table.raw
        self.transactions = sides.transactions
        self.connection: RawConnection = sides.raw
        self.raw = PsycopgInvoices(sides.raw, self.sql)
        self.repository: SqlAlchemyRepository[Invoice, uuid.UUID] = SqlAlchemyRepository(
            self.table.mapping, sides.transactions
        )
        table = self.table.table
        table.drop(sides.engine, checkfirst=True)
        table.create(sides.engine)
        self.connection.execute(f"ALTER TABLE {self.sql.table} SET (autovacuum_enabled = false)")

    def reset(self, seed: Sequence[Invoice] = (), *, version: int = 1) -> None:
        """Empty the table, then COPY ``seed`` in at ``version`` and ANALYZE; untimed."""
        with self.connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {self.sql.table}")
            if seed:
                with cursor.copy(self.sql.copy) as copy:
                    for invoice in seed:
                        copy.write_row(insert_params(invoice, version))
            cursor.execute(f"ANALYZE {self.sql.table}")

    def digest(self) -> tuple[int, object]:
        """The row count and a digest of every row (see :attr:`RawSql.digest`)."""
        row = self.connection.execute(self.sql.digest).fetchone()
        return (row[0], row[1]) if row is not None else (-1, "")


class AsyncInvoiceSides:
    """The async twin of :class:`InvoiceSides`; build it with :meth:`open`."""

    def __init__(self, sides: AsyncSides, table: InvoiceTable) -> None:
        self.table = table
        self.sql = table.raw
        self.transactions = sides.transactions
        self.connection: AsyncRawConnection = sides.raw
        self.raw = AsyncPsycopgInvoices(sides.raw, self.sql)
        self.repository: AsyncSqlAlchemyRepository[Invoice, uuid.UUID] = AsyncSqlAlchemyRepository(
            table.mapping, sides.transactions
        )

    @classmethod
    async def open(cls, sides: AsyncSides, variant: Variant) -> AsyncInvoiceSides:
        """(Re)create the variant's table and build the sides on it."""
        table = invoice_tables()[variant]
        async with sides.engine.begin() as connection:
            await connection.run_sync(table.table.drop, checkfirst=True)
            await connection.run_sync(table.table.create)
        await sides.raw.execute(f"ALTER TABLE {table.raw.table} SET (autovacuum_enabled = false)")
        return cls(sides, table)

    async def reset(self, seed: Sequence[Invoice] = (), *, version: int = 1) -> None:
        """Empty the table, then COPY ``seed`` in at ``version`` and ANALYZE; untimed."""
        async with self.connection.cursor() as cursor:
            await cursor.execute(f"TRUNCATE {self.sql.table}")
            if seed:
                async with cursor.copy(self.sql.copy) as copy:
                    for invoice in seed:
                        await copy.write_row(insert_params(invoice, version))
            await cursor.execute(f"ANALYZE {self.sql.table}")

    async def digest(self) -> tuple[int, object]:
        """The row count and a digest of every row (see :attr:`RawSql.digest`)."""
        row = await (await self.connection.execute(self.sql.digest)).fetchone()
        return (row[0], row[1]) if row is not None else (-1, "")
