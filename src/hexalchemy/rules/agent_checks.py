"""The checks of the agent stores' arguments: ids, runners, kinds, limits, cursors, leases and lease lengths.

Each returns the argument as the store uses it, or raises an error naming it, before
anything is read or written: :class:`~hexalchemy.ports.InvalidAgentDataError` for what names
stored data (an agent id, a runner, a kind), :class:`~hexalchemy.ports.InvalidArgumentError`
for how the call works (a limit, a cursor, a lease, a lease length).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from hexalchemy._guards import is_instance
from hexalchemy.ports import (
    EvidenceKind,
    InvalidAgentDataError,
    InvalidArgumentError,
    RunnerLease,
    SignalKind,
)
from hexalchemy.rules._agent_fields import check_text
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH, MAX_PAGE_LIMIT
from hexalchemy.rules.arguments import (
    MAX_BIGINT,
    check_duration,
    check_int,
    check_iterable,
    check_positive_int,
)

__all__ = [
    "check_after_sequence",
    "check_agent_id",
    "check_cursor",
    "check_evidence_kind",
    "check_lease_for",
    "check_limit",
    "check_maximum",
    "check_runner",
    "check_runner_lease",
    "check_signal_kinds",
]


def check_limit(limit: object, field: str = "limit") -> int:
    """Return ``limit`` if it is an int in 1..:data:`MAX_PAGE_LIMIT`, else raise :class:`InvalidArgumentError`."""
    return check_positive_int(field, limit, maximum=MAX_PAGE_LIMIT)


def check_maximum(maximum: object) -> int:
    """Validate the ``maximum`` of :meth:`SignalQueue.consume` (1..:data:`MAX_PAGE_LIMIT`)."""
    return check_limit(maximum, "maximum")


def check_after_sequence(after_sequence: object) -> int:
    """Return ``after_sequence`` if it is an int from 0 to ``2**63 - 1`` (a listing's cursor), else raise :class:`InvalidArgumentError`."""
    return check_int("after_sequence", after_sequence, minimum=0, maximum=MAX_BIGINT)


def check_cursor(after: object, parse: Callable[[str], object] = str) -> str | None:
    """Return ``after`` if it is None or a cursor str ``parse`` accepts, else raise :class:`InvalidArgumentError`.

    A cursor is the last item's id of a previous page: an agent id (checked as one), or the
    text of an evidence id (``parse=uuid.UUID``).
    """
    if after is None:
        return None
    if not isinstance(after, str):
        raise InvalidArgumentError("after", after, "must be a cursor str from a previous page, or None")
    try:
        check_agent_id(after, "after")
        parse(after)
    except (InvalidAgentDataError, ValueError):
        raise InvalidArgumentError("after", after, "is not a cursor of this listing") from None
    return after


def check_evidence_kind(kind: object) -> str:
    """Return ``kind`` as stored (an :class:`EvidenceKind`'s value, or a non-blank str), else raise."""
    if isinstance(kind, EvidenceKind):
        return kind.value
    check_text("kind", kind, MAX_AGENT_ID_LENGTH)
    assert isinstance(kind, str)
    return kind


def check_lease_for(lease_for: object) -> dt.timedelta:
    """Return ``lease_for`` if it is a timedelta above 0 and at most :data:`~hexalchemy.rules.arguments.MAX_DURATION`, else raise :class:`InvalidArgumentError`."""
    return check_duration("lease_for", lease_for)


def check_runner_lease(lease: object) -> RunnerLease:
    """Return ``lease`` if it is a :class:`~hexalchemy.ports.RunnerLease` (from ``claim_resumable``), else raise :class:`InvalidArgumentError`."""
    if (
        not isinstance(lease, RunnerLease)
        or not is_instance(lease.token, uuid.UUID)
        or not is_instance(lease.agent_id, str)
        or not is_instance(lease.runner, str)
    ):
        raise InvalidArgumentError("lease", lease, "must be a RunnerLease from claim_resumable")
    return lease


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


def check_signal_kinds(accepted_kinds: object) -> list[SignalKind]:
    """Return ``accepted_kinds`` as a list of :class:`~hexalchemy.ports.SignalKind`.

    Not an iterable (or a str): :class:`InvalidArgumentError`; an item that is not a
    ``SignalKind``: :class:`InvalidAgentDataError` (an unknown kind).
    """
    kinds = check_iterable("accepted_kinds", accepted_kinds)
    for kind in kinds:
        if not isinstance(kind, SignalKind):
            raise InvalidAgentDataError("accepted_kinds", kind, "must be a SignalKind")
    return [kind for kind in kinds if isinstance(kind, SignalKind)]
