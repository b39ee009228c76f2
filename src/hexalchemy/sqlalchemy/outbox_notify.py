"""PostgreSQL LISTEN/NOTIFY wake-up hints for the outbox relay (see :mod:`hexalchemy.sqlalchemy.postgresql.notify`).

* :func:`notify_trigger_statements` / :func:`install_notify_trigger` -- the DDL of a
  statement-level ``AFTER INSERT`` trigger on the outbox table that notifies a channel
  when the inserting transaction commits, only while a listener of the channel sleeps
  (the sleepers table :data:`SLEEPERS_TABLE`), so busy writers take no global notify lock;
* :class:`PostgresNotifyWakeUp` (and :class:`AsyncPostgresNotifyWakeUp`) -- a
  :class:`~hexalchemy.outbox.WakeUp` that ``LISTEN``\\s on the channel on its own psycopg
  connection. Give one to each relay::

      with PostgresNotifyWakeUp(config) as wake_up:
          OutboxRelay(store, publisher, wake_up=wake_up).run(stop)
"""

from __future__ import annotations

from hexalchemy.sqlalchemy.postgresql.notify import (
    DEFAULT_NOTIFY_CHANNEL,
    SLEEPERS_TABLE,
    AsyncPostgresNotifyWakeUp,
    PostgresNotifyWakeUp,
    install_notify_trigger,
    notify_trigger_statements,
)

__all__ = [
    "DEFAULT_NOTIFY_CHANNEL",
    "SLEEPERS_TABLE",
    "AsyncPostgresNotifyWakeUp",
    "PostgresNotifyWakeUp",
    "install_notify_trigger",
    "notify_trigger_statements",
]
