"""What the agent jobs share: their tables, agents, seeded signals, the raw SQL, the job class and its report.

The agent jobs (``agents_boundary.py``, ``agents_signals.py``) use the agent tables with
the prefix ``bench_agent`` and an outbox with the prefix ``bench_agent_outbox``. Every job
drops and creates them when it is set up and drops them when it is done. A sync job
defines them on the sides' schema (so that ``SyncSides.drop_table``, which the profiler
calls, drops them too); an async job defines them on a fresh ``MetaData``.

The evidence table refuses ``TRUNCATE`` (that is the point of it), so the boundary job
does not empty its tables between runs: each side appends to its own agent,
with a fresh agent per run (see ``agents_boundary.py``). The signal jobs empty the signal
and sequence tables before every run. Every job starts on tables with a history, analyzed
(:func:`_history`).

Besides the common table (``run.py``), the agent jobs print tables of their own
(:func:`report`): the boundary's p50 and p99 against the 2 ms target, and the signal
throughputs in signals per second.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import statistics
import uuid
import weakref
from collections.abc import Sequence
from typing import Any, Final, LiteralString, cast

import attrs
import psycopg
from psycopg.types.json import Json
from sqlalchemy import MetaData, Table

from benchmarks.databases import (
    AsyncRawConnection,
    AsyncSides,
    RawConnection,
    SyncSides,
    conninfo_for,
    default_url,
)
from benchmarks.recording import Recorded, RecordingJob, quantile, runs_text
from hexalchemy.ports import Signal, SignalKind
from hexalchemy.rules import time_ordered_uuid
from hexalchemy.rules.evidence_chain import EVIDENCE_HASH_VERSION
from hexalchemy.sqlalchemy import AgentTables, OutboxTables, agent_tables, outbox_tables

PREFIX: Final = "bench_agent"
OUTBOX_PREFIX: Final = "bench_agent_outbox"
STATES: Final = f"{PREFIX}_states"
SEQUENCES: Final = f"{PREFIX}_sequences"
SIGNALS: Final = f"{PREFIX}_signals"
EVIDENCE: Final = f"{PREFIX}_evidence"
MESSAGES: Final = f"{OUTBOX_PREFIX}_messages"
_ALL_TABLES: Final = (
    STATES,
    SEQUENCES,
    SIGNALS,
    EVIDENCE,
    MESSAGES,
    f"{OUTBOX_PREFIX}_sequences",
    f"{OUTBOX_PREFIX}_dead_letters",
)
DROP_SQL: Final = (
    f"DROP TABLE IF EXISTS {', '.join(_ALL_TABLES)} CASCADE; DROP FUNCTION IF EXISTS {EVIDENCE}_append_only()"
)

HEXALCHEMY_AGENT: Final = "bench-agent-hexalchemy"
RAW_AGENT: Final = "bench-agent-raw"
AGENT_TYPE: Final = "bench"
SEEDED_KINDS: Final = (SignalKind.USER_MESSAGE, SignalKind.STEERING_INSTRUCTION, SignalKind.APPROVAL_DECISION)
"""The kinds of the seeded signals, in turn."""
ACCEPTED_KINDS: Final = (
    SignalKind.USER_MESSAGE,
    SignalKind.APPROVAL_DECISION,
    SignalKind.STEERING_INSTRUCTION,
    SignalKind.PAUSE,
    SignalKind.RESUME,
    SignalKind.CANCEL,
)
"""What a runner accepts at its safe point (every seeded kind, so it always takes a full prefix)."""
ACCEPTED_VALUES: Final = sorted(kind.value for kind in ACCEPTED_KINDS)

SIGNAL_COLUMNS: Final = (
    "id",
    "agent_id",
    "sequence",
    "kind",
    "payload",
    "idempotency_key",
    "sent_at",
    "consumed_at",
)
"""The signal columns the raw SQL returns, in this order (checked against the tables)."""


# ------------------------------------------------------------------------------ tables
@attrs.frozen
class BenchTables:
    """The agent tables and the outbox the boundary writes to."""

    agents: AgentTables
    outbox: OutboxTables

    @property
    def tables(self) -> list[Table]:
        """Every table, for ``create_all``."""
        a, o = self.agents, self.outbox
        return [a.states, a.sequences, a.signals, a.evidence, o.messages, o.sequences, o.dead_letters]


def _define(metadata: MetaData) -> BenchTables:
    tables = BenchTables(agent_tables(metadata, prefix=PREFIX), outbox_tables(metadata, prefix=OUTBOX_PREFIX))
    names = {column.name for column in tables.agents.signals.columns}
    missing = set(SIGNAL_COLUMNS) - names
    if missing:
        raise AssertionError(f"the signal table has no columns {sorted(missing)}; update the raw SQL")
    return tables


_sync_tables: weakref.WeakKeyDictionary[SyncSides, BenchTables] = weakref.WeakKeyDictionary()


def prepare_tables(sides: SyncSides) -> BenchTables:
    """Drop any old agent tables, create them (defined on the sides' schema), give them a history and ANALYZE."""
    tables = _sync_tables.get(sides)
    if tables is None:
        tables = _define(sides.schema.metadata)
        _sync_tables[sides] = tables
    sides.raw.execute(DROP_SQL)
    sides.schema.metadata.create_all(sides.engine, tables=tables.tables)
    with sides.raw.cursor() as cursor:
        for sql, rows in _history():
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        cursor.execute(ANALYZE_SQL)
    return tables


async def prepare_tables_async(sides: AsyncSides) -> BenchTables:
    """The async twin of :func:`prepare_tables` (on a fresh ``MetaData``); the job drops the tables afterwards."""
    metadata = MetaData()
    tables = _define(metadata)
    await sides.raw.execute(DROP_SQL)
    async with sides.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    async with sides.raw.cursor() as cursor:
        for sql, rows in _history():
            async with cursor.copy(sql) as copy:
                for row in rows:
                    await copy.write_row(row)
        await cursor.execute(ANALYZE_SQL)
    return tables


# ------------------------------------------------------------------------------ history
HISTORY_AGENTS: Final = 100
"""Earlier agents in the tables before a job starts (completed, so never resume candidates)."""
HISTORY_EVIDENCE: Final = 100
"""Evidence entries of each earlier agent."""
HISTORY_SIGNALS: Final = 20
"""Consumed signals of each earlier agent."""
ANALYZE_SQL: Final = f"ANALYZE {STATES}, {SEQUENCES}, {SIGNALS}, {EVIDENCE}, {MESSAGES}"
"""What autovacuum would run on a deployed server; the test server runs without it."""
_HISTORY_COPY: Final = (
    f"COPY {STATES} (id, agent_type, status, metadata, created_at, updated_at, version) FROM STDIN",
    f"COPY {SEQUENCES} (agent_id, signal_sequence, evidence_sequence, evidence_head) FROM STDIN",
    f"COPY {SIGNALS} (id, agent_id, sequence, kind, payload, sent_at, consumed_at) FROM STDIN",
    f"COPY {EVIDENCE} (id, agent_id, sequence, kind, payload, sensitive_fields, created_at, "
    "previous_hash, hash) FROM STDIN",
)


def _history() -> list[tuple[LiteralString, list[tuple[Any, ...]]]]:
    """The COPY statements and rows of the tables' history: :data:`HISTORY_AGENTS` completed agents.

    A deployed store is not empty: every job starts on tables that already hold
    10,000 chained evidence entries and 2,000 consumed signals, and that have been
    analyzed, so that the server plans the statements for tables of that size, as it would
    once autovacuum had analyzed them. (On empty tables that are never analyzed, a
    statement prepared while they were empty keeps a plan made for an empty table.)
    """
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    states, sequences, signals, evidence = [], [], [], []
    for number in range(HISTORY_AGENTS):
        agent_id = f"bench-agent-history-{number}"
        states.append((agent_id, AGENT_TYPE, "completed", "{}", at, at, HISTORY_EVIDENCE))
        for sequence in range(1, HISTORY_SIGNALS + 1):
            kind = SEEDED_KINDS[sequence % len(SEEDED_KINDS)].value
            signals.append((uuid.uuid4(), agent_id, sequence, kind, '{"text": "done"}', at, at))
        previous: str | None = None
        for sequence in range(1, HISTORY_EVIDENCE + 1):
            id, payload = uuid.uuid4(), {"step": sequence}
            hash = raw_evidence_hash(id, agent_id, sequence, "tool_call", payload, at, previous)
            evidence.append(
                (id, agent_id, sequence, "tool_call", json.dumps(payload), "[]", at, previous, hash)
            )
            previous = hash
        sequences.append((agent_id, HISTORY_SIGNALS, HISTORY_EVIDENCE, previous))
    return list(zip(_HISTORY_COPY, (states, sequences, signals, evidence), strict=True))


def drop_tables(raw: RawConnection) -> None:
    """Drop the agent and outbox tables of these jobs, and the evidence trigger function."""
    raw.execute(DROP_SQL)


# -------------------------------------------------------------------------- seeded signals
NUMBER_SIGNALS_SQL: Final = (
    f"INSERT INTO {SEQUENCES} (agent_id, signal_sequence, evidence_sequence, evidence_head) "
    f"VALUES (%s, %s, 0, NULL) ON CONFLICT (agent_id) DO UPDATE "
    f"SET signal_sequence = {SEQUENCES}.signal_sequence + excluded.signal_sequence "
    f"RETURNING signal_sequence"
)
"""Take ``n`` signal numbers for an agent (and its sequences row lock); used by the raw sides too."""
_SIGNAL_COPY: Final = f"COPY {SIGNALS} (id, agent_id, sequence, kind, payload, sent_at) FROM STDIN"
_PENDING_SQL: Final = f"SELECT count(*) FROM {SIGNALS} WHERE agent_id = %s AND consumed_at IS NULL"


def _seed_rows(agent_id: str, last: int, count: int) -> list[tuple[Any, ...]]:
    sent_at = dt.datetime.now(dt.UTC)
    first = last - count + 1
    return [
        (
            time_ordered_uuid(sent_at),
            agent_id,
            sequence,
            SEEDED_KINDS[sequence % len(SEEDED_KINDS)].value,
            json.dumps({"text": f"message {sequence}"}),
            sent_at,
        )
        for sequence in range(first, last + 1)
    ]


def seed_signals(raw: RawConnection, agent_id: str, count: int) -> None:
    """Send ``count`` pending signals to the agent, numbered after its last one, by COPY; untimed."""
    with raw.transaction(), raw.cursor() as cursor:
        row = cursor.execute(NUMBER_SIGNALS_SQL, (agent_id, count)).fetchone()
        assert row is not None
        with cursor.copy(_SIGNAL_COPY) as copy:
            for values in _seed_rows(agent_id, row[0], count):
                copy.write_row(values)


async def seed_signals_async(raw: AsyncRawConnection, agent_id: str, count: int) -> None:
    """The async twin of :func:`seed_signals`."""
    async with raw.transaction(), raw.cursor() as cursor:
        await cursor.execute(NUMBER_SIGNALS_SQL, (agent_id, count))
        row = await cursor.fetchone()
        assert row is not None
        async with cursor.copy(_SIGNAL_COPY) as copy:
            for values in _seed_rows(agent_id, row[0], count):
                await copy.write_row(values)


def pending(raw: RawConnection, agent_id: str) -> int:
    """How many of the agent's signals are pending."""
    row = raw.execute(_PENDING_SQL, (agent_id,)).fetchone()
    return int(row[0]) if row is not None else -1


async def pending_async(raw: AsyncRawConnection, agent_id: str) -> int:
    """The async twin of :func:`pending`."""
    row = await (await raw.execute(_PENDING_SQL, (agent_id,))).fetchone()
    return int(row[0]) if row is not None else -1


# ------------------------------------------------------------------------------ raw SQL
RAW_CONSUME_SQL: Final = (
    f"WITH pending AS MATERIALIZED ("
    f"SELECT id, sequence, CASE WHEN kind = ANY(%(kinds)s) THEN 1 ELSE 0 END AS accepted "
    f"FROM {SIGNALS} WHERE agent_id = %(agent)s AND consumed_at IS NULL "
    f"ORDER BY sequence LIMIT %(maximum)s FOR UPDATE), "
    f"prefix AS (SELECT id, min(accepted) OVER (ORDER BY sequence) AS in_prefix FROM pending) "
    f"UPDATE {SIGNALS} AS s SET consumed_at = %(now)s FROM prefix "
    f"WHERE s.id = prefix.id AND prefix.in_prefix = 1 "
    f"RETURNING {', '.join('s.' + column for column in SIGNAL_COLUMNS)}"
)
"""The raw consume: the same one statement as the queue's (lock the first pending signals in
order, keep the accepted prefix, mark it consumed), written by hand."""


def raw_consume_parameters(agent_id: str, maximum: int) -> dict[str, Any]:
    """The parameters of :data:`RAW_CONSUME_SQL`."""
    return {"kinds": ACCEPTED_VALUES, "agent": agent_id, "maximum": maximum, "now": dt.datetime.now(dt.UTC)}


def signals_from_rows(rows: Sequence[Sequence[Any]]) -> list[Signal]:
    """What a hand-written consumer does with the rows of :data:`RAW_CONSUME_SQL`: objects, in queue order."""
    signals = [
        Signal(
            id=r[0],
            agent_id=r[1],
            sequence=r[2],
            kind=SignalKind(r[3]),
            payload=r[4],
            idempotency_key=r[5],
            sent_at=r[6],
            consumed_at=r[7],
        )
        for r in rows
    ]
    signals.sort(key=lambda signal: signal.sequence)
    return signals


def raw_evidence_hash(
    id: uuid.UUID,
    agent_id: str,
    sequence: int,
    kind: str,
    payload: Any,
    created_at: dt.datetime,
    previous_hash: str | None,
) -> str:
    """The entry's chain hash, computed by hand: the same canonical JSON as ``evidence_hash``.

    The raw side writes a chain that ``EvidenceLog.verify`` accepts (the jobs check it).
    """
    document = {
        "v": EVIDENCE_HASH_VERSION,
        "id": str(id),
        "agent_id": agent_id,
        "sequence": sequence,
        "kind": kind,
        "payload": payload,
        "summary": None,
        "digest": None,
        "manifest_ref": None,
        "reference": None,
        "sensitive_fields": [],
        "created_at": created_at.isoformat(timespec="microseconds"),
        "previous_hash": previous_hash,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def json_param(value: Any) -> Json:
    """A JSON parameter for psycopg."""
    return Json(value)


# ------------------------------------------------------------------------------ the job
Result = Recorded["AgentJob"]
"""One measured agent job."""

_results: list[Result] = []


@attrs.frozen
class AgentJob(RecordingJob):
    """A :class:`~benchmarks.job.Job` that owns the agent tables and reports to :func:`report`.

    ``boundary`` marks the boundary job (latency with p50/p99 and an absolute target of
    ``maximum_p50`` seconds); the others are signal throughputs. ``warmup`` caps the
    warm-up runs per side.
    """

    boundary: bool = False
    maximum_p50: float | None = None

    def keep(self, result: Recorded[RecordingJob]) -> None:
        """Keep ``result`` for :func:`report`."""
        _results.append(cast(Result, result))

    def clean_up_sync(self, sides: SyncSides) -> None:
        """Drop the agent tables."""
        drop_tables(sides.raw)

    async def clean_up_async(self, url: str | None) -> None:
        """Drop the agent tables (the plain job has closed its sides)."""
        _drop_by_url(url or default_url())


def _drop_by_url(url: str) -> None:
    with psycopg.connect(conninfo_for(url), autocommit=True) as connection:
        drop_tables(connection)


# ------------------------------------------------------------------------------ the report
def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _boundary_table(results: Sequence[Result]) -> str:
    lines = [
        "| sync/async | hexalchemy p50 | hexalchemy p99 | raw p50 | raw p99 | p50 ratio "
        "| paired ratio (IQR) | p50 <= 2 ms? | client CPU hexalchemy / raw |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for result in results:
        m = result.measurement
        hexalchemy, raw = result.latencies("hexalchemy"), result.latencies("raw")
        if not hexalchemy or not raw:
            continue
        p50, raw_p50 = statistics.median(hexalchemy), statistics.median(raw)
        low, high = m.spread
        hexalchemy_cpu, raw_cpu = m.cpu_per_unit
        limit = result.job.maximum_p50
        met = "-" if limit is None else "yes" if p50 <= limit else "**no**"
        lines.append(
            f"| {m.mode} | {_ms(p50)} | {_ms(quantile(hexalchemy, 0.99))} | {_ms(raw_p50)} "
            f"| {_ms(quantile(raw, 0.99))} | {p50 / raw_p50:.2f}x | {m.ratio:.2f}x ({low:.2f}-{high:.2f}x) "
            f"| {met} | {hexalchemy_cpu:,.0f} / {raw_cpu:,.0f} µs |"
        )
    return "\n".join(lines)


def _signals_table(results: Sequence[Result]) -> str:
    lines = [
        "| operation | sync/async | hexalchemy | raw psycopg 3 | ratio | ratio IQR | client CPU hexalchemy / raw |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        m = result.measurement
        low, high = m.spread
        hexalchemy_cpu, raw_cpu = m.cpu_per_unit
        lines.append(
            f"| {m.operation} | {m.mode} | {m.hexalchemy_value:,.0f} signals/s | {m.raw_value:,.0f} signals/s "
            f"| {m.ratio:.2f}x | {low:.2f}-{high:.2f}x | {hexalchemy_cpu:.0f} / {raw_cpu:.0f} µs/signal |"
        )
    return "\n".join(lines)


def report() -> str:
    """The agent jobs' own tables, as markdown ("" when none ran)."""
    boundaries = [result for result in _results if result.job.boundary]
    signals = [result for result in _results if not result.job.boundary]
    parts = []
    if boundaries:
        count = sum(len(runs) for runs in boundaries[0].recorder.hexalchemy[boundaries[0].warmup :])
        parts.append(
            f"Agent action boundary ({runs_text(boundaries, 'boundaries')}, alternating; each boundary timed "
            f"from BEGIN to COMMIT included; p50 and p99 over the {count:,} timed boundaries of each side; "
            "paired ratio = median over the pairs of runs of hexalchemy/raw; CPU = this process, "
            "per boundary):\n\n" + _boundary_table(boundaries)
        )
    if signals:
        parts.append(
            f"Agent signal queue throughput ({runs_text(signals, 'signals')}, alternating; signals/s are "
            "medians, ratio = median of the paired hexalchemy/raw ratios):\n\n" + _signals_table(signals)
        )
    return "\n\n".join(parts)
