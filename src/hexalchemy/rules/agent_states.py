"""Agent states: build a new one, and validate one before it is saved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import AgentState, AgentStatus, InvalidAgentDataError, JsonValue
from hexalchemy.rules._agent_fields import check_datetime, check_text
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH, MAX_AGENT_TEXT_LENGTH
from hexalchemy.rules.arguments import MAX_BIGINT, check_int
from hexalchemy.rules.json_values import normalize_json

__all__ = ["new_agent_state", "validate_agent_state"]

_STATE_TEXT_FIELDS: Final = ("transition", "reason", "current_activity")
_STATE_REF_FIELDS: Final = ("input_ref", "output_ref", "last_event_cursor", "recovery_marker")


def new_agent_state(
    id: str,
    agent_type: str,
    *,
    status: AgentStatus = AgentStatus.CREATED,
    metadata: Mapping[str, JsonValue] | None = None,
    input_ref: str | None = None,
) -> AgentState:
    """Build and validate a new state (version 0); set the other fields with ``attrs.evolve``."""
    if metadata is not None and not is_instance(metadata, Mapping):
        raise InvalidAgentDataError("metadata", metadata, "must be a mapping of str to JSON")
    state = AgentState(
        id=id,
        agent_type=agent_type,
        status=status,
        metadata=dict(metadata) if metadata is not None else {},
        input_ref=input_ref,
    )
    return validate_agent_state(state)


def validate_agent_state(state: AgentState) -> AgentState:
    """Raise :class:`~hexalchemy.ports.InvalidAgentDataError` on the first bad field; return the state as stored (normalised metadata)."""
    if not is_instance(state, AgentState):
        raise InvalidAgentDataError("state", state, "must be an AgentState")
    check_text("id", state.id, MAX_AGENT_ID_LENGTH)
    check_text("agent_type", state.agent_type, MAX_AGENT_ID_LENGTH)
    if not is_instance(state.status, AgentStatus):
        raise InvalidAgentDataError("status", state.status, "must be an AgentStatus")
    for field in _STATE_TEXT_FIELDS:
        check_text(field, getattr(state, field), MAX_AGENT_TEXT_LENGTH, optional=True)
    for field in _STATE_REF_FIELDS:
        check_text(field, getattr(state, field), MAX_AGENT_ID_LENGTH, optional=True)
    if not is_instance(state.metadata, Mapping):
        raise InvalidAgentDataError("metadata", state.metadata, "must be a mapping of str to JSON")
    metadata = normalize_json("metadata", state.metadata)
    check_datetime("created_at", state.created_at, optional=True)
    check_datetime("updated_at", state.updated_at, optional=True)
    # saved as version + 1, in a 64-bit column
    check_int("version", state.version, minimum=0, maximum=MAX_BIGINT - 1, error=InvalidAgentDataError)
    assert isinstance(metadata, dict)
    return attrs.evolve(state, metadata=metadata)
