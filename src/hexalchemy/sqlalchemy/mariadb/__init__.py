"""MariaDB: hexalchemy's backend for it (:class:`MariaDBBackend`, in :mod:`.backend`).

Nothing here is imported until it is needed: the backends registry
(:mod:`hexalchemy.sqlalchemy.backend`) loads :mod:`.backend` on first use.
"""

from hexalchemy.sqlalchemy.mariadb.backend import MariaDBBackend

__all__ = ["MariaDBBackend"]
