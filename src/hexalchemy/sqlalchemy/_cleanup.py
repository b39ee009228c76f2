"""Plans that end a transaction or release a connection without raising: what fails is logged.

Used where the outcome is already decided (a rollback after an error, a connection given
back after its transaction ended) and a second failure must not hide the first. They log
to ``hexalchemy.transaction``, the transaction managers' logger.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from hexalchemy.sqlalchemy._operations import Call, Plan

__all__ = ["close_quietly", "rollback_quietly"]

_LOG: Final = logging.getLogger("hexalchemy.transaction")


def rollback_quietly(transaction: Any) -> Plan[None]:
    """Roll ``transaction`` back; if that fails, log it (the pool discards the connection)."""
    try:
        yield Call(transaction.rollback)
    except Exception:
        _LOG.warning("rollback failed; the connection will be discarded by the pool", exc_info=True)


def close_quietly(connection: Any) -> Plan[None]:
    """Close ``connection`` (which rolls back what is open); if that fails, log it and invalidate it."""
    try:
        yield Call(connection.close)
    except Exception:
        _LOG.warning("closing the connection failed; invalidating it", exc_info=True)
        try:
            yield Call(connection.invalidate)
        except Exception:
            _LOG.warning("invalidating the connection failed", exc_info=True)
