"""The raw side of the 9-column jobs, one per driver: what code written by hand with the driver does.

The job shapes (:mod:`benchmarks.invoice_get`, ``invoice_range``, ``invoice_insert``,
``invoice_update``: what is seeded, what is timed, what is checked) are written once, against
:class:`InvoiceTableSides`; each database gives its raw side as a :class:`RawInvoices` (here
psycopg 3's; PyMySQL's and aiomysql's in :mod:`benchmarks.mariadb`). Each method does a job's
whole loop on the driver, so the shape adds no call per statement to the raw side.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import Any, Protocol

from benchmarks.databases import AsyncRawConnection, RawConnection
from benchmarks.invoice_model import Invoice, RawSql, insert_params, invoice_from_row, update_status_params
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
)


def _check_found(row: object, id: object) -> None:
    if row is None:
        raise LookupError(id)


class RawInvoices(Protocol):
    """A driver's raw code for the 9-column jobs (sync); ``cursor`` is what :meth:`transaction` gives."""

    @property
    def name(self) -> str:
        """The driver, as the results name it (``psycopg 3``)."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """A transaction on the raw connection, committed at the end; gives a cursor."""
        ...

    def get_each(self, cursor: Any, ids: Sequence[uuid.UUID]) -> list[Invoice]:
        """One ``SELECT ... WHERE id = %s`` per id, each row made an aggregate (LookupError for a missing one)."""
        ...

    def range_each(self, cursor: Any, id_lists: Sequence[list[uuid.UUID]]) -> list[list[Invoice]]:
        """One ``SELECT`` per list of ids, the aggregates in the order asked, missing ones left out."""
        ...

    def load(self, cursor: Any, ids: list[uuid.UUID]) -> list[Invoice]:
        """The aggregates of ``ids``, in any order (untimed)."""
        ...

    def insert_all(self, cursor: Any, invoices: Sequence[Invoice]) -> None:
        """The driver's best batched insert of new aggregates (stored at version + 1)."""
        ...

    def update_status(self, cursor: Any, changed: Sequence[Invoice]) -> int:
        """The version-checked ``UPDATE`` of the one changed field of each; the rows matched."""
        ...


class AsyncRawInvoices(Protocol):
    """The async twin of :class:`RawInvoices`."""

    @property
    def name(self) -> str:
        """The driver, as the results name it."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """A transaction on the raw connection, committed at the end; gives a cursor."""
        ...

    async def get_each(self, cursor: Any, ids: Sequence[uuid.UUID]) -> list[Invoice]:
        """See :meth:`RawInvoices.get_each`."""
        ...

    async def range_each(self, cursor: Any, id_lists: Sequence[list[uuid.UUID]]) -> list[list[Invoice]]:
        """See :meth:`RawInvoices.range_each`."""
        ...

    async def load(self, cursor: Any, ids: list[uuid.UUID]) -> list[Invoice]:
        """See :meth:`RawInvoices.load`."""
        ...

    async def insert_all(self, cursor: Any, invoices: Sequence[Invoice]) -> None:
        """See :meth:`RawInvoices.insert_all`."""
        ...

    async def update_status(self, cursor: Any, changed: Sequence[Invoice]) -> int:
        """See :meth:`RawInvoices.update_status`."""
        ...


class InvoiceTableSides(Protocol):
    """One table of a database: a hexalchemy repository on it, the raw code, untimed resets and a digest."""

    @property
    def repository(self) -> SqlAlchemyRepository[Invoice, uuid.UUID]: ...
    @property
    def transactions(self) -> SqlAlchemyTransactionManager: ...
    @property
    def raw(self) -> RawInvoices: ...

    def reset(self, seed: Sequence[Invoice] = (), *, version: int = 1) -> None:
        """Empty the table, then insert ``seed`` at ``version``; untimed."""
        ...

    def digest(self) -> tuple[int, object]:
        """The row count and a digest of every row, to check that both sides wrote the same rows."""
        ...


class AsyncInvoiceTableSides(Protocol):
    """The async twin of :class:`InvoiceTableSides`."""

    @property
    def repository(self) -> AsyncSqlAlchemyRepository[Invoice, uuid.UUID]: ...
    @property
    def transactions(self) -> AsyncSqlAlchemyTransactionManager: ...
    @property
    def raw(self) -> AsyncRawInvoices: ...

    async def reset(self, seed: Sequence[Invoice] = (), *, version: int = 1) -> None:
        """Empty the table, then insert ``seed`` at ``version``; untimed."""
        ...

    async def digest(self) -> tuple[int, object]:
        """The row count and a digest of every row."""
        ...


def in_order(rows: Sequence[Any], ids: list[uuid.UUID]) -> list[Invoice]:
    """What raw psycopg code writes to return the rows as aggregates in the order asked, missing ones left out."""
    by_id = {row[0]: row for row in rows}
    return [invoice_from_row(row) for id in ids if (row := by_id.get(id)) is not None]


class PsycopgInvoices:
    """psycopg 3's raw code: a cursor, ``= ANY(%s)`` for a list, ``executemany`` (pipelined) for batches."""

    name = "psycopg 3"

    def __init__(self, connection: RawConnection, sql: RawSql) -> None:
        self.connection = connection
        self.sql = sql

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection.transaction(), self.connection.cursor() as cursor:
            yield cursor

    def get_each(self, cursor: Any, ids: Sequence[uuid.UUID]) -> list[Invoice]:
        sql, found = self.sql.get, []
        for id in ids:
            cursor.execute(sql, (id,))
            row = cursor.fetchone()
            _check_found(row, id)
            found.append(invoice_from_row(row))
        return found

    def range_each(self, cursor: Any, id_lists: Sequence[list[uuid.UUID]]) -> list[list[Invoice]]:
        sql, found = self.sql.range, []
        for ids in id_lists:
            cursor.execute(sql, (ids,))
            found.append(in_order(cursor.fetchall(), ids))
        return found

    def load(self, cursor: Any, ids: list[uuid.UUID]) -> list[Invoice]:
        return [invoice_from_row(row) for row in cursor.execute(self.sql.range, (ids,)).fetchall()]

    def insert_all(self, cursor: Any, invoices: Sequence[Invoice]) -> None:
        cursor.executemany(self.sql.insert, [insert_params(o, o.version + 1) for o in invoices])

    def update_status(self, cursor: Any, changed: Sequence[Invoice]) -> int:
        cursor.executemany(self.sql.update_status, [update_status_params(o) for o in changed])
        rowcount: int = cursor.rowcount
        return rowcount


class AsyncPsycopgInvoices:
    """The async twin of :class:`PsycopgInvoices`."""

    name = "psycopg 3"

    def __init__(self, connection: AsyncRawConnection, sql: RawSql) -> None:
        self.connection = connection
        self.sql = sql

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.connection.transaction(), self.connection.cursor() as cursor:
            yield cursor

    async def get_each(self, cursor: Any, ids: Sequence[uuid.UUID]) -> list[Invoice]:
        sql, found = self.sql.get, []
        for id in ids:
            await cursor.execute(sql, (id,))
            row = await cursor.fetchone()
            _check_found(row, id)
            found.append(invoice_from_row(row))
        return found

    async def range_each(self, cursor: Any, id_lists: Sequence[list[uuid.UUID]]) -> list[list[Invoice]]:
        sql, found = self.sql.range, []
        for ids in id_lists:
            await cursor.execute(sql, (ids,))
            found.append(in_order(await cursor.fetchall(), ids))
        return found

    async def load(self, cursor: Any, ids: list[uuid.UUID]) -> list[Invoice]:
        await cursor.execute(self.sql.range, (ids,))
        return [invoice_from_row(row) for row in await cursor.fetchall()]

    async def insert_all(self, cursor: Any, invoices: Sequence[Invoice]) -> None:
        await cursor.executemany(self.sql.insert, [insert_params(o, o.version + 1) for o in invoices])

    async def update_status(self, cursor: Any, changed: Sequence[Invoice]) -> int:
        await cursor.executemany(self.sql.update_status, [update_status_params(o) for o in changed])
        rowcount: int = cursor.rowcount
        return rowcount
