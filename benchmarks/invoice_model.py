"""The 9-column aggregate of issue 12's targets, its hand-written table, and the raw psycopg code for it.

``Invoice`` is a frozen attrs class with a UUID key, a str enum, an aware datetime, a
``Decimal``, an optional text and a version, plus three plain fields: nine columns. It
is mapped twice (``benchmarks/invoice_tables.py``): onto :func:`hand_written_table`
(the datetime in a ``UtcDateTime`` column, the amount in ``Numeric(18, 2)``) and onto a
table derived from the class. Both tables have the same column names, so the raw SQL
(:class:`RawSql`) differs only by the table's name.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final, LiteralString

import attrs
from sqlalchemy import Column, Integer, MetaData, Numeric, String, Table, Text, Uuid

from hexalchemy.ports import ColumnOptions
from hexalchemy.sqlalchemy import UtcDateTime

COLUMNS: Final[tuple[LiteralString, ...]] = (
    "id",
    "customer",
    "reference",
    "quantity",
    "amount",
    "status",
    "issued_at",
    "note",
    "version",
)
"""Both tables' columns, in the mapping's order; the raw SQL is written against them."""


class InvoiceStatus(enum.StrEnum):
    """Where an invoice is; stored by value."""

    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


@attrs.frozen
class Invoice:
    """The 9-column benchmark aggregate."""

    id: uuid.UUID
    customer: str
    reference: str
    quantity: int
    amount: Decimal
    status: InvoiceStatus
    issued_at: dt.datetime
    note: str | None
    version: int = 0


def hand_written_table(name: str, metadata: MetaData) -> Table:
    """The table a team would write for :class:`Invoice`: ``UtcDateTime``, ``Numeric(18, 2)``, bounded strings."""
    return Table(
        name,
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("customer", String(100), nullable=False),
        Column("reference", String(40), nullable=False),
        Column("quantity", Integer, nullable=False),
        Column("amount", Numeric(18, 2), nullable=False),
        Column("status", String(16), nullable=False),
        Column("issued_at", UtcDateTime(), nullable=False),
        Column("note", Text, nullable=True),
        Column("version", Integer, nullable=False),
    )


HAND_WRITTEN_OPTIONS: Final = {
    "customer": ColumnOptions(max_length=100),
    "reference": ColumnOptions(max_length=40),
    "quantity": ColumnOptions(bits=32),
    "amount": ColumnOptions(precision=18, scale=2),
    "version": ColumnOptions(bits=32),
}
"""What the hand-written table's columns hold, declared on its mapping (``EntitySpec(columns=...)``)."""

_STATUSES: Final = tuple(InvoiceStatus)
_EPOCH: Final = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_invoices(count: int, *, version: int = 0, seed: int = 0) -> list[Invoice]:
    """``count`` distinct invoices with new random ids, all at ``version``; every other one has a note."""
    return [
        Invoice(
            id=uuid.uuid4(),
            customer=f"customer-{seed}-{index % 4999:05d}",
            reference=f"INV-{seed}-{index:07d}",
            quantity=1 + index % 17,
            amount=Decimal(f"{index % 100_000}.{index % 100:02d}"),
            status=_STATUSES[index % len(_STATUSES)],
            issued_at=_EPOCH + dt.timedelta(seconds=17 * index, microseconds=index % 1_000_000),
            note=None if index % 2 else f"deliver to door {index % 53}",
            version=version,
        )
        for index in range(count)
    ]


def paid(invoices: Sequence[Invoice]) -> list[Invoice]:
    """The same invoices with one field changed: ``status`` set to ``PAID`` (versions unchanged)."""
    return [attrs.evolve(invoice, status=InvoiceStatus.PAID) for invoice in invoices]


# ------------------------------------------------------------------ raw, written by hand
@attrs.frozen
class RawSql:
    """The statements raw psycopg code sends for one of the two tables."""

    table: LiteralString

    @property
    def get(self) -> LiteralString:
        """One invoice by id."""
        return f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE id = %s"

    @property
    def range(self) -> LiteralString:
        """Many invoices by id: one array parameter."""
        return f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE id = ANY(%s)"

    @property
    def insert(self) -> LiteralString:
        """One new row (``executemany`` batches it)."""
        return f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({', '.join('%s' for _ in COLUMNS)})"

    @property
    def update_status(self) -> LiteralString:
        """The version-checked update of the one changed field."""
        return f"UPDATE {self.table} SET status = %s, version = %s WHERE id = %s AND version = %s"

    @property
    def copy(self) -> LiteralString:
        """The untimed seed."""
        return f"COPY {self.table} ({', '.join(COLUMNS)}) FROM STDIN"

    @property
    def digest(self) -> LiteralString:
        """One text summing up every row, to check that both sides wrote the same rows."""
        return (
            f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM {self.table} t"
        )


def invoice_from_row(r: Sequence[Any]) -> Invoice:
    """What raw psycopg code writes to turn a row into an aggregate (psycopg gives UUID, Decimal, aware datetime)."""
    return Invoice(
        id=r[0],
        customer=r[1],
        reference=r[2],
        quantity=r[3],
        amount=r[4],
        status=InvoiceStatus(r[5]),
        issued_at=r[6],
        note=r[7],
        version=r[8],
    )


def insert_params(o: Invoice, version: int) -> tuple[Any, ...]:
    """The parameters of :attr:`RawSql.insert` (and a COPY row) for ``o`` stored at ``version``."""
    return (o.id, o.customer, o.reference, o.quantity, o.amount, o.status.value, o.issued_at, o.note, version)


def update_status_params(o: Invoice) -> tuple[Any, ...]:
    """The parameters of :attr:`RawSql.update_status`: the field, version + 1, id and the expected version."""
    return (o.status.value, o.version + 1, o.id, o.version)
