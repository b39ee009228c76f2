# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The LISTEN/NOTIFY wake-up: :class:`AsyncPostgresNotifyWakeUp`; see :mod:`hexalchemy.sqlalchemy.postgresql.notify`."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from hexalchemy.rules import check_seconds
from hexalchemy.sqlalchemy.config import DatabaseConfig
from hexalchemy.sqlalchemy.postgresql._listening import (
    DEFAULT_NOTIFY_CHANNEL,
    check_channel,
    check_schema,
    conninfo,
    drained_async,
    encoded,
    listen_statement,
    logger,
    sleep_statement,
    sleepers_row_statement,
    sleepers_table,
)

if TYPE_CHECKING:  # psycopg is an optional dependency: imported when a listener connects
    import psycopg


class AsyncPostgresNotifyWakeUp:
    """A relay wake-up that listens for PostgreSQL notifications on ``channel``.

    ``database`` is a :class:`~hexalchemy.sqlalchemy.DatabaseConfig` or a PostgreSQL URL;
    the listener opens its own connection (autocommit, outside the engine's pool) on the
    first :meth:`wait`. Use one per relay, and :meth:`close` it (or use it as a context
    manager).

    The trigger notifies only while a listener sleeps: the first :meth:`wait` after a
    :meth:`clear` (or a new connection) marks the channel's listeners asleep in the
    sleepers table of ``schema`` (the outbox tables' schema; None: the search path's)
    and, when they were awake, returns True at once, so that the relay claims once more
    (a message committed between its last claim and the mark did not notify). A database
    whose trigger was installed before the sleepers table existed notifies at every
    commit; the listener then only listens.
    """

    def __init__(
        self,
        database: DatabaseConfig | str,
        *,
        channel: str = DEFAULT_NOTIFY_CHANNEL,
        schema: str | None = None,
    ) -> None:
        self._conninfo = conninfo(database)
        self.channel = check_channel(channel)
        self.schema = check_schema(schema)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._asleep = False
        self._marking = True
        self._checked = False

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            import psycopg

            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            try:
                await connection.execute(encoded(listen_statement(self.channel), connection))
            except BaseException:
                await connection.close()
                raise
            self._connection = connection
            self._asleep = False  # notifications may have been lost meanwhile: mark again
        return self._connection

    async def _fall_asleep(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
        """Mark the channel's listeners asleep, once per :meth:`clear`; True when they were awake."""
        if self._asleep or not self._marking:
            return False
        import psycopg

        try:
            if not self._checked:
                found = await connection.execute(
                    encoded(sleepers_row_statement(self.schema), connection), (self.channel,)
                )
                if await found.fetchone() is None:
                    raise psycopg.errors.UndefinedTable
                self._checked = True
            cursor = await connection.execute(
                encoded(sleep_statement(self.schema), connection), (self.channel,)
            )
            woke = await cursor.fetchone() is not None
        except psycopg.errors.UndefinedTable:
            # no sleepers row for the channel there: a trigger from an older hexalchemy
            # (it notifies at every commit), or the tables' schema not given
            logger.warning(
                "no row for channel %r in %s: listening only (wake-ups come only from a trigger that "
                "notifies at every commit; install the trigger, or give the listener the tables' schema=)",
                self.channel,
                sleepers_table(self.schema),
            )
            self._marking = False
            return False
        self._asleep = True
        return woke

    async def wait(self, timeout: float | None = None, /) -> bool:
        """Wait up to ``timeout`` seconds for a notification; return whether one came.

        ``timeout`` is None (no limit: an async relay cancels the wait when its idle sleep
        is over) or a number of seconds from 0 to a year (``InvalidArgumentError``
        otherwise). Raises the driver's error when the connection fails (the next call
        reconnects).
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        try:
            connection = await self._connect()
            if await self._fall_asleep(connection):
                return True
            received = False
            # stop_after=1 still yields every notification that arrived together
            async for _ in connection.notifies(timeout=timeout, stop_after=1):
                received = True
            return received
        except Exception:
            await self.close()
            raise

    def clear(self) -> None:
        """Discard the notifications already received, as far as that needs no wait; the next :meth:`wait` marks asleep again.

        A sync listener reads and drops them; an async one leaves them, to be consumed by
        :meth:`wait` one at a time (a relay that was woken claims everything due, so a
        notification left over only makes one extra claim).
        """
        self._asleep = False
        self._connection = drained_async(self._connection)

    async def close(self) -> None:
        """Close the listening connection (the next :meth:`wait` would open a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def __aenter__(self) -> AsyncPostgresNotifyWakeUp:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()
