"""The recovery rule, written once: :class:`RecoveryAction`, :class:`Decision` and :func:`decide`.

:func:`~hexalchemy.agents.decide_from_log` is generated from
:func:`~hexalchemy.agents.decide_from_log_async` (``_async/recovery.py``, ``make generate``);
both read the last action boundary and hand it to :func:`decide`. See
:mod:`hexalchemy.agents.recovery` for the rule.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import AgentState, Evidence, EvidenceKind, InvalidAgentDataError
from hexalchemy.rules import check_iterable

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


def checked_state(state: AgentState) -> AgentState:
    """``state`` if it is an :class:`~hexalchemy.ports.AgentState`; else ``InvalidAgentDataError``."""
    given: object = state
    if not is_instance(given, AgentState):
        raise InvalidAgentDataError("state", given, "must be an AgentState")
    return state


def decide(state: AgentState, evidence: Iterable[Evidence]) -> Decision:
    """Decide how to resume ``state`` from ``evidence`` (any order); see the module docstring.

    ``evidence`` must hold the agent's last action boundary: one page of
    ``list_by_agent`` may not. With a log at hand, use :func:`decide_from_log`.
    """
    checked_state(state)
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
