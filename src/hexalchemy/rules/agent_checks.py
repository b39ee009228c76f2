"""The checks of the agent stores' arguments: ids, runners, kinds, limits, cursors and lease lengths.

Each returns the argument as the store uses it, or raises
:class:`~hexalchemy.ports.InvalidAgentDataError` naming it, before anything is read or written.
"""

from __future__ import annotations

import datetime as dt

from hexalchemy.ports import EvidenceKind, InvalidAgentDataError
from hexalchemy.rules._agent_fields import check_text
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH, MAX_PAGE_LIMIT

__all__ = [
    "check_after_sequence",
    "check_agent_id",
    "check_evidence_kind",
    "check_lease_for",
    "check_limit",
    "check_maximum",
    "check_runner",
]


def check_limit(limit: object, field: str = "limit") -> int:
    """Return ``limit`` if it is an int in 1..:data:`MAX_PAGE_LIMIT`, else raise :class:`InvalidAgentDataError`."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidAgentDataError(field, limit, f"must be an int from 1 to {MAX_PAGE_LIMIT}")
    return limit


def check_maximum(maximum: object) -> int:
    """Validate the ``maximum`` of :meth:`SignalQueue.consume` (1..:data:`MAX_PAGE_LIMIT`)."""
    return check_limit(maximum, "maximum")


def check_after_sequence(after_sequence: object) -> int:
    """Return ``after_sequence`` if it is an int >= 0 (a listing's cursor), else raise :class:`InvalidAgentDataError`."""
    if not isinstance(after_sequence, int) or isinstance(after_sequence, bool) or after_sequence < 0:
        raise InvalidAgentDataError("after_sequence", after_sequence, "must be an int >= 0")
    return after_sequence


def check_evidence_kind(kind: object) -> str:
    """Return ``kind`` as stored (an :class:`EvidenceKind`'s value, or a non-blank str), else raise."""
    if isinstance(kind, EvidenceKind):
        return kind.value
    check_text("kind", kind, MAX_AGENT_ID_LENGTH)
    assert isinstance(kind, str)
    return kind


def check_lease_for(lease_for: object) -> dt.timedelta:
    """Return ``lease_for`` if it is a positive timedelta, else raise :class:`InvalidAgentDataError`."""
    if not isinstance(lease_for, dt.timedelta) or lease_for <= dt.timedelta(0):
        raise InvalidAgentDataError("lease_for", lease_for, "must be a timedelta > 0")
    return lease_for


def check_agent_id(agent_id: object, field: str = "agent_id") -> str:
    """Return ``agent_id`` if it is a valid agent id (non-blank str), else raise :class:`InvalidAgentDataError`."""
    check_text(field, agent_id, MAX_AGENT_ID_LENGTH)
    assert isinstance(agent_id, str)
    return agent_id


def check_runner(runner: object) -> str:
    """Return ``runner`` if it is a valid runner name, else raise :class:`InvalidAgentDataError`."""
    check_text("runner", runner, MAX_AGENT_ID_LENGTH)
    assert isinstance(runner, str)
    return runner
