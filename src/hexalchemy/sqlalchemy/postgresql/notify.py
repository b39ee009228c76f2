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
quoted by SQLAlchemy's PostgreSQL identifier preparer. The async wake-up is written in
``_async/notify.py`` and the sync one generated from it (``make generate``); what they
share with the trigger is in ``_listening.py``.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy

from hexalchemy.ports.errors import ConfigError
from hexalchemy.rules import check_instance
from hexalchemy.sqlalchemy._errors import translate_error
from hexalchemy.sqlalchemy.postgresql._async.notify import AsyncPostgresNotifyWakeUp
from hexalchemy.sqlalchemy.postgresql._listening import DEFAULT_NOTIFY_CHANNEL, DIALECT, check_channel
from hexalchemy.sqlalchemy.postgresql._sync.notify import PostgresNotifyWakeUp

__all__ = [
    "DEFAULT_NOTIFY_CHANNEL",
    "AsyncPostgresNotifyWakeUp",
    "PostgresNotifyWakeUp",
    "install_notify_trigger",
    "notify_trigger_statements",
]

_FUNCTION: Final = "hexalchemy_outbox_notify"


def notify_trigger_statements(table: sqlalchemy.Table, *, channel: str = DEFAULT_NOTIFY_CHANNEL) -> list[str]:
    """The DDL that makes every committed insert into ``table`` notify ``channel`` (PostgreSQL).

    A function ``hexalchemy_outbox_notify()`` (created or replaced) and a statement-level
    trigger ``<table>_notify`` (dropped and created again), so running it twice is harmless.
    """
    check_instance("table", table, sqlalchemy.Table, error=ConfigError)
    check_channel(channel)
    preparer = DIALECT.identifier_preparer
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
    if connection.dialect.name != DIALECT.name:
        raise ConfigError("connection", connection, "LISTEN/NOTIFY needs a PostgreSQL database")
    try:
        for statement in statements:
            connection.exec_driver_sql(statement)
    except Exception as error:
        translated = translate_error(error)
        if translated is error:
            raise
        raise translated from error
