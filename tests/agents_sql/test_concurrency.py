"""Agent stores under real concurrent connections, with oracles, on PostgreSQL and MariaDB.

Concurrent consumers take each signal exactly once, senders number without gaps, claimers of
one agent or many never share one, a stale runner cannot save, appends make one chain. The
statement count of ``consume`` is PostgreSQL's (one ``UPDATE ... RETURNING``; MariaDB has none).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs
import pytest
from sqlalchemy import Engine, select

from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    DeadlockError,
    LeaseLostError,
    RunnerLease,
    Signal,
    SignalKind,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_signal
from hexalchemy.testing.contracts._support import run_in_threads
from tests.agents_sql._async.harness import AsyncSqlAgents
from tests.agents_sql._sync.harness import SqlAgents
from tests.agents_sql.tables import TABLES
from tests.postgresql import aborted_writes
from tests.statements import counting_statements

R = TypeVar("R")
LONG: Final = dt.timedelta(minutes=10)
THREADS: Final = 6


@pytest.fixture(params=["postgresql", "mariadb"])
def agents(request: pytest.FixtureRequest) -> SqlAgents:
    """The sync agent stores on each server (tables emptied first)."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgresql)
    fixture: SqlAgents = request.getfixturevalue(f"{request.param}_agents")
    return fixture


@pytest.fixture(params=["postgresql", "mariadb"])
def async_agents(request: pytest.FixtureRequest) -> AsyncSqlAgents:
    """The async agent stores on each server (tables emptied first)."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgresql)
    fixture: AsyncSqlAgents = request.getfixturevalue(f"async_{request.param}_agents")
    return fixture


@pytest.fixture
def blocking_engine(async_agents: AsyncSqlAgents, request: pytest.FixtureRequest) -> Engine:
    """A sync engine on the same server as ``async_agents`` (its session fixture)."""
    name = async_agents.engine.dialect.name
    engine: Engine = request.getfixturevalue(f"agents_{name}")
    return engine


def together(target: Callable[[], R], count: int = THREADS) -> list[R]:
    """Run ``target`` in ``count`` threads released at once; fail on any exception."""
    start = threading.Barrier(count)

    def run() -> R:
        start.wait()
        return target()

    outcomes = run_in_threads([run] * count)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert errors == []
    return [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]


def active(agents: SqlAgents, *ids: str) -> list[AgentState]:
    with agents.transactions.begin():
        return [agents.states.save(new_agent_state(id, "t", status=AgentStatus.ACTIVE)) for id in ids]


def test_concurrent_consumers_take_each_signal_exactly_once_in_order(agents: SqlAgents) -> None:
    active(agents, "a")
    with agents.transactions.begin():
        sent = [agents.signals.send(new_signal("a", SignalKind.USER_MESSAGE, {"n": n})) for n in range(120)]

    def consumer() -> list[list[int]]:
        batches: list[list[int]] = []
        while True:
            with agents.transactions.begin():
                batch = agents.signals.consume("a", [SignalKind.USER_MESSAGE], maximum=7)
            if not batch:
                return batches
            batches.append([signal.sequence for signal in batch])

    batches = [batch for outcome in together(consumer) for batch in outcome]
    consumed = sorted(sequence for batch in batches for sequence in batch)
    assert consumed == [signal.sequence for signal in sent]  # every signal, exactly once
    for batch in batches:  # each batch is a gapless run of the queue, in order
        assert batch == list(range(batch[0], batch[0] + len(batch)))


def test_concurrent_senders_number_without_gaps(agents: SqlAgents) -> None:
    active(agents, "a")

    def sender() -> list[int]:
        numbers = []
        for n in range(15):
            with agents.transactions.begin():
                signal = agents.signals.send(new_signal("a", SignalKind.USER_MESSAGE, n))
            numbers.append(signal.sequence)
        return numbers

    numbers = sorted(number for outcome in together(sender) for number in outcome)
    assert numbers == list(range(1, THREADS * 15 + 1))


@pytest.mark.postgresql
def test_consume_is_one_statement(postgresql_agents: SqlAgents) -> None:
    agents = postgresql_agents
    active(agents, "a")
    with agents.transactions.begin():
        for kind in (SignalKind.USER_MESSAGE, SignalKind.USER_MESSAGE, SignalKind.CANCEL):
            agents.signals.send(new_signal("a", kind))
    with counting_statements(agents.engine) as statements, agents.transactions.begin():
        consumed = agents.signals.consume("a", [SignalKind.USER_MESSAGE])
    assert [signal.sequence for signal in consumed] == [1, 2]
    assert len(statements) == 1
    assert "FOR UPDATE" in statements[0]


def test_of_concurrent_claimers_of_one_agent_exactly_one_wins(agents: SqlAgents) -> None:
    active(agents, "only")

    def claim() -> RunnerLease | None:
        return agents.states.claim_resumable(f"runner-{threading.get_ident()}", lease_for=LONG)

    leases = [lease for lease in together(claim, 8) if lease is not None]
    assert len(leases) == 1
    assert leases[0].agent_id == "only"


def test_concurrent_claimers_share_many_agents_without_overlap(agents: SqlAgents) -> None:
    active(agents, *(f"agent-{n:02}" for n in range(30)))

    def claim_all() -> list[str]:
        claimed = []
        while (lease := agents.states.claim_resumable("r", lease_for=LONG)) is not None:
            claimed.append(lease.agent_id)
        return claimed

    claimed = [agent for outcome in together(claim_all) for agent in outcome]
    assert sorted(claimed) == [f"agent-{n:02}" for n in range(30)]


def claim_while_sending(agents: SqlAgents, *, evidence: bool) -> RunnerLease | None:
    """Claim agent "a" while another thread's open transaction has sent it a signal (and, with ``evidence``, appended an entry)."""
    sent = threading.Event()
    done = threading.Event()

    def sender() -> None:
        with agents.transactions.begin():
            agents.signals.send(new_signal("a", SignalKind.USER_MESSAGE))
            if evidence:
                agents.evidence.append(new_evidence("a", "note"))
            sent.set()
            assert done.wait(30)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        assert sent.wait(30)
        return agents.states.claim_resumable("runner", lease_for=LONG)
    finally:
        done.set()
        thread.join(30)


@pytest.mark.postgresql
def test_an_uncommitted_send_does_not_hide_the_agent_from_claimers(postgresql_agents: SqlAgents) -> None:
    # The signal's foreign key check holds a KEY SHARE lock on the state until commit;
    # claim_resumable locks FOR NO KEY UPDATE SKIP LOCKED, which that lock does not block.
    # (MariaDB has no such lock mode: there the agent is claimed once the sender commits,
    # see test_an_agent_being_sent_a_signal_is_claimed_once_the_sender_commits.)
    active(postgresql_agents, "a")
    lease = claim_while_sending(postgresql_agents, evidence=True)
    assert lease is not None and lease.agent_id == "a"


def test_an_agent_being_sent_a_signal_is_claimed_once_the_sender_commits(mariadb_agents: SqlAgents) -> None:
    # InnoDB's foreign key check holds a shared lock on the state until the sender commits,
    # and claim_resumable skips locked rows: the agent is claimed by the next claim after.
    agents = mariadb_agents
    active(agents, "a")
    hidden = claim_while_sending(agents, evidence=False)
    assert hidden is None
    lease = agents.states.claim_resumable("runner", lease_for=LONG)
    assert lease is not None and lease.agent_id == "a"


def test_a_stale_runner_cannot_save(agents: SqlAgents) -> None:
    active(agents, "a")
    stale = agents.states.claim_resumable("stale", lease_for=dt.timedelta(seconds=1))
    assert stale is not None
    agents.advance(dt.timedelta(seconds=2))
    fresh = agents.states.claim_resumable("fresh", lease_for=LONG)
    assert fresh is not None and fresh.token != stale.token
    with pytest.raises(LeaseLostError), agents.transactions.begin():
        agents.states.save_owned(attrs.evolve(stale.state, reason="stale"), stale)
    with agents.transactions.begin():
        saved = agents.states.save_owned(attrs.evolve(fresh.state, reason="fresh"), fresh)
    assert saved.reason == "fresh"
    assert agents.states.release(stale) is False
    assert agents.states.release(fresh) is True


def test_concurrent_appends_make_one_chain(agents: SqlAgents) -> None:
    active(agents, "a")

    def appender() -> int:
        for n in range(8):
            with agents.transactions.begin():
                agents.evidence.append_all(
                    [new_evidence("a", "note", {"n": n}), new_evidence("a", "note", {"n": -n})]
                )
        return 16

    total = sum(together(appender))
    with agents.transactions.begin(read_only=True):
        entries = agents.evidence.list_by_agent("a", limit=1000)
        verdict = agents.evidence.verify("a")
    assert [entry.sequence for entry in entries] == list(range(1, total + 1))
    assert verdict.ok
    assert len({entry.previous_hash for entry in entries}) == total  # no fork: no hash is followed twice


def test_concurrent_senders_of_one_idempotency_key_queue_it_once(agents: SqlAgents) -> None:
    active(agents, "a")

    def sender() -> Signal:
        with agents.transactions.begin():
            signal = new_signal("a", SignalKind.APPROVAL_DECISION, {"ok": True}, idempotency_key="once")
            return agents.signals.send(signal)

    sent = together(sender)
    assert len({signal.id for signal in sent}) == 1
    assert {signal.sequence for signal in sent} == {1}
    with agents.transactions.begin():
        assert agents.signals.pending_count("a") == 1
        after = agents.signals.send(new_signal("a", SignalKind.CANCEL))
    assert after.sequence == 2  # the senders that lost gave their number back: no gap


async def test_of_concurrent_async_claimers_of_one_agent_exactly_one_wins(
    async_agents: AsyncSqlAgents,
) -> None:
    agents = async_agents
    async with agents.transactions.begin():
        await agents.states.save(new_agent_state("only", "t", status=AgentStatus.ACTIVE))
    claims = [agents.states.claim_resumable(f"runner-{n}", lease_for=LONG) for n in range(8)]
    leases = [lease for lease in await asyncio.gather(*claims) if lease is not None]
    assert [lease.agent_id for lease in leases] == ["only"]
    extended = await agents.states.extend(leases[0], lease_for=LONG * 2)
    assert extended.expires_at > leases[0].expires_at
    assert await agents.states.release(extended)
    assert not await agents.states.release(extended)  # already given up


async def test_an_async_lease_call_cancelled_in_the_bridge_gives_its_connection_back(
    async_agents: AsyncSqlAgents, blocking_engine: Engine
) -> None:
    agents = async_agents
    async with agents.transactions.begin():
        await agents.states.save(new_agent_state("held", "t", status=AgentStatus.ACTIVE))
    lease = await agents.states.claim_resumable("runner", lease_for=LONG)
    assert lease is not None
    with blocking_engine.connect() as blocker:  # holds the state row: extend waits for it
        states = TABLES.states
        blocker.execute(select(states.c.id).where(states.c.id == "held").with_for_update())
        task = asyncio.ensure_future(agents.states.extend(lease, lease_for=LONG * 2))
        await asyncio.sleep(0.2)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        blocker.rollback()
    pool: Any = agents.engine.sync_engine.pool
    assert pool.checkedout() == 0
    assert await agents.states.extend(lease, lease_for=LONG)  # the lease is still held and usable


@pytest.mark.postgresql
def test_a_lease_call_aborted_by_the_database_runs_again(postgresql_agents: SqlAgents) -> None:
    active(postgresql_agents, "a")
    with aborted_writes(postgresql_agents.engine, TABLES.states.name, "UPDATE", times=2):
        lease = postgresql_agents.states.claim_resumable("runner", lease_for=LONG)
    assert lease is not None and lease.agent_id == "a"
    aborted = aborted_writes(postgresql_agents.engine, TABLES.states.name, "UPDATE", times=3)
    with aborted, pytest.raises(DeadlockError):  # three attempts in all, then the error
        postgresql_agents.states.release(lease)
    postgresql_agents.states.release(lease)
