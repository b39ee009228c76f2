"""What the notify trigger and the listeners share: the channel, the connection string, the LISTEN statement.

:class:`~hexalchemy.sqlalchemy.PostgresNotifyWakeUp` is generated from
:class:`~hexalchemy.sqlalchemy.AsyncPostgresNotifyWakeUp` (``_async/notify.py``,
``make generate``). The one thing they do differently is ``clear()``, which is sync in
both (as :meth:`threading.Event.clear` and :meth:`asyncio.Event.clear` are): a sync
connection can read and drop the notifications that have arrived, an async one cannot
without awaiting. That step is :func:`drained` / :func:`drained_async`, written twice on
purpose.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.engine import URL, make_url

from hexalchemy._guards import is_instance
from hexalchemy.ports.errors import ConfigError
from hexalchemy.sqlalchemy.config import DatabaseConfig

if TYPE_CHECKING:  # psycopg is an optional dependency: imported when a listener connects
    import psycopg

logger: Final = logging.getLogger("hexalchemy.outbox.notify")

DEFAULT_NOTIFY_CHANNEL: Final = "hexalchemy_outbox"
"""The channel the trigger notifies and the wake-ups listen on, unless told otherwise."""

SLEEPERS_TABLE: Final = "hexalchemy_outbox_sleepers"
"""The table saying, per channel, whether a listener sleeps (``channel``, ``asleep``): the trigger notifies only then."""

_CHANNEL: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DRAIN_TIMEOUT: Final = 0.001  # psycopg reads nothing with timeout=0

DIALECT: Final = URL.create("postgresql+psycopg").get_dialect()()
"""The dialect whose identifier preparer quotes the names (it needs no psycopg until it connects)."""


def check_channel(channel: str) -> str:
    """``channel`` if it is an identifier PostgreSQL takes unquoted; else ``ConfigError``."""
    if not is_instance(channel, str) or _CHANNEL.match(channel) is None:
        raise ConfigError(
            "channel", channel, "must be an identifier: letters, digits and _, at most 63 characters"
        )
    return channel


def conninfo(database: DatabaseConfig | str) -> str:
    """The libpq connection string of a PostgreSQL ``database`` (a config or a URL); else ``ConfigError``."""
    if not is_instance(database, DatabaseConfig | str):
        raise ConfigError("database", database, "must be a DatabaseConfig or a PostgreSQL URL")
    try:
        config = database if isinstance(database, DatabaseConfig) else DatabaseConfig(url=database)
    except ConfigError as error:
        raise ConfigError("database", error.value, error.reason) from error
    url = make_url(config.url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError("url", url.render_as_string(), "LISTEN/NOTIFY needs a PostgreSQL database")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def sleepers_table(schema: str | None) -> str:
    """The quoted name of the sleepers table in ``schema`` (None: the search path's)."""
    preparer = DIALECT.identifier_preparer
    name = preparer.quote(SLEEPERS_TABLE)
    return name if schema is None else f"{preparer.quote_schema(schema)}.{name}"


def check_schema(schema: object) -> str | None:
    """``schema`` if it is None or a non-empty str without NUL; else ``ConfigError``."""
    if schema is None:
        return None
    if not isinstance(schema, str) or not schema or "\x00" in schema:
        raise ConfigError("schema", schema, "must be None or a schema name")
    return schema


def sleep_statement(schema: str | None) -> str:
    """Mark the listeners of a channel (``%s``) asleep; returns a row only when they were awake.

    A row locked by a producer that is waking them is skipped: its commit notifies.
    """
    table = sleepers_table(schema)
    statement = (
        f"UPDATE {table} SET asleep = true WHERE channel = "
        f"(SELECT channel FROM {table} WHERE channel = %s AND NOT asleep FOR UPDATE SKIP LOCKED) "
        "RETURNING true"
    )
    return statement


def sleepers_row_statement(schema: str | None) -> str:
    """Whether the sleepers table of ``schema`` has a row for a channel (``%s``); fails when it has no such table."""
    return f"SELECT true FROM {sleepers_table(schema)} WHERE channel = %s"


def encoded(statement: str, connection: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bytes:
    """``statement`` in ``connection``'s client encoding, as psycopg itself sends a ``str`` query.

    The statements here are built, not literal: their names quoted by the preparer, their
    values given as parameters. psycopg's typing takes a built query as bytes.
    """
    return statement.encode(connection.info.encoding)


def listen_statement(channel: str) -> str:
    """``LISTEN`` on a checked ``channel``."""
    # letters, digits and _: nothing the preparer would double
    return f"LISTEN {DIALECT.identifier_preparer.quote_identifier(channel)}"


def drained(
    connection: psycopg.Connection[tuple[object, ...]] | None,
) -> psycopg.Connection[tuple[object, ...]] | None:
    """``connection`` once the notifications that have arrived are read and dropped; None (closed) if that failed."""
    if connection is None or connection.closed:
        return connection
    try:
        for _ in connection.notifies(timeout=_DRAIN_TIMEOUT):
            pass
    except Exception:
        connection.close()
        return None
    return connection


def drained_async(
    connection: psycopg.AsyncConnection[tuple[object, ...]] | None,
) -> psycopg.AsyncConnection[tuple[object, ...]] | None:
    """``connection`` as it is: an async connection cannot read without awaiting, and ``clear()`` is sync.

    A relay that was woken claims everything due, so a notification left over only makes
    one extra claim.
    """
    return connection
