"""Driver errors mapped to the most specific hexalchemy error, in this one place."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from hexalchemy.ports import (
    ConstraintViolationError,
    DatabaseBusyError,
    DatabaseError,
    DeadlockError,
    HexalchemyError,
    SerializationConflictError,
)

__all__ = ["translate_error"]

_SERIALIZATION_FAILURE = "40001"
_DEADLOCK_DETECTED = "40P01"
_SQLITE_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")


def translate_error(error: Exception) -> Exception:
    """Return the hexalchemy error for ``error`` (its ``__cause__`` set), or ``error`` itself.

    hexalchemy errors and errors that are not the database's (a bug in user code, say)
    are returned unchanged.
    """
    if isinstance(error, HexalchemyError):
        return error
    translated = _translate(error)
    if translated is None:
        return error
    translated.__cause__ = error
    return translated


def _translate(error: Exception) -> HexalchemyError | None:
    if isinstance(error, sa_exc.DBAPIError):
        original = error.orig
        sqlstate = getattr(original, "sqlstate", None)
        message = str(original) if original is not None else str(error)
        if sqlstate == _SERIALIZATION_FAILURE:
            return SerializationConflictError(message)
        if sqlstate == _DEADLOCK_DETECTED:
            return DeadlockError(message)
        if isinstance(error, sa_exc.OperationalError) and any(
            text in message for text in _SQLITE_BUSY_MESSAGES
        ):
            return DatabaseBusyError(message)
        if isinstance(error, sa_exc.IntegrityError):
            return ConstraintViolationError(message)
        return DatabaseError(message)
    if isinstance(error, sa_exc.SQLAlchemyError):
        return DatabaseError(str(error))
    module = type(error).__module__
    if module.startswith(("psycopg", "sqlite3", "aiosqlite")):
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate == _SERIALIZATION_FAILURE:
            return SerializationConflictError(str(error))
        if sqlstate == _DEADLOCK_DETECTED:
            return DeadlockError(str(error))
        if sqlstate is not None and sqlstate.startswith("23"):
            return ConstraintViolationError(str(error))
        return DatabaseError(str(error))
    return None
