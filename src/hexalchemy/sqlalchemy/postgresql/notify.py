"""PostgreSQL LISTEN/NOTIFY wake-up hints for the outbox relay.

Polling alone delivers every message; a wake-up hint only ends a relay's idle sleep early,
so a quiet system answers in milliseconds without polling hard. Two pieces:

* :func:`notify_trigger_statements` -- the DDL of a statement-level ``AFTER INSERT``
  trigger on the outbox table that calls ``pg_notify(channel, '')``. PostgreSQL delivers
  a notification when (and only when) the inserting transaction commits, once per
  transaction and channel. Run it once, in a migration, or with :func:`install_notify_trigger`.
* :class:`PostgresNotifyWakeUp` (and :class:`AsyncPostgresNotifyWakeUp`) -- a
  :class:`~hexalchemy.outbox.WakeUp` that ``LISTEN``\\s on the channel on its own psycopg
  connection (autocommit, outside the engine's pool). Give one to each relay::

      with PostgresNotifyWakeUp(config) as wake_up:
          OutboxRelay(store, publisher, wake_up=wake_up).run(stop)

A notification sent while the listener is disconnected is lost; nothing else is: the
relay still polls (``max_idle_delay``). When the connection fails, ``wait`` raises (the
relay logs it and polls) and the next ``wait`` reconnects.

Public as :mod:`hexalchemy.sqlalchemy.outbox_notify`. The names in the statements are
quoted by SQLAlchemy's PostgreSQL identifier preparer.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import TYPE_CHECKING, Final

import sqlalchemy
from sqlalchemy.engine import URL, make_url

from hexalchemy.ports.errors import ConfigError
from hexalchemy.rules import check_instance, check_seconds
from hexalchemy.sqlalchemy._errors import translate_error
from hexalchemy.sqlalchemy.config import DatabaseConfig

if TYPE_CHECKING:  # psycopg is an optional dependency: imported when a listener connects
    import psycopg

__all__ = [
    "DEFAULT_NOTIFY_CHANNEL",
    "AsyncPostgresNotifyWakeUp",
    "PostgresNotifyWakeUp",
    "install_notify_trigger",
    "notify_trigger_statements",
]

DEFAULT_NOTIFY_CHANNEL: Final = "hexalchemy_outbox"
"""The channel the trigger notifies and the wake-ups listen on, unless told otherwise."""

_CHANNEL: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_FUNCTION: Final = "hexalchemy_outbox_notify"
_DRAIN_TIMEOUT: Final = 0.001  # psycopg reads nothing with timeout=0


def _check_channel(channel: str) -> str:
    if not isinstance(channel, str) or _CHANNEL.match(channel) is None:
        raise ConfigError(
            "channel", channel, "must be an identifier: letters, digits and _, at most 63 characters"
        )
    return channel


def _conninfo(database: DatabaseConfig | str) -> str:
    if not isinstance(database, DatabaseConfig | str):
        raise ConfigError("database", database, "must be a DatabaseConfig or a PostgreSQL URL")
    config = database if isinstance(database, DatabaseConfig) else DatabaseConfig(url=database)
    url = make_url(config.url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError("url", url.render_as_string(), "LISTEN/NOTIFY needs a PostgreSQL database")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


_DIALECT: Final = URL.create("postgresql+psycopg").get_dialect()()
"""The dialect whose identifier preparer quotes the names (it needs no psycopg until it connects)."""


def notify_trigger_statements(table: sqlalchemy.Table, *, channel: str = DEFAULT_NOTIFY_CHANNEL) -> list[str]:
    """The DDL that makes every committed insert into ``table`` notify ``channel`` (PostgreSQL).

    A function ``hexalchemy_outbox_notify()`` (created or replaced) and a statement-level
    trigger ``<table>_notify`` (dropped and created again), so running it twice is harmless.
    """
    check_instance("table", table, sqlalchemy.Table, error=ConfigError)
    _check_channel(channel)
    preparer = _DIALECT.identifier_preparer
    target = preparer.format_table(table)
    trigger = preparer.quote_identifier(f"{table.name}_notify")
    return [
        f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    PERFORM pg_notify(TG_ARGV[0], '');\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        f"DROP TRIGGER IF EXISTS {trigger} ON {target}",
        f"CREATE TRIGGER {trigger} AFTER INSERT ON {target} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}('{channel}')",
    ]


def install_notify_trigger(
    connection: sqlalchemy.Connection, table: sqlalchemy.Table, *, channel: str = DEFAULT_NOTIFY_CHANNEL
) -> None:
    """Run :func:`notify_trigger_statements` on ``connection`` (inside its transaction).

    ``connection`` must be a PostgreSQL connection (``ConfigError``); a failing statement is a
    ``DatabaseError``.
    """
    statements = notify_trigger_statements(table, channel=channel)
    check_instance("connection", connection, sqlalchemy.Connection, error=ConfigError)
    if connection.dialect.name != _DIALECT.name:
        raise ConfigError("connection", connection, "LISTEN/NOTIFY needs a PostgreSQL database")
    try:
        for statement in statements:
            connection.exec_driver_sql(statement)
    except Exception as error:
        translated = translate_error(error)
        if translated is error:
            raise
        raise translated from error


def _listen(channel: str) -> str:
    # a checked channel (letters, digits and _): nothing the preparer would double
    return f"LISTEN {_DIALECT.identifier_preparer.quote_identifier(channel)}"


class PostgresNotifyWakeUp:
    """A relay wake-up that listens for PostgreSQL notifications on ``channel``.

    ``database`` is a :class:`DatabaseConfig` or a PostgreSQL URL; the listener opens its
    own connection on the first :meth:`wait`. Use one per relay, and :meth:`close` it (or
    use it as a context manager).
    """

    def __init__(self, database: DatabaseConfig | str, *, channel: str = DEFAULT_NOTIFY_CHANNEL) -> None:
        self._conninfo = _conninfo(database)
        self.channel = _check_channel(channel)
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            import psycopg

            connection = psycopg.connect(self._conninfo, autocommit=True)
            try:
                connection.execute(_listen(self.channel))
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def wait(self, timeout: float | None = None, /) -> bool:
        """Block up to ``timeout`` seconds for a notification; return whether one came.

        ``timeout`` is None (no limit) or a number of seconds from 0 to a year
        (``InvalidArgumentError`` otherwise). Raises the driver's error when the connection
        fails (the next call reconnects).
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        try:
            connection = self._connect()
            received = False
            # stop_after=1 still yields every notification that arrived together
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                received = True
            return received
        except Exception:
            self.close()
            raise

    def clear(self) -> None:
        """Discard the notifications already received."""
        connection = self._connection
        if connection is None or connection.closed:
            return
        try:
            for _ in connection.notifies(timeout=_DRAIN_TIMEOUT):
                pass
        except Exception:
            self.close()

    def close(self) -> None:
        """Close the listening connection (the next :meth:`wait` would open a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __enter__(self) -> PostgresNotifyWakeUp:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncPostgresNotifyWakeUp:
    """The async twin of :class:`PostgresNotifyWakeUp`, for :class:`~hexalchemy.outbox.AsyncOutboxRelay`."""

    def __init__(self, database: DatabaseConfig | str, *, channel: str = DEFAULT_NOTIFY_CHANNEL) -> None:
        self._conninfo = _conninfo(database)
        self.channel = _check_channel(channel)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            import psycopg

            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            try:
                await connection.execute(_listen(self.channel))
            except BaseException:
                await connection.close()
                raise
            self._connection = connection
        return self._connection

    async def wait(self) -> bool:
        """Wait for a notification (the relay cancels the wait when its idle sleep is over).

        Raises the driver's error when the connection fails (the next call reconnects).
        """
        try:
            connection = await self._connect()
            received = False
            async for _ in connection.notifies(stop_after=1):
                received = True
            return received
        except Exception:
            await self.close()
            raise

    def clear(self) -> None:
        """Do nothing: notifications are consumed by :meth:`wait` one at a time.

        A relay that was woken claims everything due, so a notification left over only
        makes one extra claim.
        """

    async def close(self) -> None:
        """Close the listening connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def __aenter__(self) -> AsyncPostgresNotifyWakeUp:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()
