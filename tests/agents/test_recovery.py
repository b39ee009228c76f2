"""The recovery rule: the last action boundary decides."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from hexalchemy.agents import RecoveryAction, decide, decide_from_log, decide_from_log_async
from hexalchemy.ports import Evidence, EvidenceKind, InvalidAgentDataError, JsonValue
from hexalchemy.rules import new_agent_state, new_evidence
from hexalchemy.testing import (
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemoryTransactionManager,
    InMemoryAgentStateStore,
    InMemoryEvidenceLog,
    InMemoryTransactionManager,
)

STATE = new_agent_state("agent-1", "planner")


def _boundary(sequence: int, payload: Any, agent_id: str = "agent-1") -> Evidence:
    entry = new_evidence(agent_id, EvidenceKind.ACTION_BOUNDARY, payload)
    return _with_sequence(entry, sequence)


def _with_sequence(entry: Evidence, sequence: int) -> Evidence:
    return attrs.evolve(entry, sequence=sequence)


def test_no_boundary_starts() -> None:
    note = _with_sequence(new_evidence("agent-1", "note", {"x": 1}), 1)
    decision = decide(STATE, [note])
    assert decision.action is RecoveryAction.START and decision.boundary is None


def test_a_completed_last_boundary_skips() -> None:
    started = _boundary(1, {"action": "a", "phase": "started", "idempotent": False})
    completed = _boundary(2, {"action": "a", "phase": "completed"})
    decision = decide(STATE, [completed, started])
    assert decision.action is RecoveryAction.SKIP_COMPLETED and decision.boundary == completed


def test_a_started_idempotent_action_is_retried() -> None:
    decision = decide(STATE, [_boundary(1, {"action": "a", "phase": "started", "idempotent": True})])
    assert decision.action is RecoveryAction.RETRY_IDEMPOTENT


@pytest.mark.parametrize("idempotent", [False, None, "true", 1])
def test_a_started_action_not_known_idempotent_asks_a_human(idempotent: object) -> None:
    payload: dict[str, Any] = {"action": "a", "phase": "started"}
    if idempotent is not None:
        payload["idempotent"] = idempotent
    assert decide(STATE, [_boundary(1, payload)]).action is RecoveryAction.ASK_HUMAN


@pytest.mark.parametrize("payload", [None, [1], {"phase": "paused"}, {}])
def test_a_malformed_boundary_asks_a_human(payload: Any) -> None:
    assert decide(STATE, [_boundary(1, payload)]).action is RecoveryAction.ASK_HUMAN


def test_the_last_boundary_wins_over_earlier_ones() -> None:
    entries = [
        _boundary(1, {"action": "a", "phase": "completed"}),
        _boundary(3, {"action": "b", "phase": "started", "idempotent": False}),
        _with_sequence(new_evidence("agent-1", "note"), 4),
    ]
    assert decide(STATE, entries).action is RecoveryAction.ASK_HUMAN


def test_evidence_of_another_agent_is_refused() -> None:
    with pytest.raises(InvalidAgentDataError):
        decide(STATE, [_boundary(1, {"phase": "completed"}, agent_id="agent-2")])


def _long_log_ending_in_a_started_action() -> list[Evidence]:
    """120 completed boundaries (more than a page of ``list_by_agent``), then a started, non-idempotent one."""
    entries = [
        new_evidence("agent-1", EvidenceKind.ACTION_BOUNDARY, {"action": f"a{i}", "phase": phase})
        for i in range(120)
        for phase in ("started", "completed")
    ]
    started: JsonValue = {"action": "send-mail", "phase": "started", "idempotent": False}
    return [*entries, new_evidence("agent-1", EvidenceKind.ACTION_BOUNDARY, started)]


def test_decide_from_log_reads_the_last_boundary_of_a_long_log() -> None:
    transactions = InMemoryTransactionManager()
    states, log = InMemoryAgentStateStore(transactions), InMemoryEvidenceLog(transactions)
    with transactions.begin():
        state = states.save(STATE)
        log.append_all(_long_log_ending_in_a_started_action())
    with transactions.begin(read_only=True):
        decision = decide_from_log(state, log)
        first_page = decide(state, log.list_by_agent(state.id))
    assert decision.action is RecoveryAction.ASK_HUMAN
    assert decision.boundary is not None and decision.boundary.sequence == 241
    assert first_page.action is RecoveryAction.SKIP_COMPLETED  # why decide() needs the last boundary


async def test_decide_from_log_async_reads_the_last_boundary() -> None:
    transactions = AsyncInMemoryTransactionManager()
    states, log = AsyncInMemoryAgentStateStore(transactions), AsyncInMemoryEvidenceLog(transactions)
    async with transactions.begin():
        state = await states.save(STATE)
        assert (await decide_from_log_async(state, log)).action is RecoveryAction.START
        await log.append_all(_long_log_ending_in_a_started_action())
        decision = await decide_from_log_async(state, log)
    assert decision.action is RecoveryAction.ASK_HUMAN


@pytest.mark.parametrize(("state", "evidence"), [("agent-1", []), (STATE, ["entry"]), (STATE, [None])])
def test_decide_refuses_what_is_not_a_state_or_evidence(state: Any, evidence: Any) -> None:
    with pytest.raises(InvalidAgentDataError):
        decide(state, evidence)


def test_decide_from_log_refuses_what_is_not_a_state() -> None:
    transactions = InMemoryTransactionManager()
    not_a_state: Any = "agent-1"
    with transactions.begin(), pytest.raises(InvalidAgentDataError, match="state"):
        decide_from_log(not_a_state, InMemoryEvidenceLog(transactions))
