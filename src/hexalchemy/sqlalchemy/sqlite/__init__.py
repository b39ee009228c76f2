"""SQLite: hexalchemy's backend for it (:class:`SQLiteBackend`, in :mod:`.backend`).

Nothing here is imported until it is needed: the backends registry
(:mod:`hexalchemy.sqlalchemy.backend`) loads :mod:`.backend` on first use.
"""

from hexalchemy.sqlalchemy.sqlite.backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
