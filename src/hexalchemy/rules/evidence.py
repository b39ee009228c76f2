"""Evidence entries: build a new one, and validate one before it is appended."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import cast

import attrs

from hexalchemy._guards import is_instance
from hexalchemy.ports import Evidence, EvidenceKind, InvalidAgentDataError, InvalidArgumentError, JsonValue
from hexalchemy.rules._agent_fields import check_datetime, check_text
from hexalchemy.rules.agent_limits import MAX_AGENT_ID_LENGTH, MAX_AGENT_TEXT_LENGTH
from hexalchemy.rules.arguments import check_aware_datetime, check_iterable
from hexalchemy.rules.ids import time_ordered_uuid
from hexalchemy.rules.json_values import normalize_json

__all__ = ["new_evidence", "prepare_entries", "validate_evidence"]


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
    created_at = dt.datetime.now(dt.UTC) if now is None else check_aware_datetime("now", now)
    entry = Evidence(
        id=time_ordered_uuid(created_at),
        agent_id=agent_id,
        kind=kind.value if isinstance(kind, EvidenceKind) else kind,
        payload=payload,
        summary=summary,
        digest=digest,
        manifest_ref=manifest_ref,
        reference=reference,
        # each is checked to be a str by validate_evidence
        sensitive_fields=tuple(
            cast(list[str], check_iterable("sensitive_fields", sensitive_fields, error=InvalidAgentDataError))
        ),
        created_at=created_at,
    )
    return validate_evidence(entry)


def validate_evidence(entry: Evidence) -> Evidence:
    """Raise :class:`~hexalchemy.ports.InvalidAgentDataError` on the first bad field; return the entry as stored.

    The entry returned has its payload normalised and ``created_at`` in UTC, rounded to
    microseconds (what every adapter stores and hashes).
    """
    if not is_instance(entry, Evidence):
        raise InvalidAgentDataError("entry", entry, "must be an Evidence")
    if not is_instance(entry.id, uuid.UUID):
        raise InvalidAgentDataError("id", entry.id, "must be a UUID")
    check_text("agent_id", entry.agent_id, MAX_AGENT_ID_LENGTH)
    check_text("kind", entry.kind, MAX_AGENT_ID_LENGTH)
    payload = normalize_json("payload", entry.payload)
    check_text("summary", entry.summary, MAX_AGENT_TEXT_LENGTH, optional=True)
    for field in ("digest", "manifest_ref", "reference"):
        check_text(field, getattr(entry, field), MAX_AGENT_ID_LENGTH, optional=True)
    if not is_instance(entry.sensitive_fields, tuple):
        raise InvalidAgentDataError("sensitive_fields", entry.sensitive_fields, "must be a tuple of str")
    for name in entry.sensitive_fields:
        check_text("sensitive_fields", name, MAX_AGENT_ID_LENGTH)
    check_datetime("created_at", entry.created_at)
    return attrs.evolve(
        entry, kind=str(entry.kind), payload=payload, created_at=entry.created_at.astimezone(dt.UTC)
    )


def prepare_entries(entries: object) -> list[Evidence]:
    """Validate every entry of an append (see :func:`validate_evidence`) and return them as stored, in order.

    Not an iterable (or a str, or one entry alone): :class:`~hexalchemy.ports.InvalidArgumentError`;
    an item that is not an :class:`~hexalchemy.ports.Evidence`, a bad field, or one id twice:
    :class:`~hexalchemy.ports.InvalidAgentDataError`.
    """
    if isinstance(entries, Evidence):
        raise InvalidArgumentError("entries", entries, "must be an iterable of Evidence (use append for one)")
    checked: list[Evidence] = []
    for entry in check_iterable("entries", entries):
        if not isinstance(entry, Evidence):
            raise InvalidAgentDataError("entry", entry, "must be an Evidence")
        checked.append(validate_evidence(entry))
    ids = [entry.id for entry in checked]
    if len(set(ids)) != len(ids):
        raise InvalidAgentDataError("entries", "<ids>", "contain the same evidence id twice")
    return checked
