# The async helpers in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""Seeding a world of the probe: :func:`seed_async`."""

from __future__ import annotations

from typing import Any

import attrs

from hexalchemy.ports import AgentStatus, EvidenceKind, SignalKind
from hexalchemy.rules import new_agent_state, new_evidence, new_signal
from tests.errors.samples import AGENT, LONG, MANIFEST, Item, Seeded, sample_message


async def seed_async(world: Any) -> Seeded:
    """Fill the world's store so that every call has something to work on; return what the good values need."""
    seeded = Seeded()
    tm = world.transactions
    async with tm.begin():
        await world.items.save_all([Item(1, "one"), Item(2, "two"), Item(3, "three")])
        await world.writer.add_all([sample_message() for _ in range(40)])
        await world.states.save(attrs.evolve(new_agent_state(AGENT, "kind"), status=AgentStatus.ACTIVE))
        await world.states.save(new_agent_state("agent-2", "kind"))
        await world.signals.send(new_signal(AGENT, SignalKind.USER_MESSAGE, {"text": "hi"}))
        entries = await world.evidence.append_all(
            [new_evidence(AGENT, EvidenceKind.NOTE, {"n": n}, manifest_ref=MANIFEST) for n in range(3)]
        )
    seeded.evidence_id = entries[0].id
    dead = await world.store.claim(limit=1, lease_for=LONG)
    await world.store.dead_letter(dead, dead.messages[0].id, "seeded dead letter")
    seeded.lease = await world.store.claim(limit=5, lease_for=LONG)
    seeded.runner_lease = await world.states.claim_resumable("runner-1", lease_for=LONG)
    return seeded
