"""An agent's action boundary: one transaction, from ``BEGIN`` to ``COMMIT``, as a runner pays for it.

hexalchemy, in one ``transactions.begin()``:

- ``states.save_owned(attrs.evolve(state, current_activity=..., metadata=...), lease)``:
  compare-and-set on the version, fenced by the runner's lease (one ``UPDATE``);
- ``signals.consume(agent, kinds, maximum=3)``: the 3 pending signals (one statement);
- ``evidence.append_all([new_evidence(...tool_call...), new_evidence(...action_boundary...)])``:
  a duplicate-id check, the sequence upsert (which locks the agent's counters), an
  ``executemany`` ``INSERT`` of both chained entries (psycopg pipelines it), the chain's
  head (four statements);
- ``writer.add(new_message(topic, payload, headers=...))`` (one statement).

Raw psycopg 3, in one ``with connection.transaction()``, the same work by hand: the fenced
version-checked ``UPDATE``; the same consume statement (``kind = ANY(%s)`` instead of an
``IN`` list); the sequence upsert, both entries in one multi-row ``INSERT`` with their
SHA-256 chain hashes computed in Python over the same canonical JSON (so
``EvidenceLog.verify`` accepts the raw chain; the job checks it), the head ``UPDATE``; the
outbox ``INSERT``. It has no duplicate-id check (the primary key refuses a duplicate at the
``INSERT``), no validation of the values, and ``uuid4`` ids: one statement and some Python
less than hexalchemy.

Every run takes a fresh agent (``bench-agent-hexalchemy-<n>`` or ``bench-agent-raw-<n>``),
created and leased for an hour before the timing, and the signals of all its boundaries (3
each) are sent to it by COPY (untimed); each boundary consumes the first 3. A fresh agent
per run keeps the runs alike: each boundary leaves dead versions of the agent's state row
(1), its counters row (2) and its signals (3), and the test server runs without
autovacuum, so one agent kept for the whole job made every run slower than the last (by
30-60 % after 1,200 boundaries per side), and a ``VACUUM`` between runs cannot help while
another session holds an old snapshot. The tables are not emptied between runs (the
evidence table refuses ``TRUNCATE``); the agents of earlier runs keep their rows. The job
starts on tables that already hold a history (100 completed agents with 10,000 chained
evidence entries; see ``agents_support._history``) and have been analyzed, as a deployed
store's would be.

The step inputs (activity, metadata, evidence payloads, the event's bytes) are made
beforehand; building the library's objects (``new_evidence``,
``new_message``) and the hashes is timed. One run is :data:`BOUNDARIES` boundaries,
each timed with ``perf_counter`` from before ``BEGIN`` to after ``COMMIT`` (``fsync`` on);
10 timed runs per side after 1 warm-up, alternating, so p50 and p99 are over 500
boundaries per side. Target: p50 <= 2 ms. The common table checks the paired ratio
against 1.5x, a reference line, not a requirement.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any, Final

import attrs

from benchmarks.agents_support import (
    ACCEPTED_KINDS,
    EVIDENCE,
    HEXALCHEMY_AGENT,
    MESSAGES,
    RAW_AGENT,
    RAW_CONSUME_SQL,
    SEQUENCES,
    STATES,
    AgentJob,
    json_param,
    pending,
    pending_async,
    prepare_tables,
    prepare_tables_async,
    raw_consume_parameters,
    raw_evidence_hash,
    seed_signals,
    seed_signals_async,
    signals_from_rows,
)
from benchmarks.databases import AsyncRawConnection, AsyncSides, RawConnection, SyncSides
from benchmarks.harness import QUICK, TINY, Lap, Settings, timed
from benchmarks.job import AsyncRunners, Runners
from benchmarks.recording import current_recorder
from hexalchemy.ports import (
    AgentState,
    AgentStatus,
    Evidence,
    EvidenceKind,
    RunnerLease,
    Signal,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_message
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemySignalQueue,
    AsyncSqlAlchemyTransactionManager,
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemyOutboxWriter,
    SqlAlchemySignalQueue,
    SqlAlchemyTransactionManager,
)

BOUNDARIES: Final = 50
"""Boundaries per run."""
QUICK_BOUNDARIES: Final = 40
TINY_BOUNDARIES: Final = 5
RUNS: Final = 10
"""Timed runs per side (``--quick``: 3)."""
SIGNALS_PER_BOUNDARY: Final = 3
TARGET_P50: Final = 0.002
"""Seconds."""
REFERENCE_RATIO: Final = 1.5
LEASE_FOR: Final = dt.timedelta(hours=1)
TOPIC: Final = "agent.step_completed"
HEADERS: Final = {"content-type": "application/json"}
_NO_FIELDS: Final = json_param([])


def _boundaries(settings: Settings) -> int:
    if settings == TINY:
        return TINY_BOUNDARIES
    return QUICK_BOUNDARIES if settings.repetitions <= QUICK.repetitions else BOUNDARIES


@attrs.frozen
class Step:
    """What the agent did in one step: the inputs of one boundary, made before the timing."""

    activity: str
    metadata: dict[str, Any]
    call: dict[str, Any]
    """The ``tool_call`` evidence payload."""
    done: dict[str, Any]
    """The ``action_boundary`` evidence payload."""
    event: bytes
    """The outbox message's payload."""


def make_steps(count: int) -> list[Step]:
    """``count`` steps of a search agent."""
    return [
        Step(
            activity=f"step {index}: search",
            metadata={"step": index, "model": "bench-model", "tokens": 1200 + index},
            call={"tool": "search", "arguments": {"query": f"query {index}", "limit": 10}},
            done={"action": f"search-{index}", "phase": "completed", "idempotent": True},
            event=json.dumps({"event": "agent.step_completed", "step": index, "tool": "search"}).encode(),
        )
        for index in range(count)
    ]


# ------------------------------------------------------------------------------ raw SQL
RAW_SAVE_SQL: Final = (
    f"UPDATE {STATES} SET agent_type = %s, status = %s, transition = %s, reason = %s, "
    f"current_activity = %s, input_ref = %s, output_ref = %s, last_event_cursor = %s, "
    f"recovery_marker = %s, metadata = %s, updated_at = %s, version = %s "
    f"WHERE id = %s AND version = %s AND lease_token = %s AND lease_expires_at > %s "
    f"RETURNING created_at"
)
RAW_NUMBER_EVIDENCE_SQL: Final = (
    f"INSERT INTO {SEQUENCES} (agent_id, signal_sequence, evidence_sequence, evidence_head) "
    f"VALUES (%s, 0, %s, NULL) ON CONFLICT (agent_id) DO UPDATE "
    f"SET evidence_sequence = {SEQUENCES}.evidence_sequence + excluded.evidence_sequence "
    f"RETURNING evidence_sequence, evidence_head"
)
_EVIDENCE_ROW: Final = "(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
RAW_EVIDENCE_SQL: Final = (
    f"INSERT INTO {EVIDENCE} (id, agent_id, sequence, kind, payload, sensitive_fields, created_at, "
    f"previous_hash, hash) VALUES {_EVIDENCE_ROW}, {_EVIDENCE_ROW}"
)
RAW_HEAD_SQL: Final = f"UPDATE {SEQUENCES} SET evidence_head = %s WHERE agent_id = %s"
RAW_OUTBOX_SQL: Final = (
    f"INSERT INTO {MESSAGES} (id, topic, payload, headers, created_at, available_at, attempts) "
    f"VALUES (%s, %s, %s, %s, %s, %s, 0) ON CONFLICT DO NOTHING RETURNING id"
)


def raw_save_parameters(
    state: AgentState, lease: RunnerLease, step: Step, now: dt.datetime
) -> tuple[Any, ...]:
    """The parameters of :data:`RAW_SAVE_SQL`: the state after ``step``, fenced by ``lease``."""
    return (
        state.agent_type,
        state.status.value,
        state.transition,
        state.reason,
        step.activity,
        state.input_ref,
        state.output_ref,
        state.last_event_cursor,
        state.recovery_marker,
        json_param(step.metadata),
        now,
        state.version + 1,
        state.id,
        state.version,
        lease.token,
        now,
    )


def raw_saved(state: AgentState, step: Step, now: dt.datetime) -> AgentState:
    """The state the raw runner holds after a successful save."""
    return attrs.evolve(
        state,
        current_activity=step.activity,
        metadata=step.metadata,
        updated_at=now,
        version=state.version + 1,
    )


def raw_evidence_parameters(
    agent_id: str, last: int, previous: str | None, step: Step, now: dt.datetime
) -> tuple[list[Any], str]:
    """The parameters of :data:`RAW_EVIDENCE_SQL` (numbered up to ``last``, chained), and the new head."""
    parameters: list[Any] = []
    sequence = last - 2
    for kind, payload in (
        (EvidenceKind.TOOL_CALL.value, step.call),
        (EvidenceKind.ACTION_BOUNDARY.value, step.done),
    ):
        sequence += 1
        id = uuid.uuid4()
        hash = raw_evidence_hash(id, agent_id, sequence, kind, payload, now, previous)
        parameters += [id, agent_id, sequence, kind, json_param(payload), _NO_FIELDS, now, previous, hash]
        previous = hash
    assert previous is not None
    return parameters, previous


def raw_outbox_parameters(step: Step, now: dt.datetime) -> tuple[Any, ...]:
    """The parameters of :data:`RAW_OUTBOX_SQL`."""
    return (uuid.uuid4(), TOPIC, step.event, json_param(HEADERS), now, now)


def _check_consumed(side: str, consumed: list[Signal]) -> None:
    if len(consumed) != SIGNALS_PER_BOUNDARY:
        raise AssertionError(
            f"{side}: a boundary consumed {len(consumed)} signals, not {SIGNALS_PER_BOUNDARY}"
        )


def _evidence(agent_id: str, step: Step) -> list[Evidence]:
    return [
        new_evidence(agent_id, EvidenceKind.TOOL_CALL, step.call),
        new_evidence(agent_id, EvidenceKind.ACTION_BOUNDARY, step.done),
    ]


# ------------------------------------------------------------------------------ checks
_COUNTS_SQL: Final = (
    f"SELECT (SELECT version FROM {STATES} WHERE id = %(agent)s), "
    f"(SELECT count(*) FROM {EVIDENCE} WHERE agent_id = %(agent)s), "
    f"(SELECT count(*) FROM {MESSAGES})"
)


def _expect(side: str, found: tuple[Any, ...] | None, expected: tuple[int, ...]) -> None:
    if found != expected:
        raise AssertionError(
            f"{side}: (state version, evidence entries, outbox messages, pending signals) = {found}, "
            f"expected {expected}"
        )


def _check(raw: RawConnection, side: str, agent_id: str, boundaries: int, messages: int) -> None:
    row = raw.execute(_COUNTS_SQL, {"agent": agent_id}).fetchone()
    found = None if row is None else (*row, pending(raw, agent_id))
    _expect(side, found, (1 + boundaries, 2 * boundaries, messages, 0))


async def _check_async(
    raw: AsyncRawConnection, side: str, agent_id: str, boundaries: int, messages: int
) -> None:
    row = await (await raw.execute(_COUNTS_SQL, {"agent": agent_id})).fetchone()
    found = None if row is None else (*row, await pending_async(raw, agent_id))
    _expect(side, found, (1 + boundaries, 2 * boundaries, messages, 0))


def _check_lease(lease: RunnerLease | None, agent_id: str) -> RunnerLease:
    if lease is None or lease.agent_id != agent_id:
        raise AssertionError(f"claimed {lease}, expected a lease on {agent_id}")
    return lease


# ----------------------------------------------------------------------------- the runners
def _create_and_claim(
    states: SqlAlchemyAgentStateStore, transactions: SqlAlchemyTransactionManager, agent_id: str
) -> RunnerLease:
    with transactions.begin():
        states.save(new_agent_state(agent_id, "bench", status=AgentStatus.ACTIVE))
    return _check_lease(states.claim_resumable(f"runner-{agent_id}", lease_for=LEASE_FOR), agent_id)


@attrs.define
class Agents:
    """Names a fresh agent for each run of each side, and remembers the last one."""

    counts: dict[str, int] = attrs.field(factory=dict)
    last: dict[str, str] = attrs.field(factory=dict)

    def next(self, prefix: str) -> str:
        """A new agent id with this prefix."""
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        self.last[prefix] = f"{prefix}-{self.counts[prefix]}"
        return self.last[prefix]


def sync_runners(sides: SyncSides, settings: Settings) -> Runners:
    tables = prepare_tables(sides)
    transactions, raw = sides.transactions, sides.raw
    states = SqlAlchemyAgentStateStore(tables.agents, transactions)
    queue = SqlAlchemySignalQueue(tables.agents, transactions)
    evidence = SqlAlchemyEvidenceLog(tables.agents, transactions)
    writer = SqlAlchemyOutboxWriter(tables.outbox, transactions)
    steps = make_steps(_boundaries(settings))
    recorder = current_recorder()
    agents = Agents()
    cursor = raw.cursor()

    def start(prefix: str) -> RunnerLease:
        lease = _create_and_claim(states, transactions, agents.next(prefix))
        seed_signals(raw, lease.agent_id, SIGNALS_PER_BOUNDARY * len(steps))
        return lease

    def hexalchemy() -> Lap:
        lease = start(HEXALCHEMY_AGENT)
        agent, state = lease.agent_id, lease.state
        seconds = []
        with timed() as lap:
            for step in steps:
                begun = time.perf_counter()
                with transactions.begin():
                    state = states.save_owned(
                        attrs.evolve(state, current_activity=step.activity, metadata=step.metadata), lease
                    )
                    consumed = queue.consume(agent, ACCEPTED_KINDS, maximum=SIGNALS_PER_BOUNDARY)
                    evidence.append_all(_evidence(agent, step))
                    writer.add(new_message(TOPIC, step.event, headers=HEADERS))
                seconds.append(time.perf_counter() - begun)
                _check_consumed("hexalchemy", consumed)
        recorder.hexalchemy.append(seconds)
        return lap

    def raw_psycopg() -> Lap:
        lease = start(RAW_AGENT)
        agent, state = lease.agent_id, lease.state
        seconds = []
        with timed() as lap:
            for step in steps:
                begun = time.perf_counter()
                now = dt.datetime.now(dt.UTC)
                with raw.transaction():
                    if (
                        cursor.execute(RAW_SAVE_SQL, raw_save_parameters(state, lease, step, now)).fetchone()
                        is None
                    ):
                        raise AssertionError("raw: the version or the lease did not match")
                    state = raw_saved(state, step, now)
                    cursor.execute(RAW_CONSUME_SQL, raw_consume_parameters(agent, SIGNALS_PER_BOUNDARY))
                    consumed = signals_from_rows(cursor.fetchall())
                    last, previous = cursor.execute(RAW_NUMBER_EVIDENCE_SQL, (agent, 2)).fetchone() or (
                        0,
                        None,
                    )
                    parameters, head = raw_evidence_parameters(agent, last, previous, step, now)
                    cursor.execute(RAW_EVIDENCE_SQL, parameters)
                    cursor.execute(RAW_HEAD_SQL, (head, agent))
                    cursor.execute(RAW_OUTBOX_SQL, raw_outbox_parameters(step, now)).fetchone()
                seconds.append(time.perf_counter() - begun)
                _check_consumed("raw", consumed)
        recorder.raw.append(seconds)
        return lap

    hexalchemy()
    _check(raw, "hexalchemy", agents.last[HEXALCHEMY_AGENT], len(steps), len(steps))
    raw_psycopg()
    _check(raw, "raw", agents.last[RAW_AGENT], len(steps), 2 * len(steps))
    with transactions.begin(read_only=True):
        for agent in agents.last.values():
            verdict = evidence.verify(agent)
            if not verdict.ok:
                raise AssertionError(f"the evidence chain of {agent} is broken: {verdict}")
    recorder.clear()
    return Runners(hexalchemy, raw_psycopg)


async def _create_and_claim_async(
    states: AsyncSqlAlchemyAgentStateStore, transactions: AsyncSqlAlchemyTransactionManager, agent_id: str
) -> RunnerLease:
    async with transactions.begin():
        await states.save(new_agent_state(agent_id, "bench", status=AgentStatus.ACTIVE))
    return _check_lease(await states.claim_resumable(f"runner-{agent_id}", lease_for=LEASE_FOR), agent_id)


async def async_runners(sides: AsyncSides, settings: Settings) -> AsyncRunners:
    tables = await prepare_tables_async(sides)
    transactions, raw = sides.transactions, sides.raw
    states = AsyncSqlAlchemyAgentStateStore(tables.agents, transactions)
    queue = AsyncSqlAlchemySignalQueue(tables.agents, transactions)
    evidence = AsyncSqlAlchemyEvidenceLog(tables.agents, transactions)
    writer = AsyncSqlAlchemyOutboxWriter(tables.outbox, transactions)
    steps = make_steps(_boundaries(settings))
    recorder = current_recorder()
    agents = Agents()
    cursor = raw.cursor()

    async def start(prefix: str) -> RunnerLease:
        lease = await _create_and_claim_async(states, transactions, agents.next(prefix))
        await seed_signals_async(raw, lease.agent_id, SIGNALS_PER_BOUNDARY * len(steps))
        return lease

    async def hexalchemy() -> Lap:
        lease = await start(HEXALCHEMY_AGENT)
        agent, state = lease.agent_id, lease.state
        seconds = []
        with timed() as lap:
            for step in steps:
                begun = time.perf_counter()
                async with transactions.begin():
                    state = await states.save_owned(
                        attrs.evolve(state, current_activity=step.activity, metadata=step.metadata), lease
                    )
                    consumed = await queue.consume(agent, ACCEPTED_KINDS, maximum=SIGNALS_PER_BOUNDARY)
                    await evidence.append_all(_evidence(agent, step))
                    await writer.add(new_message(TOPIC, step.event, headers=HEADERS))
                seconds.append(time.perf_counter() - begun)
                _check_consumed("hexalchemy", consumed)
        recorder.hexalchemy.append(seconds)
        return lap

    async def raw_psycopg() -> Lap:
        lease = await start(RAW_AGENT)
        agent, state = lease.agent_id, lease.state
        seconds = []
        with timed() as lap:
            for step in steps:
                begun = time.perf_counter()
                now = dt.datetime.now(dt.UTC)
                async with raw.transaction():
                    await cursor.execute(RAW_SAVE_SQL, raw_save_parameters(state, lease, step, now))
                    if await cursor.fetchone() is None:
                        raise AssertionError("raw: the version or the lease did not match")
                    state = raw_saved(state, step, now)
                    await cursor.execute(RAW_CONSUME_SQL, raw_consume_parameters(agent, SIGNALS_PER_BOUNDARY))
                    consumed = signals_from_rows(await cursor.fetchall())
                    await cursor.execute(RAW_NUMBER_EVIDENCE_SQL, (agent, 2))
                    last, previous = await cursor.fetchone() or (0, None)
                    parameters, head = raw_evidence_parameters(agent, last, previous, step, now)
                    await cursor.execute(RAW_EVIDENCE_SQL, parameters)
                    await cursor.execute(RAW_HEAD_SQL, (head, agent))
                    await cursor.execute(RAW_OUTBOX_SQL, raw_outbox_parameters(step, now))
                    await cursor.fetchone()
                seconds.append(time.perf_counter() - begun)
                _check_consumed("raw", consumed)
        recorder.raw.append(seconds)
        return lap

    await hexalchemy()
    await _check_async(raw, "hexalchemy", agents.last[HEXALCHEMY_AGENT], len(steps), len(steps))
    await raw_psycopg()
    await _check_async(raw, "raw", agents.last[RAW_AGENT], len(steps), 2 * len(steps))
    async with transactions.begin(read_only=True):
        for agent in agents.last.values():
            verdict = await evidence.verify(agent)
            if not verdict.ok:
                raise AssertionError(f"the evidence chain of {agent} is broken: {verdict}")
    recorder.clear()
    return AsyncRunners(hexalchemy, raw_psycopg)


JOB: Final = AgentJob(
    name="agent boundary: state + 3 signals + 2 evidence + 1 message",
    key="agents_boundary",
    kind="latency",
    target=REFERENCE_RATIO,
    work=_boundaries,
    repetitions=lambda settings: min(settings.repetitions, RUNS),
    sync=sync_runners,
    async_=async_runners,
    boundary=True,
    maximum_p50=TARGET_P50,
)
