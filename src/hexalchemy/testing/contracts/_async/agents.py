# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The agent-store contract for an :class:`AsyncAgentStateStore`, :class:`AsyncSignalQueue` and :class:`AsyncEvidenceLog`; see :mod:`hexalchemy.testing.contracts.agents`."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar

import attrs
import pytest

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    AsyncAgentStateStore,
    AsyncEvidenceLog,
    AsyncSignalQueue,
    AsyncTransactionManager,
    DuplicateEntityError,
    EntityNotFoundError,
    Evidence,
    EvidenceKind,
    InvalidAgentDataError,
    InvalidArgumentError,
    LeaseLostError,
    NoActiveTransactionError,
    RetryableError,
    RunnerLease,
    Signal,
    SignalKind,
    TransactionUsageError,
    VerifyResult,
    VersionConflictError,
)
from hexalchemy.rules import evidence_hash, new_agent_state, new_evidence, new_signal
from hexalchemy.rules.agent_limits import MAX_AGENT_PAYLOAD_BYTES
from hexalchemy.rules.arguments import MAX_DURATION
from hexalchemy.testing.agents import Tamper
from hexalchemy.testing.contracts._support import AsyncContract, BoomError, run_concurrently

R = TypeVar("R")

_SHORT: Final = dt.timedelta(milliseconds=50)
_PAST_SHORT: Final = _SHORT * 3
_LONG: Final = dt.timedelta(minutes=10)
_ALL_KINDS: Final = tuple(SignalKind)


class AsyncAgentHarness(Protocol):
    """The agent stores under test, on empty stores (see :mod:`hexalchemy.testing.contracts.agents`)."""

    @property
    def transactions(self) -> AsyncTransactionManager:
        """The transaction manager the three stores work in."""
        ...

    @property
    def states(self) -> AsyncAgentStateStore:
        """The agent state store."""
        ...

    @property
    def signals(self) -> AsyncSignalQueue:
        """The signal queue."""
        ...

    @property
    def evidence(self) -> AsyncEvidenceLog:
        """The evidence log."""
        ...

    async def advance(self, delta: dt.timedelta) -> None:
        """Let at least ``delta`` pass on the stores' clock (the contracts move it by up to about ten minutes: move a clock, do not sleep)."""
        ...

    async def tamper(self, agent_id: str, sequence: int, how: Tamper) -> None:
        """Damage a committed evidence entry behind the library's back."""
        ...


def _agent(id: str = "agent-1", status: AgentStatus = AgentStatus.ACTIVE) -> AgentState:
    return new_agent_state(id, "planner", status=status, metadata={"team": "blue", "n": [1, 2]})


def _signal(agent_id: str = "agent-1", kind: SignalKind = SignalKind.USER_MESSAGE, **kw: Any) -> Signal:
    return new_signal(agent_id, kind, {"text": "hi"}, **kw)


def _entry(agent_id: str = "agent-1", payload: Any = None, **kw: Any) -> Evidence:
    return new_evidence(
        agent_id, EvidenceKind.OBSERVATION, payload if payload is not None else {"x": 1}, **kw
    )


async def _save(harness: AsyncAgentHarness, *states: AgentState) -> list[AgentState]:
    """Save ``states`` in a committed transaction and return them as saved."""
    async with harness.transactions.begin():
        return [await harness.states.save(state) for state in states]


async def _create_agents(harness: AsyncAgentHarness, *ids: str) -> list[AgentState]:
    """Save a new state for each id (signals and evidence need their agent's state)."""
    return await _save(harness, *(_agent(id) for id in ids))


async def _send(harness: AsyncAgentHarness, *signals: Signal) -> list[Signal]:
    """Send ``signals`` in a committed transaction and return them as queued."""
    async with harness.transactions.begin():
        return [await harness.signals.send(signal) for signal in signals]


async def _append(harness: AsyncAgentHarness, *entries: Evidence) -> list[Evidence]:
    """Append ``entries`` in a committed transaction and return them as stored."""
    async with harness.transactions.begin():
        return await harness.evidence.append_all(entries)


async def _read(harness: AsyncAgentHarness, read: Callable[[], Awaitable[R]]) -> R:
    """Call ``read`` in a read-only transaction and return what it returns."""
    async with harness.transactions.begin(read_only=True):
        return await read()


class AsyncAgentStoreContract(AsyncContract):
    """Behaviour every agent state store, signal queue and evidence log shares; needs a ``harness`` fixture (:class:`AsyncAgentHarness`)."""

    # -- agent state: compare-and-set ---------------------------------------------------------

    async def test_a_saved_state_is_read_back_with_version_and_times(
        self, harness: AsyncAgentHarness
    ) -> None:
        (saved,) = await _save(harness, _agent())
        assert saved.version == 1
        assert saved.created_at is not None and saved.updated_at == saved.created_at
        assert await _read(harness, lambda: harness.states.get("agent-1")) == saved
        assert saved.metadata == {"team": "blue", "n": [1, 2]}

    async def test_get_of_a_missing_agent_raises_and_get_or_none_is_none(
        self, harness: AsyncAgentHarness
    ) -> None:
        with pytest.raises(EntityNotFoundError):
            await _read(harness, lambda: harness.states.get("nobody"))
        assert await _read(harness, lambda: harness.states.get_or_none("nobody")) is None

    async def test_a_second_create_is_a_duplicate(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent())
        with pytest.raises(DuplicateEntityError):
            await _save(harness, _agent())

    async def test_a_stale_version_conflicts(self, harness: AsyncAgentHarness) -> None:
        (saved,) = await _save(harness, _agent())
        await _save(harness, attrs.evolve(saved, reason="first"))
        with pytest.raises(VersionConflictError):
            await _save(harness, attrs.evolve(saved, reason="second"))
        assert (await _read(harness, lambda: harness.states.get("agent-1"))).reason == "first"

    async def test_an_update_keeps_created_at_and_moves_updated_at(self, harness: AsyncAgentHarness) -> None:
        (saved,) = await _save(harness, _agent())
        await harness.advance(dt.timedelta(milliseconds=5))
        (updated,) = await _save(
            harness, attrs.evolve(saved, status=AgentStatus.COMPLETED, created_at=None, output_ref="out")
        )
        assert updated.version == 2
        assert updated.created_at == saved.created_at
        assert updated.updated_at is not None and saved.updated_at is not None
        assert updated.updated_at > saved.updated_at

    async def test_updating_a_missing_agent_raises(self, harness: AsyncAgentHarness) -> None:
        with pytest.raises(EntityNotFoundError):
            await _save(harness, attrs.evolve(_agent(), version=3))

    async def test_a_rolled_back_save_leaves_nothing(self, harness: AsyncAgentHarness) -> None:
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                await harness.states.save(_agent())
                raise BoomError
        assert await _read(harness, lambda: harness.states.get_or_none("agent-1")) is None

    async def test_save_outside_a_transaction_raises(self, harness: AsyncAgentHarness) -> None:
        with pytest.raises(NoActiveTransactionError):
            await harness.states.save(_agent())

    async def test_overlapping_updates_of_one_version_let_one_win(self, harness: AsyncAgentHarness) -> None:
        (saved,) = await _save(harness, _agent())

        def update(reason: str) -> Callable[[], Awaitable[AgentState]]:
            async def run() -> AgentState:
                async with harness.transactions.begin():
                    result = await harness.states.save(attrs.evolve(saved, reason=reason))
                    await asyncio.sleep(0.05)
                return result

            return run

        outcomes = await run_concurrently([update("a"), update("b")])
        won = [o for o in outcomes if isinstance(o, AgentState)]
        assert len(won) == 1, outcomes
        assert all(isinstance(o, VersionConflictError | RetryableError) for o in outcomes if o not in won)
        assert (await _read(harness, lambda: harness.states.get("agent-1"))).reason == won[0].reason

    # -- agent state: listings ----------------------------------------------------------------

    async def test_list_by_status_pages_by_id(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, *(_agent(f"a{i}") for i in (3, 1, 4, 0, 2)), _agent("z", AgentStatus.FAILED))
        first = await _read(harness, lambda: harness.states.list_by_status(AgentStatus.ACTIVE, limit=2))
        assert [s.id for s in first.items] == ["a0", "a1"] and first.next_cursor is not None
        second = await _read(
            harness,
            lambda: harness.states.list_by_status(AgentStatus.ACTIVE, limit=2, after=first.next_cursor),
        )
        assert [s.id for s in second.items] == ["a2", "a3"] and second.next_cursor is not None
        third = await _read(
            harness,
            lambda: harness.states.list_by_status(AgentStatus.ACTIVE, limit=2, after=second.next_cursor),
        )
        assert [s.id for s in third.items] == ["a4"] and third.next_cursor is None

    async def test_a_full_last_page_has_no_next_cursor(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent("a"), _agent("b"))
        page = await _read(harness, lambda: harness.states.list_by_status(AgentStatus.ACTIVE, limit=2))
        assert len(page.items) == 2 and page.next_cursor is None

    async def test_resume_candidates_are_the_active_and_interrupted_agents(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _save(
            harness,
            *(_agent(f"{status.value}", status) for status in AgentStatus),
        )
        page = await _read(harness, lambda: harness.states.list_resume_candidates(limit=10))
        assert [s.id for s in page.items] == ["active", "interrupted"]

    # -- runner leases ------------------------------------------------------------------------

    async def test_a_runner_claims_a_resumable_agent_once(self, harness: AsyncAgentHarness) -> None:
        (saved,) = await _save(harness, _agent())
        lease = await harness.states.claim_resumable("runner-a", lease_for=_LONG)
        assert lease is not None
        assert (lease.agent_id, lease.runner, lease.state) == ("agent-1", "runner-a", saved)
        assert await harness.states.claim_resumable("runner-b", lease_for=_LONG) is None

    async def test_finished_agents_are_not_claimed(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent(status=AgentStatus.COMPLETED), _agent("b", AgentStatus.CREATED))
        assert await harness.states.claim_resumable("runner-a", lease_for=_LONG) is None

    async def test_save_owned_works_while_the_lease_holds(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent())
        lease = await harness.states.claim_resumable("runner-a", lease_for=_LONG)
        assert lease is not None
        async with harness.transactions.begin():
            saved = await harness.states.save_owned(attrs.evolve(lease.state, reason="mine"), lease)
        assert saved.version == 2

    async def test_an_expired_lease_is_lost_to_another_runner(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent())
        old = await harness.states.claim_resumable("runner-a", lease_for=_SHORT)
        assert old is not None
        await harness.advance(_PAST_SHORT)
        new = await harness.states.claim_resumable("runner-b", lease_for=_LONG)
        assert new is not None and new.agent_id == "agent-1"
        with pytest.raises(LeaseLostError):
            async with harness.transactions.begin():
                await harness.states.save_owned(attrs.evolve(old.state, reason="late"), old)
        with pytest.raises(LeaseLostError):
            await harness.states.extend(old, lease_for=_LONG)
        assert await harness.states.release(old) is False

    async def test_an_expired_lease_cannot_save_even_unclaimed(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent())
        lease = await harness.states.claim_resumable("runner-a", lease_for=_SHORT)
        assert lease is not None
        await harness.advance(_PAST_SHORT)
        with pytest.raises(LeaseLostError):
            async with harness.transactions.begin():
                await harness.states.save_owned(lease.state, lease)

    async def test_extend_keeps_the_lease(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent())
        # a lease no wall-clock delay between the calls can outlive (a machine under load once
        # took longer than a 50 ms one between claim and extend); the clock then moves past its end
        lease = await harness.states.claim_resumable("runner-a", lease_for=_LONG)
        assert lease is not None
        extended = await harness.states.extend(lease, lease_for=_LONG * 3)
        assert extended.expires_at > lease.expires_at
        await harness.advance(_LONG + _PAST_SHORT)
        assert await harness.states.claim_resumable("runner-b", lease_for=_LONG) is None
        async with harness.transactions.begin():
            await harness.states.save_owned(lease.state, extended)

    @pytest.mark.parametrize(
        "lease_for",
        [dt.timedelta(0), MAX_DURATION + dt.timedelta(seconds=1), dt.timedelta.max],
        ids=["zero", "beyond-a-year", "max"],
    )
    async def test_a_bad_lease_length_is_refused(
        self, harness: AsyncAgentHarness, lease_for: dt.timedelta
    ) -> None:
        await _save(harness, _agent())
        with pytest.raises(InvalidArgumentError, match="lease_for"):
            await harness.states.claim_resumable("runner-a", lease_for=lease_for)
        assert await harness.states.claim_resumable("runner-a", lease_for=_LONG) is not None

    async def test_the_lease_calls_refuse_what_is_not_a_runner_lease(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _save(harness, _agent())
        lease = await harness.states.claim_resumable("runner-a", lease_for=_LONG)
        assert lease is not None
        not_a_lease: Any = lease.token
        with pytest.raises(InvalidArgumentError, match="lease"):
            await harness.states.extend(not_a_lease, lease_for=_LONG)
        with pytest.raises(InvalidArgumentError, match="lease"):
            await harness.states.release(not_a_lease)
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="lease"):
                await harness.states.save_owned(lease.state, not_a_lease)
        assert await harness.states.release(lease) is True

    @pytest.mark.parametrize("after", [5, "", "a\x00b", "x" * 300], ids=["int", "empty", "nul", "long"])
    async def test_a_bad_listing_cursor_is_refused(self, harness: AsyncAgentHarness, after: Any) -> None:
        with pytest.raises(InvalidArgumentError, match="after"):
            await _read(harness, lambda: harness.states.list_by_status(AgentStatus.ACTIVE, after=after))

    async def test_a_released_agent_can_be_claimed_again(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent())
        lease = await harness.states.claim_resumable("runner-a", lease_for=_LONG)
        assert lease is not None
        assert await harness.states.release(lease) is True
        again = await harness.states.claim_resumable("runner-b", lease_for=_LONG)
        assert again is not None and again.runner == "runner-b"

    async def test_save_owned_with_a_lease_of_another_agent_is_refused(
        self, harness: AsyncAgentHarness
    ) -> None:
        (other,) = await _save(harness, _agent("b", AgentStatus.COMPLETED))
        await _save(harness, _agent())
        lease = await harness.states.claim_resumable("runner-a", lease_for=_LONG)
        assert lease is not None and lease.agent_id == "agent-1"
        async with harness.transactions.begin():
            with pytest.raises(InvalidAgentDataError):
                await harness.states.save_owned(other, lease)

    async def test_the_least_recently_updated_candidate_is_claimed_first(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _save(harness, _agent("z"))
        await harness.advance(dt.timedelta(milliseconds=5))
        await _save(harness, _agent("a"))
        first = await harness.states.claim_resumable("runner-a", lease_for=_LONG)
        second = await harness.states.claim_resumable("runner-b", lease_for=_LONG)
        assert first is not None and second is not None
        assert (first.agent_id, second.agent_id) == ("z", "a")

    async def test_claim_inside_a_transaction_is_refused(self, harness: AsyncAgentHarness) -> None:
        async with harness.transactions.begin():
            with pytest.raises(TransactionUsageError):
                await harness.states.claim_resumable("runner-a", lease_for=_LONG)

    async def test_one_of_concurrent_claimers_wins(self, harness: AsyncAgentHarness) -> None:
        await _save(harness, _agent())

        def claim(runner: str) -> Callable[[], Awaitable[RunnerLease | None]]:
            async def run() -> RunnerLease | None:
                return await harness.states.claim_resumable(runner, lease_for=_LONG)

            return run

        outcomes = await run_concurrently([claim(f"runner-{i}") for i in range(6)])
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        assert len([o for o in outcomes if o is not None]) == 1

    # -- signals ------------------------------------------------------------------------------

    async def test_send_numbers_signals_per_agent(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "a", "b")
        sent = await _send(harness, _signal("a"), _signal("b"), _signal("a"))
        assert [(s.agent_id, s.sequence) for s in sent] == [("a", 1), ("b", 1), ("a", 2)]
        pending = await _read(harness, lambda: harness.signals.list_pending("a"))
        assert pending == [sent[0], sent[2]]

    async def test_an_idempotency_key_is_queued_once(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        (first,) = await _send(harness, _signal(idempotency_key="k"))
        (again,) = await _send(harness, _signal(idempotency_key="k"))
        assert again == first
        assert await _read(harness, lambda: harness.signals.pending_count("agent-1")) == 1

    async def test_an_idempotency_key_of_a_consumed_signal_is_not_queued_again(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _create_agents(harness, "agent-1")
        (first,) = await _send(harness, _signal(idempotency_key="k"))
        async with harness.transactions.begin():
            await harness.signals.consume("agent-1", _ALL_KINDS)
        (again,) = await _send(harness, _signal(idempotency_key="k"))
        assert (again.id, again.sequence) == (first.id, 1) and again.consumed_at is not None
        assert await _read(harness, lambda: harness.signals.pending_count("agent-1")) == 0

    async def test_the_same_idempotency_key_is_free_for_another_agent(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _create_agents(harness, "a", "b")
        sent = await _send(harness, _signal("a", idempotency_key="k"), _signal("b", idempotency_key="k"))
        assert [(s.agent_id, s.sequence) for s in sent] == [("a", 1), ("b", 1)]

    async def test_consume_takes_the_accepted_prefix(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        sent = await _send(
            harness, _signal(), _signal(), _signal(kind=SignalKind.CANCEL), _signal(), _signal()
        )
        async with harness.transactions.begin():
            got = await harness.signals.consume("agent-1", [SignalKind.USER_MESSAGE], maximum=10)
        assert [s.sequence for s in got] == [1, 2]
        assert all(s.consumed_at is not None for s in got)
        assert [s.id for s in got] == [sent[0].id, sent[1].id]
        assert await _read(harness, lambda: harness.signals.pending_count("agent-1")) == 3

    async def test_consume_stops_at_maximum(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        await _send(harness, _signal(), _signal(), _signal())
        async with harness.transactions.begin():
            got = await harness.signals.consume("agent-1", _ALL_KINDS, maximum=2)
        assert [s.sequence for s in got] == [1, 2]
        pending = await _read(harness, lambda: harness.signals.list_pending("agent-1"))
        assert [s.sequence for s in pending] == [3]

    async def test_consume_of_an_unaccepted_head_takes_nothing(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        await _send(harness, _signal(kind=SignalKind.PAUSE), _signal())
        async with harness.transactions.begin():
            assert await harness.signals.consume("agent-1", [SignalKind.USER_MESSAGE]) == []

    async def test_a_rolled_back_consume_leaves_the_signals_pending(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        await _send(harness, _signal(), _signal())
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                assert len(await harness.signals.consume("agent-1", _ALL_KINDS)) == 2
                raise BoomError
        assert await _read(harness, lambda: harness.signals.pending_count("agent-1")) == 2

    async def test_a_maximum_below_one_is_refused(self, harness: AsyncAgentHarness) -> None:
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="maximum"):
                await harness.signals.consume("agent-1", _ALL_KINDS, maximum=0)

    async def test_list_pending_stops_at_limit(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        await _send(harness, _signal(), _signal(), _signal())
        pending = await _read(harness, lambda: harness.signals.list_pending("agent-1", limit=2))
        assert [s.sequence for s in pending] == [1, 2]

    async def test_list_pending_pages_by_sequence(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1", "other")
        await _send(harness, *(_signal() for _ in range(5)), _signal("other"))
        async with harness.transactions.begin():
            await harness.signals.consume("agent-1", [SignalKind.USER_MESSAGE], maximum=1)
        pages: list[list[int]] = []
        after = 0
        while True:
            page = await _read(
                harness,
                functools.partial(harness.signals.list_pending, "agent-1", limit=2, after_sequence=after),
            )
            if not page:
                break
            pages.append([s.sequence for s in page])
            after = page[-1].sequence
        assert pages == [[2, 3], [4, 5]]

    @pytest.mark.parametrize("after", [-1, True, 1.5, "2"])
    async def test_a_bad_list_pending_cursor_is_refused(self, harness: AsyncAgentHarness, after: Any) -> None:
        with pytest.raises(InvalidArgumentError, match="after_sequence"):
            await _read(harness, lambda: harness.signals.list_pending("agent-1", after_sequence=after))

    async def test_concurrent_consumers_take_each_signal_exactly_once(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _create_agents(harness, "agent-1")
        sent = await _send(harness, *(_signal() for _ in range(12)))

        async def consumer() -> list[Signal]:
            got: list[Signal] = []
            for _ in range(200):
                try:
                    async with harness.transactions.begin():
                        batch = await harness.signals.consume("agent-1", _ALL_KINDS, maximum=2)
                        await asyncio.sleep(0.001)
                except (VersionConflictError, RetryableError):
                    continue
                if not batch:
                    return got
                got.extend(batch)
            raise AssertionError("the consumer never finished")

        outcomes = await run_concurrently([consumer, consumer, consumer])
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert errors == []
        taken = sorted(s.sequence for o in outcomes if isinstance(o, list) for s in o)
        assert taken == sorted(s.sequence for s in sent)
        assert await _read(harness, lambda: harness.signals.pending_count("agent-1")) == 0

    # -- evidence -----------------------------------------------------------------------------

    async def test_appended_entries_form_a_hash_chain(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        first, second = await _append(harness, _entry(), _entry(payload={"x": 2}))
        assert (first.sequence, first.previous_hash) == (1, None)
        assert (second.sequence, second.previous_hash) == (2, first.hash)
        assert first.hash == evidence_hash(first) and second.hash == evidence_hash(second)
        assert await _read(harness, lambda: harness.evidence.verify("agent-1")) == VerifyResult(True)

    async def test_concurrent_appenders_make_one_chain(self, harness: AsyncAgentHarness) -> None:
        """Each appender retries a refused commit; every entry lands once, in one chain with no fork."""
        await _create_agents(harness, "agent-1")

        def appender(name: str) -> Callable[[], Awaitable[list[uuid.UUID]]]:
            async def run() -> list[uuid.UUID]:
                landed: list[uuid.UUID] = []
                for index in range(5):
                    entry = _entry(payload={"by": name, "i": index})
                    for _ in range(200):
                        try:
                            async with harness.transactions.begin():
                                await harness.evidence.append(entry)
                                await asyncio.sleep(0.001)
                        except (DuplicateEntityError, VersionConflictError, RetryableError):
                            continue  # the in-memory log refuses the second of two overlapping appends
                        landed.append(entry.id)
                        break
                    else:
                        raise AssertionError(f"{name} never appended entry {index}")
                return landed

            return run

        outcomes = await run_concurrently([appender("a"), appender("b"), appender("c")])
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        landed = sorted(id for o in outcomes if isinstance(o, list) for id in o)
        entries = await _read(harness, lambda: harness.evidence.list_by_agent("agent-1"))
        assert sorted(e.id for e in entries) == landed and len(landed) == 15
        assert [e.sequence for e in entries] == list(range(1, 16))
        assert await _read(harness, lambda: harness.evidence.verify("agent-1")) == VerifyResult(True)

    async def test_the_chain_continues_across_transactions(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        (first,) = await _append(harness, _entry())
        (second,) = await _append(harness, _entry(payload={"x": 2}))
        assert (second.sequence, second.previous_hash) == (2, first.hash)

    async def test_an_entry_is_read_back_as_stored(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        (stored,) = await _append(
            harness,
            _entry(
                payload={"tool": "search", "args": {"q": "é"}},
                summary="searched",
                digest="sha256:00",
                manifest_ref="m-1",
                reference="ref",
                sensitive_fields=("args",),
            ),
        )
        assert await _read(harness, lambda: harness.evidence.get(stored.id)) == stored

    async def test_get_of_a_missing_entry_raises(self, harness: AsyncAgentHarness) -> None:
        with pytest.raises(EntityNotFoundError):
            await _read(harness, lambda: harness.evidence.get(uuid.uuid4()))

    async def test_list_by_agent_pages_by_sequence(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1", "other")
        await _append(harness, *(_entry(payload={"i": i}) for i in range(5)), _entry("other"))
        entries = await _read(
            harness, lambda: harness.evidence.list_by_agent("agent-1", limit=2, after_sequence=2)
        )
        assert [e.sequence for e in entries] == [3, 4]

    async def test_last_is_the_highest_sequence_of_the_agent(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1", "other")
        assert await _read(harness, lambda: harness.evidence.last("agent-1")) is None
        stored = await _append(harness, *(_entry(payload={"i": i}) for i in range(3)))
        await _append(harness, _entry("other"))
        assert await _read(harness, lambda: harness.evidence.last("agent-1")) == stored[-1]

    async def test_last_of_a_kind_reads_past_a_long_log(self, harness: AsyncAgentHarness) -> None:
        """More entries after the boundary than one page of ``list_by_agent`` holds."""
        await _create_agents(harness, "agent-1", "other")
        boundary = new_evidence("agent-1", EvidenceKind.ACTION_BOUNDARY, {"action": "a", "phase": "started"})
        stored = await _append(harness, _entry(), boundary, *(_entry(payload={"i": i}) for i in range(120)))
        await _append(harness, new_evidence("other", EvidenceKind.ACTION_BOUNDARY, {"phase": "completed"}))
        for kind in (EvidenceKind.ACTION_BOUNDARY, "action_boundary"):
            found = await _read(harness, functools.partial(harness.evidence.last, "agent-1", kind=kind))
            assert found == stored[1]
        assert await _read(harness, lambda: harness.evidence.last("agent-1", kind="note")) is None

    @pytest.mark.parametrize(("agent_id", "kind"), [("  ", None), ("agent-1", ""), ("agent-1", 5)])
    async def test_last_refuses_bad_input(self, harness: AsyncAgentHarness, agent_id: str, kind: Any) -> None:
        with pytest.raises(InvalidAgentDataError):
            await _read(harness, lambda: harness.evidence.last(agent_id, kind=kind))

    async def test_list_by_manifest_ref_pages(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "a", "b")
        stored = await _append(
            harness,
            _entry("a", manifest_ref="m"),
            _entry("b", manifest_ref="m"),
            _entry("a", manifest_ref="n"),
        )
        first = await _read(harness, lambda: harness.evidence.list_by_manifest_ref("m", limit=1))
        assert [e.id for e in first.items] == [stored[0].id] and first.next_cursor is not None
        second = await _read(
            harness, lambda: harness.evidence.list_by_manifest_ref("m", limit=1, after=first.next_cursor)
        )
        assert [e.id for e in second.items] == [stored[1].id] and second.next_cursor is None

    async def test_a_rolled_back_append_leaves_nothing(self, harness: AsyncAgentHarness) -> None:
        await _create_agents(harness, "agent-1")
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                await harness.evidence.append(_entry())
                raise BoomError
        assert await _read(harness, lambda: harness.evidence.list_by_agent("agent-1")) == []

    @pytest.mark.parametrize(
        ("how", "sequence", "broken"),
        [
            (Tamper.EDIT, 2, 2),
            (Tamper.DELETE, 2, 2),
            (Tamper.REORDER, 2, 2),
            (Tamper.EDIT, 4, 4),
            (Tamper.DELETE, 4, 4),
            (Tamper.DELETE, 1, 1),
        ],
    )
    async def test_verify_detects_tampering(
        self, harness: AsyncAgentHarness, how: Tamper, sequence: int, broken: int
    ) -> None:
        """Entry ``sequence`` of 4 damaged; deleting the last one is seen only against the recorded head."""
        await _create_agents(harness, "agent-1")
        await _append(harness, *(_entry(payload={"i": i}) for i in range(4)))
        assert (await _read(harness, lambda: harness.evidence.verify("agent-1"))).ok
        await harness.tamper("agent-1", sequence, how)
        result = await _read(harness, lambda: harness.evidence.verify("agent-1"))
        assert (result.ok, result.first_broken_sequence) == (False, broken)
        assert result.reason

    async def test_verify_reads_a_long_chain_to_its_end(self, harness: AsyncAgentHarness) -> None:
        """1,205 entries: an adapter that reads the chain in pages must read every page."""
        await _create_agents(harness, "agent-1")
        await _append(harness, *(_entry(payload={"i": i}) for i in range(1205)))
        assert (await _read(harness, lambda: harness.evidence.verify("agent-1"))).ok
        await harness.tamper("agent-1", 1100, Tamper.EDIT)
        result = await _read(harness, lambda: harness.evidence.verify("agent-1"))
        assert (result.ok, result.first_broken_sequence) == (False, 1100)

    async def test_verify_during_appends_sees_an_intact_chain(self, harness: AsyncAgentHarness) -> None:
        """A verify that overlaps committing appends never reports their entries as missing."""
        await _create_agents(harness, "agent-1")
        done = False

        async def appender() -> int:
            nonlocal done
            try:
                for i in range(30):
                    await _append(harness, _entry(payload={"i": i}))
                    await asyncio.sleep(0)
            finally:
                done = True
            return 30

        async def verifier() -> list[VerifyResult]:
            verdicts: list[VerifyResult] = []
            while True:
                finished = done
                verdicts.append(await _read(harness, lambda: harness.evidence.verify("agent-1")))
                if finished:
                    return verdicts
                await asyncio.sleep(0)

        appended, verdicts = await run_concurrently([appender, verifier])
        assert appended == 30, appended
        assert isinstance(verdicts, list) and verdicts, verdicts
        assert [v for v in verdicts if not v.ok] == []

    # -- agents with no state -------------------------------------------------------------------

    @pytest.mark.parametrize("key", [None, "k"])
    async def test_send_to_an_agent_with_no_state_raises_not_found(
        self, harness: AsyncAgentHarness, key: str | None
    ) -> None:
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError, match="nobody") as raised:
                await harness.signals.send(_signal("nobody", idempotency_key=key))
        assert (raised.value.entity_type, raised.value.entity_id) == (AgentState, "nobody")
        assert await _read(harness, lambda: harness.signals.pending_count("nobody")) == 0

    async def test_append_for_an_agent_with_no_state_raises_not_found(
        self, harness: AsyncAgentHarness
    ) -> None:
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError, match="nobody") as raised:
                await harness.evidence.append(_entry("nobody"))
        assert (raised.value.entity_type, raised.value.entity_id) == (AgentState, "nobody")
        assert await _read(harness, lambda: harness.evidence.list_by_agent("nobody")) == []

    async def test_the_transaction_goes_on_after_a_send_to_an_agent_with_no_state(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _create_agents(harness, "agent-1")
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError):
                await harness.signals.send(_signal("nobody"))
            sent = await harness.signals.send(_signal())
        assert sent.sequence == 1
        assert await _read(harness, lambda: harness.signals.list_pending("agent-1")) == [sent]

    async def test_a_batch_with_an_agent_with_no_state_writes_nothing(
        self, harness: AsyncAgentHarness
    ) -> None:
        await _create_agents(harness, "a", "b")
        batch = [_entry("a"), _entry("b"), _entry("zz-nobody"), _entry("nobody")]
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError) as raised:
                await harness.evidence.append_all(batch)
            (stored,) = await harness.evidence.append_all([_entry("b")])
        assert raised.value.entity_id == "zz-nobody"  # the first in the batch's order
        assert stored.sequence == 1
        assert await _read(harness, lambda: harness.evidence.list_by_agent("a")) == []
        assert await _read(harness, lambda: harness.evidence.verify("a")) == VerifyResult(True)
        assert await _read(harness, lambda: harness.evidence.verify("b")) == VerifyResult(True)

    async def test_a_state_saved_earlier_in_the_transaction_is_enough(
        self, harness: AsyncAgentHarness
    ) -> None:
        async with harness.transactions.begin():
            await harness.states.save(_agent())
            sent = await harness.signals.send(_signal())
            (entry,) = await harness.evidence.append_all([_entry()])
        assert (sent.sequence, entry.sequence) == (1, 1)

    async def test_a_rolled_back_state_is_no_agent(self, harness: AsyncAgentHarness) -> None:
        async with harness.transactions.begin():
            with pytest.raises(BoomError):
                async with harness.transactions.begin():
                    await harness.states.save(_agent())
                    raise BoomError
            with pytest.raises(EntityNotFoundError):
                await harness.signals.send(_signal())
            with pytest.raises(EntityNotFoundError):
                await harness.evidence.append(_entry())

    # -- bad input ----------------------------------------------------------------------------

    async def test_a_blank_agent_id_is_refused(self, harness: AsyncAgentHarness) -> None:
        async with harness.transactions.begin():
            with pytest.raises(InvalidAgentDataError):
                await harness.states.save(attrs.evolve(_agent(), id="  "))
            with pytest.raises(InvalidAgentDataError):
                await harness.signals.send(attrs.evolve(_signal(), agent_id=""))
            with pytest.raises(InvalidAgentDataError):
                await harness.evidence.append(attrs.evolve(_entry(), agent_id=" "))
        listed = await _read(harness, lambda: harness.states.list_by_status(AgentStatus.ACTIVE))
        assert listed.items == ()

    async def test_an_unknown_signal_kind_is_refused(self, harness: AsyncAgentHarness) -> None:
        unknown: Any = "shout"
        async with harness.transactions.begin():
            with pytest.raises(InvalidAgentDataError):
                await harness.signals.send(attrs.evolve(_signal(), kind=unknown))
            with pytest.raises(InvalidAgentDataError):
                await harness.signals.consume("agent-1", [unknown])
        assert await _read(harness, lambda: harness.signals.pending_count("agent-1")) == 0

    async def test_an_oversized_payload_is_refused(self, harness: AsyncAgentHarness) -> None:
        big = "x" * (MAX_AGENT_PAYLOAD_BYTES + 1)
        async with harness.transactions.begin():
            with pytest.raises(InvalidAgentDataError):
                await harness.signals.send(attrs.evolve(_signal(), payload=big))
            with pytest.raises(InvalidAgentDataError):
                await harness.evidence.append_all([_entry(), attrs.evolve(_entry(), payload=big)])
            with pytest.raises(InvalidAgentDataError):
                await harness.states.save(attrs.evolve(_agent(), metadata={"big": big}))
        assert await _read(harness, lambda: harness.evidence.list_by_agent("agent-1")) == []

    async def test_text_with_a_lone_surrogate_is_refused(self, harness: AsyncAgentHarness) -> None:
        # A Python str may hold one; no database takes it.
        async with harness.transactions.begin():
            with pytest.raises(InvalidAgentDataError):
                await harness.states.save(attrs.evolve(_agent(), reason="\ud800"))
            with pytest.raises(InvalidAgentDataError):
                await harness.signals.send(attrs.evolve(_signal(), payload={"text": "\udc00"}))
            with pytest.raises(InvalidAgentDataError):
                await harness.evidence.append_all([_entry(), attrs.evolve(_entry(), summary="\ud800")])
        assert await _read(harness, lambda: harness.evidence.list_by_agent("agent-1")) == []

    async def test_naive_datetimes_are_refused(self, harness: AsyncAgentHarness) -> None:
        naive = dt.datetime.now().replace(tzinfo=None)
        async with harness.transactions.begin():
            with pytest.raises(InvalidAgentDataError):
                await harness.evidence.append(attrs.evolve(_entry(), created_at=naive))
            with pytest.raises(InvalidAgentDataError):
                await harness.signals.send(attrs.evolve(_signal(), sent_at=naive))
