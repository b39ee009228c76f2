"""PostgreSQL: hexalchemy's backend for it (:class:`PostgreSQLBackend`, in :mod:`.backend`).

Also here: the psycopg fast paths (``_driver.py``), the outbox relay's one-statement
claims (``_relay.py``) and the LISTEN/NOTIFY wake-ups (:mod:`.notify`, public as
:mod:`hexalchemy.sqlalchemy.outbox_notify`). Nothing here is imported until it is needed:
the backends registry (:mod:`hexalchemy.sqlalchemy.backend`) loads :mod:`.backend` on
first use, and psycopg is imported where a cursor is made.
"""

from hexalchemy.sqlalchemy.postgresql.backend import PostgreSQLBackend

__all__ = ["PostgreSQLBackend"]
