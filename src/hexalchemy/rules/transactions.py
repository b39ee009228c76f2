"""The checks of the transaction managers' arguments: ``begin``'s flags and a test failure to inject."""

from __future__ import annotations

from hexalchemy.ports import InvalidArgumentError, IsolationLevel
from hexalchemy.rules.arguments import check_bool

__all__ = ["check_begin", "check_commit_failure"]


def check_begin(read_only: object, isolation_level: object) -> tuple[bool, IsolationLevel | None]:
    """Return ``begin()``'s ``(read_only, isolation_level)``: a bool, and an :class:`~hexalchemy.ports.IsolationLevel` or None.

    A str such as ``"SERIALIZABLE"`` is refused (``InvalidArgumentError``): pass
    ``IsolationLevel.SERIALIZABLE``.
    """
    if isolation_level is not None and not isinstance(isolation_level, IsolationLevel):
        raise InvalidArgumentError(
            "isolation_level",
            isolation_level,
            "must be an IsolationLevel (IsolationLevel.SERIALIZABLE...) or None",
        )
    return check_bool("read_only", read_only), isolation_level


def check_commit_failure(error: object) -> Exception | None:
    """Return ``error`` if it is None or an :class:`Exception` (what an in-memory manager's next commit fails with)."""
    if error is not None and not isinstance(error, Exception):
        raise InvalidArgumentError("error", error, "must be an Exception or None")
    return error
