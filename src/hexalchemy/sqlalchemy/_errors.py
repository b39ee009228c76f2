"""Driver errors mapped to the most specific hexalchemy error, in this one place.

Each database's backend first says what it knows of its driver's errors
(``Backend.translate_error``: SQLSTATEs, "database is locked"...); then the generic rules
apply: SQLAlchemy's ``IntegrityError`` is a ``ConstraintViolationError``, any other database
error a ``DatabaseError``.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from hexalchemy.ports import ConstraintViolationError, DatabaseError, HexalchemyError
from hexalchemy.sqlalchemy.backend import backends

__all__ = ["translate_error"]


def translate_error(error: Exception) -> Exception:
    """Return the hexalchemy error for ``error`` (its ``__cause__`` set), or ``error`` itself.

    A driver's own error (raised on a fast path) is first wrapped as SQLAlchemy wraps it
    (``Backend.driver_error``), so the hexalchemy error's ``__cause__`` is SQLAlchemy's
    ``DBAPIError`` whichever path ran the statement. hexalchemy errors and errors that are
    not the database's (a bug in user code, say) are returned unchanged.
    """
    if isinstance(error, HexalchemyError):
        return error
    for backend in backends():
        wrapped = backend.driver_error(error)
        if wrapped is not None:
            error = wrapped
            break
    translated = _translate(error)
    if translated is None:
        return error
    translated.__cause__ = error
    return translated


def _translate(error: Exception) -> HexalchemyError | None:
    if isinstance(error, sa_exc.DBAPIError):
        for backend in backends():
            translated = backend.translate_error(error)
            if translated is not None:
                return translated
        original = error.orig
        message = str(original) if original is not None else str(error)
        if isinstance(error, sa_exc.IntegrityError):
            return ConstraintViolationError(message)
        return DatabaseError(message)
    if isinstance(error, sa_exc.SQLAlchemyError):
        return DatabaseError(str(error))
    return None
