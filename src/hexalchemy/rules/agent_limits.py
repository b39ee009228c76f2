"""The limits of the agent stores: lengths, payload sizes, page sizes, and which statuses resume."""

from __future__ import annotations

from typing import Final

from hexalchemy.ports import AgentStatus

__all__ = [
    "ACTIVE_STATUSES",
    "MAX_AGENT_ID_LENGTH",
    "MAX_AGENT_PAYLOAD_BYTES",
    "MAX_AGENT_TEXT_LENGTH",
    "MAX_PAGE_LIMIT",
]

MAX_AGENT_ID_LENGTH: Final = 255
"""The longest id, agent type, runner name, idempotency key, kind or reference, in characters."""
MAX_AGENT_TEXT_LENGTH: Final = 4096
"""The longest free text (reason, activity, summary, transition...), in characters."""
MAX_AGENT_PAYLOAD_BYTES: Final = 64 * 1024
"""The largest JSON payload or metadata, in bytes of its canonical UTF-8 encoding."""
MAX_PAGE_LIMIT: Final = 1000
"""The largest ``limit`` (or ``maximum``) of one list or consume call."""

ACTIVE_STATUSES: Final = frozenset({AgentStatus.ACTIVE, AgentStatus.INTERRUPTED})
"""The statuses of resume candidates (``list_resume_candidates``, ``claim_resumable``)."""
