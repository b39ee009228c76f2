"""Decide how to resume an agent after a crash, from its last action boundary.

An agent that performs side effects records an ``action_boundary``
:class:`~hexalchemy.ports.Evidence` entry before and after each action, with a payload::

    {"action": "send-invoice", "phase": "started", "idempotent": false}
    {"action": "send-invoice", "phase": "completed"}

:func:`decide_from_log` (or :func:`decide_from_log_async`) reads the agent's last
``action_boundary`` entry from an evidence log (any
:class:`~hexalchemy.ports.EvidenceReader`), in one read however long the log, and
returns a :class:`Decision`; :func:`decide` does the same from entries already at hand. The
rule, in order:

1. Only entries of ``kind == "action_boundary"`` count; the one with the highest
   ``sequence`` (the LAST boundary) decides. Entries of another agent are refused
   (:class:`~hexalchemy.ports.InvalidAgentDataError`).
2. No boundary at all: ``START`` (no action began; run from the beginning).
3. The last boundary's ``phase`` is ``"completed"``: ``SKIP_COMPLETED`` (that action is
   done; do not run it again, continue after it).
4. Its ``phase`` is ``"started"`` (the action may or may not have taken effect):
   ``RETRY_IDEMPOTENT`` when ``idempotent`` is exactly ``True``, otherwise ``ASK_HUMAN``
   (a missing or non-bool ``idempotent`` counts as not idempotent).
5. Anything else (payload not an object, unknown or missing ``phase``): ``ASK_HUMAN``.

The agent's status is not consulted: call these for resume candidates.
Standard library, attrs and :mod:`hexalchemy.ports` only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs

from hexalchemy.ports import (
    AgentState,
    AsyncEvidenceReader,
    Evidence,
    EvidenceKind,
    EvidenceReader,
    InvalidAgentDataError,
)
from hexalchemy.rules import check_has_methods, check_iterable

__all__ = ["Decision", "RecoveryAction", "decide", "decide_from_log", "decide_from_log_async"]

_BOUNDARY = EvidenceKind.ACTION_BOUNDARY.value


class RecoveryAction(enum.Enum):
    """What a runner should do with a resumed agent."""

    START = "start"
    SKIP_COMPLETED = "skip_completed"
    RETRY_IDEMPOTENT = "retry_idempotent"
    ASK_HUMAN = "ask_human"


@attrs.frozen
class Decision:
    """The outcome of :func:`decide`: the action, why, and the boundary that decided (None for START)."""

    action: RecoveryAction
    reason: str
    boundary: Evidence | None = None


def _checked(state: AgentState) -> AgentState:
    given: object = state
    if not isinstance(given, AgentState):
        raise InvalidAgentDataError("state", given, "must be an AgentState")
    return state


def decide_from_log(state: AgentState, log: EvidenceReader) -> Decision:
    """Decide how to resume ``state`` from its last action boundary in ``log`` (one read, in the ambient transaction)."""
    check_has_methods("log", log, ("last",))
    boundary = log.last(_checked(state).id, kind=EvidenceKind.ACTION_BOUNDARY)
    return decide(state, () if boundary is None else (boundary,))


async def decide_from_log_async(state: AgentState, log: AsyncEvidenceReader) -> Decision:
    """The async twin of :func:`decide_from_log`."""
    check_has_methods("log", log, ("last",))
    boundary = await log.last(_checked(state).id, kind=EvidenceKind.ACTION_BOUNDARY)
    return decide(state, () if boundary is None else (boundary,))


def decide(state: AgentState, evidence: Iterable[Evidence]) -> Decision:
    """Decide how to resume ``state`` from ``evidence`` (any order); see the module docstring.

    ``evidence`` must hold the agent's last action boundary: one page of
    ``list_by_agent`` may not. With a log at hand, use :func:`decide_from_log`.
    """
    _checked(state)
    last: Evidence | None = None
    for entry in check_iterable("evidence", evidence):
        if not isinstance(entry, Evidence):
            raise InvalidAgentDataError("evidence", entry, "must hold Evidence entries")
        if entry.agent_id != state.id:
            raise InvalidAgentDataError(
                "evidence", entry.agent_id, f"belongs to another agent than {state.id!r}"
            )
        if entry.kind == _BOUNDARY and (last is None or entry.sequence > last.sequence):
            last = entry
    if last is None:
        return Decision(RecoveryAction.START, "no action boundary was recorded")
    payload = last.payload
    if not isinstance(payload, Mapping):
        return Decision(RecoveryAction.ASK_HUMAN, "the last action boundary has no payload object", last)
    action = payload.get("action")
    phase = payload.get("phase")
    if phase == "completed":
        return Decision(RecoveryAction.SKIP_COMPLETED, f"action {action!r} completed", last)
    if phase == "started":
        if payload.get("idempotent") is True:
            return Decision(
                RecoveryAction.RETRY_IDEMPOTENT, f"idempotent action {action!r} started, not completed", last
            )
        return Decision(
            RecoveryAction.ASK_HUMAN,
            f"non-idempotent action {action!r} started, not completed: it may have taken effect",
            last,
        )
    return Decision(
        RecoveryAction.ASK_HUMAN, f"the last action boundary has an unknown phase {phase!r}", last
    )
