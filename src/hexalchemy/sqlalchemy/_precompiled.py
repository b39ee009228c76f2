"""Statements built once per store and run in a transaction, by SQLAlchemy or by a backend's driver path.

The agent stores and the outbox writer keep their statements of every transaction as
:class:`Statement` objects, made by their backend (``Backend.prepare``): run through
SQLAlchemy here; a backend may return a subclass that runs a pre-compiled form on its
driver (PostgreSQL with psycopg). Either way :meth:`Statement.run` takes the parameters by
name and returns the rows as tuples.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

from hexalchemy.sqlalchemy._operations import Call, Plan, run_plan, run_plan_async
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = [
    "AsyncRowChunks",
    "DriverTarget",
    "JsonText",
    "OwnConnection",
    "RowChunks",
    "Statement",
    "json_text",
    "driver_utc",
    "statement_reader",
    "sync_connection_of",
    "utc",
]

T = TypeVar("T")


def utc(value: Any) -> Any:
    """A datetime read from the driver, in UTC (what :class:`~hexalchemy.sqlalchemy.types.UtcDateTime` gives)."""
    return None if value is None else value.astimezone(dt.UTC)


_ASTIMEZONE_UTC: Final = operator.methodcaller("astimezone", dt.UTC)


def statement_reader(mapping: TableMapping[T, Any]) -> Callable[[Sequence[Any]], T]:
    """The mapping's generated conversion for rows of :meth:`Statement.run` whose first columns are ``mapping.columns``.

    Rows read on a driver path have their times in the session's time zone: the reader puts
    each ``UtcDateTime`` column's value in UTC, as the column type does on SQLAlchemy's path
    (where it changes nothing), inside the generated function (a NOT NULL column's with no
    check for None, in C).
    """

    return mapping.row_reader([driver_utc(column) for column in mapping.columns])


def driver_utc(column: Any) -> Callable[[Any], Any] | None:
    """What puts a ``UtcDateTime`` column's value read on a driver path in UTC (None for any other column).

    The driver gives an aware datetime (``timestamptz``): in UTC is all the column type's
    result processing does to it. For a NOT NULL column, a C call with no check for None.
    """
    if not isinstance(column.type, UtcDateTime):
        return None
    return utc if column.nullable else _ASTIMEZONE_UTC


class JsonText(str):
    """A JSON parameter's value already encoded (by the validation that normalised it): sent as it is."""

    __slots__ = ()


_COMPACT_JSON: Final = json.JSONEncoder(separators=(",", ":"))
"""Built once: ``json.dumps(value, separators=...)`` builds an encoder at each call (9,000 instructions of 23,000)."""


def json_text(value: Any) -> str:
    """``value`` as compact JSON text: how a JSON parameter goes to the driver (a :class:`JsonText` as it is)."""
    if type(value) is JsonText:
        return value
    return _COMPACT_JSON.encode(value)


class DriverTarget(Protocol):
    """Where a statement runs: a connection, and the driver cursor a fast path made for it (or None yet).

    :class:`~hexalchemy.sqlalchemy.transaction.TransactionState` is one; so is the
    connection a relay store opens for one call.
    """

    driver_cursor: Any
    statement_hook: tuple[Any, bool, Any] | None
    """``(execution options, fast paths allowed, hook)`` resolved for this connection (``_driver_path._route``); None until the first statement."""

    @property
    def connection(self) -> Any:
        """The SQLAlchemy connection (sync or async) the statements run on, made on first use if need be."""

    @property
    def pool_connection(self) -> Any:
        """The pool connection (``PoolProxiedConnection``) the statements run on."""

    def options_holder(self) -> Any:
        """What holds the execution options in force (a sync ``Connection``, or an ``Engine``)."""


def sync_connection_of(connection: Any) -> Any:
    """The sync SQLAlchemy ``Connection`` of ``connection`` (itself, or an ``AsyncConnection``'s)."""
    sync = getattr(connection, "sync_connection", None)
    return connection if sync is None else sync


class OwnConnection:
    """A :class:`DriverTarget` for a connection a store opened for one call (no driver cursor yet)."""

    __slots__ = ("connection", "driver_cursor", "statement_hook")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.driver_cursor: Any = None
        self.statement_hook: tuple[Any, bool, Any] | None = None

    @property
    def pool_connection(self) -> Any:
        """The connection's pool connection."""
        return sync_connection_of(self.connection).connection

    def options_holder(self) -> Any:
        """The (sync) connection."""
        return sync_connection_of(self.connection)


class Statement:
    """A statement built once; :meth:`run` executes it through SQLAlchemy."""

    __slots__ = ("statement",)

    def __init__(self, statement: Any) -> None:
        self.statement = statement

    def run(
        self,
        state: DriverTarget,
        parameters: Mapping[str, Any],
        encoded: Mapping[str, JsonText] | None = None,
    ) -> Plan[list[Any]]:
        """Plan: execute the statement in the transaction; return its rows as tuples ([] when it returns none).

        ``encoded``: JSON parameters already encoded, for a driver path to send as they
        are (SQLAlchemy encodes its own, from ``parameters``). Datetimes read on a driver
        path may be in the session's time zone: convert them with :func:`utc`.
        """
        result = yield Call(state.connection.execute, (self.statement, parameters))
        return list(result.all()) if result.returns_rows else []

    def rows(self, state: DriverTarget, parameters: Mapping[str, Any]) -> list[Any]:
        """:meth:`run` run to its rows on a sync connection (its errors translated)."""
        return run_plan(self.run(state, parameters))

    async def rows_async(self, state: DriverTarget, parameters: Mapping[str, Any]) -> list[Any]:
        """:meth:`run` run to its rows on an async connection (its errors translated)."""
        return await run_plan_async(self.run(state, parameters))

    def stream(self, state: DriverTarget, parameters: Mapping[str, Any], chunk_size: int) -> RowChunks:
        """Run the SELECT in the transaction, its rows read ``chunk_size`` at a time (a server-side cursor where the driver has one)."""
        result: RowChunks = state.connection.execute(
            self.statement, parameters, execution_options={"yield_per": chunk_size}
        )
        return result

    async def stream_async(
        self, state: DriverTarget, parameters: Mapping[str, Any], chunk_size: int
    ) -> AsyncRowChunks:
        """:meth:`stream` through an async connection."""
        result: AsyncRowChunks = await state.connection.stream(
            self.statement, parameters, execution_options={"yield_per": chunk_size}
        )
        return result


class RowChunks(Protocol):
    """The rows of a streamed SELECT (SQLAlchemy's ``Result`` is one): ``partitions()`` gives them a chunk at a time."""

    def partitions(self) -> Iterator[Sequence[Any]]:
        """The rows, a list of at most the chunk size at a time."""
        ...

    def close(self) -> None:
        """Release the cursor (whether or not every row was read)."""
        ...


class AsyncRowChunks(Protocol):
    """The async twin of :class:`RowChunks` (SQLAlchemy's ``AsyncResult`` is one)."""

    def partitions(self) -> AsyncIterator[Sequence[Any]]:
        """The rows, a list of at most the chunk size at a time."""
        ...

    async def close(self) -> None:
        """Release the cursor (whether or not every row was read)."""
        ...
