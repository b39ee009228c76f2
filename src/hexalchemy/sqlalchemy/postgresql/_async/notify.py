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
    conninfo,
    drained_async,
    listen_statement,
)

if TYPE_CHECKING:  # psycopg is an optional dependency: imported when a listener connects
    import psycopg


class AsyncPostgresNotifyWakeUp:
    """A relay wake-up that listens for PostgreSQL notifications on ``channel``.

    ``database`` is a :class:`~hexalchemy.sqlalchemy.DatabaseConfig` or a PostgreSQL URL;
    the listener opens its own connection (autocommit, outside the engine's pool) on the
    first :meth:`wait`. Use one per relay, and :meth:`close` it (or use it as a context
    manager).
    """

    def __init__(self, database: DatabaseConfig | str, *, channel: str = DEFAULT_NOTIFY_CHANNEL) -> None:
        self._conninfo = conninfo(database)
        self.channel = check_channel(channel)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            import psycopg

            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            try:
                await connection.execute(listen_statement(self.channel))
            except BaseException:
                await connection.close()
                raise
            self._connection = connection
        return self._connection

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
            received = False
            # stop_after=1 still yields every notification that arrived together
            async for _ in connection.notifies(timeout=timeout, stop_after=1):
                received = True
            return received
        except Exception:
            await self.close()
            raise

    def clear(self) -> None:
        """Discard the notifications already received, as far as that needs no wait.

        A sync listener reads and drops them; an async one leaves them, to be consumed by
        :meth:`wait` one at a time (a relay that was woken claims everything due, so a
        notification left over only makes one extra claim).
        """
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
