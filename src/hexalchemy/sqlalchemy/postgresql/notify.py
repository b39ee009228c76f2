"""PostgreSQL LISTEN/NOTIFY wake-up hints for the outbox relay.

Polling alone delivers every message; a wake-up hint only ends a relay's idle sleep early,
so a quiet system answers in milliseconds without polling hard. Two pieces:

* :func:`notify_trigger_statements` -- the DDL of a statement-level ``AFTER INSERT``
  trigger on the outbox table that calls ``pg_notify(channel, '')`` **only while a
  listener of the channel sleeps**, and of the sleepers table that says so. PostgreSQL
  delivers a notification when (and only when) the inserting transaction commits. Run
  it once, in a migration, or with :func:`install_notify_trigger`.

Why only while one sleeps: a transaction that notified takes PostgreSQL's global notify
lock at its commit, so a trigger notifying at every commit serialises every busy writer
of the database there. Relays that are busy need no hint: they claim again at once after
every batch. So a listener marks its channel asleep (``asleep = true`` in
``hexalchemy_outbox_sleepers``) when its relay goes idle; the first transaction that
inserts into the outbox then flips it back (the row taken with ``FOR UPDATE SKIP
LOCKED``: a producer never waits for another) and notifies once. Under load the trigger
only reads a one-row table, and no commit takes the notify lock. See ``docs/outbox.md``.
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
from hexalchemy.sqlalchemy.postgresql._listening import (
    DEFAULT_NOTIFY_CHANNEL,
    DIALECT,
    SLEEPERS_TABLE,
    check_channel,
    sleepers_table,
)
from hexalchemy.sqlalchemy.postgresql._sync.notify import PostgresNotifyWakeUp
from hexalchemy.sqlalchemy.postgresql.backend import BACKEND

__all__ = [
    "DEFAULT_NOTIFY_CHANNEL",
    "SLEEPERS_TABLE",
    "AsyncPostgresNotifyWakeUp",
    "PostgresNotifyWakeUp",
    "install_notify_trigger",
    "notify_trigger_statements",
]

_FUNCTION: Final = "hexalchemy_outbox_notify"
_TRIGGER_SUFFIX: Final = "_notify"


def notify_trigger_statements(table: sqlalchemy.Table, *, channel: str = DEFAULT_NOTIFY_CHANNEL) -> list[str]:
    """The DDL that makes a committed insert into ``table`` notify ``channel`` while a listener sleeps (PostgreSQL).

    In ``table``'s schema: the sleepers table :data:`SLEEPERS_TABLE` (created if missing,
    with a row for ``channel``), a function ``hexalchemy_outbox_notify()`` (created or
    replaced) and a statement-level trigger ``<table>_notify`` (dropped and created
    again; fitted to 63 bytes as every name hexalchemy derives from a table's, see
    :meth:`~hexalchemy.sqlalchemy.Backend.derived_identifier`), so running it twice is
    harmless; running it on a database with the trigger of an older hexalchemy (which
    notified at every commit, or whose long name PostgreSQL had cut short) upgrades it.
    """
    check_instance("table", table, sqlalchemy.Table, error=ConfigError)
    check_channel(channel)
    preparer = DIALECT.identifier_preparer
    target = preparer.format_table(table)
    trigger = preparer.quote_identifier(BACKEND.derived_identifier(table.name, _TRIGGER_SUFFIX))
    # before the trigger's name was fitted, PostgreSQL cut a long one short itself: drop that one too
    legacy = f"{table.name}{_TRIGGER_SUFFIX}".encode()[: BACKEND.max_identifier_bytes].decode(errors="ignore")
    drop_legacy = (
        []
        if legacy == BACKEND.derived_identifier(table.name, _TRIGGER_SUFFIX)
        else [f"DROP TRIGGER IF EXISTS {preparer.quote_identifier(legacy)} ON {target}"]
    )
    sleepers = sleepers_table(table.schema)
    function = _FUNCTION if table.schema is None else f"{preparer.quote_schema(table.schema)}.{_FUNCTION}"
    return [
        f"CREATE TABLE IF NOT EXISTS {sleepers} (channel text PRIMARY KEY, asleep boolean NOT NULL DEFAULT true)",
        f"INSERT INTO {sleepers} (channel) VALUES ('{channel}') ON CONFLICT (channel) DO NOTHING",
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    -- only while a listener sleeps, and one transaction of those inserting at once\n"
        f"    UPDATE {sleepers} SET asleep = false WHERE channel = (\n"
        f"        SELECT channel FROM {sleepers} WHERE channel = TG_ARGV[0] AND asleep FOR UPDATE SKIP LOCKED\n"
        "    );\n"
        "    IF FOUND THEN\n"
        "        PERFORM pg_notify(TG_ARGV[0], '');\n"
        "    END IF;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        *drop_legacy,
        f"DROP TRIGGER IF EXISTS {trigger} ON {target}",
        f"CREATE TRIGGER {trigger} AFTER INSERT ON {target} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}('{channel}')",
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
