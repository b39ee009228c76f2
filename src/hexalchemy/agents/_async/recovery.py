# The async functions in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""Deciding from an evidence log: :func:`decide_from_log_async`; see :mod:`hexalchemy.agents.recovery`."""

from __future__ import annotations

from hexalchemy.agents._decide import Decision, checked_state, decide
from hexalchemy.ports import AgentState, AsyncEvidenceReader, EvidenceKind
from hexalchemy.rules import check_has_methods


async def decide_from_log_async(state: AgentState, log: AsyncEvidenceReader) -> Decision:
    """Decide how to resume ``state`` from its last action boundary in ``log`` (one read, in the ambient transaction)."""
    check_has_methods("log", log, ("last",))
    boundary = await log.last(checked_state(state).id, kind=EvidenceKind.ACTION_BOUNDARY)
    return decide(state, () if boundary is None else (boundary,))
