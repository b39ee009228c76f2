"""SQLAlchemy Core repositories, sync and async, driven from one shared core.

Both take a :class:`~hexalchemy.sqlalchemy.TableMapping` (from a
:class:`~hexalchemy.sqlalchemy.Schema`) and the transaction manager whose ambient
transaction they use. All logic is in :class:`~hexalchemy.sqlalchemy._repository_core.RepositoryCore`;
the methods only drive its plans. :class:`AsyncSqlAlchemyRepository` is written in
``_async/repository.py``; ``make generate`` writes :class:`SqlAlchemyRepository` from it.
"""

from hexalchemy.sqlalchemy._async.repository import AsyncSqlAlchemyRepository
from hexalchemy.sqlalchemy._sync.repository import SqlAlchemyRepository

__all__ = ["AsyncSqlAlchemyRepository", "SqlAlchemyRepository"]
