"""Evidence entries: build a new one, and validate one before it is appended."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import attrs

from hexalchemy.ports import Evidence, EvidenceKind, InvalidAgentDataError, JsonValue
from hexalchemy.rules._agent_fields import check_datetime, check_text
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH, MAX_AGENT_TEXT_LENGTH
from hexalchemy.rules.ids import time_ordered_uuid
from hexalchemy.rules.json_values import normalize_json

__all__ = ["new_evidence", "validate_evidence"]


def new_evidence(
    agent_id: str,
    kind: str | EvidenceKind,
    payload: JsonValue = None,
    *,
    summary: str | None = None,
    digest: str | None = None,
    manifest_ref: str | None = None,
    reference: str | None = None,
    sensitive_fields: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> Evidence:
    """Validate and build a new entry; raise :class:`~hexalchemy.ports.InvalidAgentDataError` on bad input."""
    created_at = now if now is not None else dt.datetime.now(dt.UTC)
    entry = Evidence(
        id=time_ordered_uuid(created_at),
        agent_id=agent_id,
        kind=kind.value if isinstance(kind, EvidenceKind) else kind,
        payload=payload,
        summary=summary,
        digest=digest,
        manifest_ref=manifest_ref,
        reference=reference,
        sensitive_fields=tuple(sensitive_fields),
        created_at=created_at,
    )
    return validate_evidence(entry)


def validate_evidence(entry: Evidence) -> Evidence:
    """Raise :class:`~hexalchemy.ports.InvalidAgentDataError` on the first bad field; return the entry as stored.

    The entry returned has its payload normalised and ``created_at`` in UTC, rounded to
    microseconds (what every adapter stores and hashes).
    """
    if not isinstance(entry.id, uuid.UUID):
        raise InvalidAgentDataError("id", entry.id, "must be a UUID")
    check_text("agent_id", entry.agent_id, MAX_AGENT_ID_LENGTH)
    check_text("kind", entry.kind, MAX_AGENT_ID_LENGTH)
    payload = normalize_json("payload", entry.payload)
    check_text("summary", entry.summary, MAX_AGENT_TEXT_LENGTH, optional=True)
    for field in ("digest", "manifest_ref", "reference"):
        check_text(field, getattr(entry, field), MAX_AGENT_ID_LENGTH, optional=True)
    if not isinstance(entry.sensitive_fields, tuple):
        raise InvalidAgentDataError("sensitive_fields", entry.sensitive_fields, "must be a tuple of str")
    for name in entry.sensitive_fields:
        check_text("sensitive_fields", name, MAX_AGENT_ID_LENGTH)
    check_datetime("created_at", entry.created_at)
    return attrs.evolve(
        entry, kind=str(entry.kind), payload=payload, created_at=entry.created_at.astimezone(dt.UTC)
    )
