"""MariaDB's REPEATABLE READ and the agent stores: the read after a failed write sees what the write saw.

A lease lost after the transaction's snapshot is ``LeaseLostError`` (not a
``VersionConflictError`` naming the version the snapshot shows), and a signal another sender
committed meanwhile with the same idempotency key is returned (not ``DuplicateEntityError``):
``Backend.read_latest`` (see ``tests/sqlalchemy/test_mariadb_snapshots.py``).
"""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from hexalchemy.ports import AgentStatus, LeaseLostError, Signal, SignalKind
from hexalchemy.rules import new_agent_state, new_signal
from tests.agents_sql._sync.harness import SqlAgents
from tests.sqlalchemy.test_mariadb_snapshots import elsewhere

LONG = dt.timedelta(minutes=10)


def test_a_lease_taken_after_the_snapshot_is_lost(mariadb_agents: SqlAgents) -> None:
    agents = mariadb_agents
    with agents.transactions.begin():
        agents.states.save(new_agent_state("a", "t", status=AgentStatus.ACTIVE))
    stale = agents.states.claim_resumable("stale", lease_for=LONG)
    assert stale is not None

    def take_over() -> None:
        assert agents.states.release(stale)
        assert agents.states.claim_resumable("fresh", lease_for=LONG) is not None

    with pytest.raises(LeaseLostError), agents.transactions.begin():
        agents.states.get("a")  # the snapshot: the stale runner's lease, held
        elsewhere(take_over)
        agents.states.save_owned(attrs.evolve(stale.state, reason="stale"), stale)


def test_a_signal_committed_after_the_snapshot_is_returned_for_its_idempotency_key(
    mariadb_agents: SqlAgents,
) -> None:
    agents = mariadb_agents
    with agents.transactions.begin():
        agents.states.save(new_agent_state("a", "t", status=AgentStatus.ACTIVE))
    with agents.transactions.begin():
        assert agents.signals.pending_count("a") == 0  # the snapshot
        sent: list[Signal] = []

        def send() -> None:
            with agents.transactions.begin():
                sent.append(agents.signals.send(new_signal("a", SignalKind.CANCEL, idempotency_key="once")))

        elsewhere(send)
        again = agents.signals.send(new_signal("a", SignalKind.CANCEL, idempotency_key="once"))
    assert again.id == sent[0].id
