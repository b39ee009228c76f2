"""Signals: build a new one, and validate one before it is sent."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import InvalidAgentDataError, JsonValue, Signal, SignalKind
from hexalchemy.rules._agent_fields import check_datetime, check_text
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH
from hexalchemy.rules.arguments import check_aware_datetime
from hexalchemy.rules.ids import time_ordered_uuid
from hexalchemy.rules.json_values import normalize_json

__all__ = ["new_signal", "validate_signal"]


def new_signal(
    agent_id: str,
    kind: SignalKind,
    payload: JsonValue = None,
    *,
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> Signal:
    """Validate and build a new signal; raise :class:`~hexalchemy.ports.InvalidAgentDataError` on bad input."""
    sent_at = dt.datetime.now(dt.UTC) if now is None else check_aware_datetime("now", now)
    signal = Signal(
        id=time_ordered_uuid(sent_at),
        agent_id=agent_id,
        kind=kind,
        payload=payload,
        idempotency_key=idempotency_key,
        sent_at=sent_at,
    )
    return validate_signal(signal)


def validate_signal(signal: Signal) -> Signal:
    """Raise :class:`~hexalchemy.ports.InvalidAgentDataError` on the first bad field; return the signal as stored."""
    if not is_instance(signal, Signal):
        raise InvalidAgentDataError("signal", signal, "must be a Signal")
    if not is_instance(signal.id, uuid.UUID):
        raise InvalidAgentDataError("id", signal.id, "must be a UUID")
    check_text("agent_id", signal.agent_id, MAX_AGENT_ID_LENGTH)
    if not is_instance(signal.kind, SignalKind):
        raise InvalidAgentDataError("kind", signal.kind, "must be a SignalKind")
    payload = normalize_json("payload", signal.payload)
    check_text("idempotency_key", signal.idempotency_key, MAX_AGENT_ID_LENGTH, optional=True)
    check_datetime("sent_at", signal.sent_at)
    if signal.consumed_at is not None:
        raise InvalidAgentDataError("consumed_at", signal.consumed_at, "a new signal is not consumed")
    return attrs.evolve(signal, payload=payload)
