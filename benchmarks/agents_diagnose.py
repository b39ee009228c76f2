"""Where an agent boundary's time goes: each step of it timed, hexalchemy and raw, sync.

``python -m benchmarks.agents_diagnose [--boundaries 500] [--url URL]``

Runs the boundary of ``benchmarks/agents_boundary.py`` (same tables, agents, steps and raw
SQL), one hexalchemy and one raw boundary in turn, and times each step of it separately:
``BEGIN`` + the state save (psycopg sends hexalchemy's ``BEGIN`` with its first statement),
the consume, the evidence append, the outbox message, and the ``COMMIT``. Prints the p50
of the wall and CPU time of every step, and how many statements each side sent (counted
with SQLAlchemy's ``before_cursor_execute`` event for hexalchemy; an ``executemany`` counts
once there, although psycopg sends it as a pipeline). Each side takes a fresh agent every
50 boundaries, as the job takes one per run, and its signals are sent by COPY (untimed).
The tables are dropped at the end.

References follow, to tell the machine's floor from the library's cost: the p50 of a
``SELECT 1`` round trip and of ``BEGIN; UPDATE one row; COMMIT`` (the commit's WAL flush),
and the raw boundary without the step timers, sent two ways in turn: one statement after
the other (8 round trips, as in the job) and in psycopg's pipeline mode (``BEGIN``, the
save, the consume and the sequence upsert in one round trip, then the evidence, the head,
the outbox message and ``COMMIT`` in a second one: the hashes need the head the upsert
returns).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from sqlalchemy import event

from benchmarks.agents_boundary import (
    HEADERS,
    RAW_EVIDENCE_SQL,
    RAW_HEAD_SQL,
    RAW_NUMBER_EVIDENCE_SQL,
    RAW_OUTBOX_SQL,
    RAW_SAVE_SQL,
    SIGNALS_PER_BOUNDARY,
    TOPIC,
    Step,
    _create_and_claim,
    _evidence,
    make_steps,
    raw_evidence_parameters,
    raw_outbox_parameters,
    raw_save_parameters,
    raw_saved,
)
from benchmarks.agents_support import (
    ACCEPTED_KINDS,
    HEXALCHEMY_AGENT,
    RAW_AGENT,
    RAW_CONSUME_SQL,
    drop_tables,
    prepare_tables,
    raw_consume_parameters,
    seed_signals,
    signals_from_rows,
)
from benchmarks.databases import RawConnection, SyncSides, default_url
from hexalchemy.ports import AgentState, RunnerLease, Signal
from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import (
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemyOutboxWriter,
    SqlAlchemySignalQueue,
)

RENEW = 50
"""Boundaries per agent (the job's boundaries per run)."""
STEPS = ("BEGIN + save", "consume 3", "append 2 evidence", "outbox message", "COMMIT")


@attrs.define
class Clock:
    """Wall and CPU seconds of each step of every boundary of one side."""

    wall: dict[str, list[float]] = attrs.field(factory=lambda: {step: [] for step in STEPS})
    cpu: dict[str, list[float]] = attrs.field(factory=lambda: {step: [] for step in STEPS})
    total: list[float] = attrs.field(factory=list)
    _last: tuple[float, float] = (0.0, 0.0)
    _start: float = 0.0

    def start(self) -> None:
        """Start a boundary."""
        self._last = (time.perf_counter(), time.process_time())
        self._start = self._last[0]

    def lap(self, step: str) -> None:
        """End ``step``."""
        now = (time.perf_counter(), time.process_time())
        self.wall[step].append(now[0] - self._last[0])
        self.cpu[step].append(now[1] - self._last[1])
        self._last = now

    def end(self) -> None:
        """End the boundary."""
        self.total.append(self._last[0] - self._start)


def _median_us(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1e6:,.0f}"


def _p50_us(run: Callable[[int], object], count: int) -> str:
    seconds = []
    for index in range(count):
        start = time.perf_counter()
        run(index)
        seconds.append(time.perf_counter() - start)
    return _median_us(seconds)


@attrs.define
class Held:
    """One side's current agent: a fresh one every :data:`RENEW` boundaries (as the job does per run)."""

    prefix: str
    start: Callable[[str], RunnerLease]
    count: int = 0
    lease: RunnerLease | None = None
    state: AgentState | None = None

    def at(self, index: int) -> tuple[RunnerLease, AgentState]:
        """The lease and state for boundary ``index``; untimed when a new agent is due."""
        if self.lease is None or self.state is None or index % RENEW == 0:
            self.count += 1
            self.lease = self.start(f"{self.prefix}-{self.count}")
            self.state = self.lease.state
        return self.lease, self.state


def _references(raw: RawConnection, count: int, steps: Sequence[Step], held: tuple[Held, Held]) -> None:
    """The machine's round trip and commit, and the raw boundary in two round trips (pipeline mode)."""
    raw.execute("CREATE TEMPORARY TABLE bench_agent_probe (id int PRIMARY KEY, n int)")
    raw.execute("INSERT INTO bench_agent_probe VALUES (1, 0)")

    def write(index: int) -> None:
        with raw.transaction():
            raw.execute("UPDATE bench_agent_probe SET n = %s WHERE id = 1", (index,))

    round_trip = _p50_us(lambda _: raw.execute("SELECT 1").fetchone(), count)
    committed = _p50_us(write, count)
    cursor = raw.cursor()

    def sequential(step: Step, lease: RunnerLease, state: AgentState, now: dt.datetime) -> list[Signal]:
        agent = lease.agent_id
        with raw.transaction():
            if cursor.execute(RAW_SAVE_SQL, raw_save_parameters(state, lease, step, now)).fetchone() is None:
                raise AssertionError("raw: the version or the lease did not match")
            cursor.execute(RAW_CONSUME_SQL, raw_consume_parameters(agent, SIGNALS_PER_BOUNDARY))
            consumed = signals_from_rows(cursor.fetchall())
            last, previous = cursor.execute(RAW_NUMBER_EVIDENCE_SQL, (agent, 2)).fetchone() or (0, None)
            parameters, head = raw_evidence_parameters(agent, last, previous, step, now)
            cursor.execute(RAW_EVIDENCE_SQL, parameters)
            cursor.execute(RAW_HEAD_SQL, (head, agent))
            cursor.execute(RAW_OUTBOX_SQL, raw_outbox_parameters(step, now)).fetchone()
        return consumed

    def pipelined(step: Step, lease: RunnerLease, state: AgentState, now: dt.datetime) -> list[Signal]:
        agent = lease.agent_id
        with raw.pipeline(), raw.transaction():
            save, consume, number, other = (raw.cursor() for _ in range(4))
            save.execute(RAW_SAVE_SQL, raw_save_parameters(state, lease, step, now))
            consume.execute(RAW_CONSUME_SQL, raw_consume_parameters(agent, SIGNALS_PER_BOUNDARY))
            number.execute(RAW_NUMBER_EVIDENCE_SQL, (agent, 2))
            last, previous = number.fetchone() or (0, None)
            if save.fetchone() is None:
                raise AssertionError("raw: the version or the lease did not match")
            consumed = signals_from_rows(consume.fetchall())
            parameters, head = raw_evidence_parameters(agent, last, previous, step, now)
            other.execute(RAW_EVIDENCE_SQL, parameters)
            other.execute(RAW_HEAD_SQL, (head, agent))
            other.execute(RAW_OUTBOX_SQL, raw_outbox_parameters(step, now))
        return consumed

    ways = {"sequential": (sequential, held[0]), "pipelined": (pipelined, held[1])}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for index, step in enumerate(steps):
        order = list(ways.items()) if index % 2 else list(reversed(ways.items()))
        for name, (boundary, side) in order:
            lease, state = side.at(index)
            begun = time.perf_counter()
            now = dt.datetime.now(dt.UTC)
            consumed = boundary(step, lease, state, now)
            seconds[name].append(time.perf_counter() - begun)
            side.state = raw_saved(state, step, now)
            assert len(consumed) == SIGNALS_PER_BOUNDARY
    print(
        f"\nreferences, p50 in µs: SELECT 1 round trip {round_trip}; BEGIN + UPDATE + COMMIT {committed}; "
        f"the raw boundary without step timers {_median_us(seconds['sequential'])} (8 round trips), "
        f"pipelined {_median_us(seconds['pipelined'])} (2 round trips), interleaved"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.agents_diagnose", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--boundaries", type=int, default=500)
    parser.add_argument("--url", default=default_url())
    arguments = parser.parse_args(argv)
    count: int = arguments.boundaries
    sides = SyncSides(arguments.url)
    try:
        tables = prepare_tables(sides)
        transactions, raw = sides.transactions, sides.raw
        states = SqlAlchemyAgentStateStore(tables.agents, transactions)
        queue = SqlAlchemySignalQueue(tables.agents, transactions)
        evidence = SqlAlchemyEvidenceLog(tables.agents, transactions)
        writer = SqlAlchemyOutboxWriter(tables.outbox, transactions)
        warm_up = 20
        steps = make_steps(count + warm_up)
        counting = [False]
        statements: list[str] = []

        def start(agent: str) -> RunnerLease:
            lease = _create_and_claim(states, transactions, agent)
            seed_signals(raw, agent, SIGNALS_PER_BOUNDARY * RENEW)
            return lease

        def count_statement(*args: Any) -> None:
            if counting[0]:
                statements.append(args[2])

        event.listen(sides.engine, "before_cursor_execute", count_statement)
        cursor = raw.cursor()
        held = {"hexalchemy": Held(HEXALCHEMY_AGENT, start), "raw": Held(RAW_AGENT, start)}
        clocks = {"hexalchemy": Clock(), "raw": Clock()}

        def hexalchemy_boundary(index: int, clock: Clock) -> None:
            lease, state = held["hexalchemy"].at(index)
            step, agent = steps[index], lease.agent_id
            counting[0] = True
            clock.start()
            scope = transactions.begin()
            scope.__enter__()
            state = states.save_owned(
                attrs.evolve(state, current_activity=step.activity, metadata=step.metadata), lease
            )
            clock.lap("BEGIN + save")
            consumed = queue.consume(agent, ACCEPTED_KINDS, maximum=SIGNALS_PER_BOUNDARY)
            clock.lap("consume 3")
            evidence.append_all(_evidence(agent, step))
            clock.lap("append 2 evidence")
            writer.add(new_message(TOPIC, step.event, headers=HEADERS))
            clock.lap("outbox message")
            scope.__exit__(None, None, None)
            clock.lap("COMMIT")
            clock.end()
            counting[0] = False
            held["hexalchemy"].state = state
            assert len(consumed) == SIGNALS_PER_BOUNDARY

        def raw_boundary(index: int, clock: Clock) -> None:
            lease, state = held["raw"].at(index)
            step, agent = steps[index], lease.agent_id
            clock.start()
            now = dt.datetime.now(dt.UTC)
            scope = raw.transaction()
            scope.__enter__()
            if cursor.execute(RAW_SAVE_SQL, raw_save_parameters(state, lease, step, now)).fetchone() is None:
                raise AssertionError("raw: the version or the lease did not match")
            state = raw_saved(state, step, now)
            clock.lap("BEGIN + save")
            cursor.execute(RAW_CONSUME_SQL, raw_consume_parameters(agent, SIGNALS_PER_BOUNDARY))
            consumed = signals_from_rows(cursor.fetchall())
            clock.lap("consume 3")
            last, previous = cursor.execute(RAW_NUMBER_EVIDENCE_SQL, (agent, 2)).fetchone() or (0, None)
            parameters, head = raw_evidence_parameters(agent, last, previous, step, now)
            cursor.execute(RAW_EVIDENCE_SQL, parameters)
            cursor.execute(RAW_HEAD_SQL, (head, agent))
            clock.lap("append 2 evidence")
            cursor.execute(RAW_OUTBOX_SQL, raw_outbox_parameters(step, now)).fetchone()
            clock.lap("outbox message")
            scope.__exit__(None, None, None)
            clock.lap("COMMIT")
            clock.end()
            held["raw"].state = state
            assert len(consumed) == SIGNALS_PER_BOUNDARY

        runs: dict[str, Callable[[int, Clock], None]] = {
            "hexalchemy": hexalchemy_boundary,
            "raw": raw_boundary,
        }
        for index in range(warm_up):
            for run in runs.values():
                run(index, Clock())
        statements.clear()
        for index in range(warm_up, warm_up + count):
            order = list(runs.items()) if index % 2 else list(reversed(runs.items()))
            for side, run in order:
                run(index, clocks[side])
        event.remove(sides.engine, "before_cursor_execute", count_statement)
        print(f"{count:,} boundaries per side, interleaved; p50 per step in µs (wall / client CPU)\n")
        print("| step | hexalchemy wall | raw wall | hexalchemy CPU | raw CPU |")
        print("|---|---:|---:|---:|---:|")
        for step in STEPS:
            h, r = clocks["hexalchemy"], clocks["raw"]
            print(
                f"| {step} | {_median_us(h.wall[step])} | {_median_us(r.wall[step])} "
                f"| {_median_us(h.cpu[step])} | {_median_us(r.cpu[step])} |"
            )
        print(
            f"| whole boundary (p50) | {_median_us(clocks['hexalchemy'].total)} "
            f"| {_median_us(clocks['raw'].total)} | | |"
        )
        print(f"\nhexalchemy statements per boundary: {len(statements) / count:.1f} (+ BEGIN and COMMIT)")
        per_boundary = statements[: len(statements) // count]
        for statement in per_boundary:
            print("  " + " ".join(statement.split())[:100])
        print("raw statements per boundary: 6 (+ BEGIN and COMMIT)")
        _references(
            raw,
            count,
            steps[warm_up:],
            (Held(f"{RAW_AGENT}-sequential", start), Held(f"{RAW_AGENT}-pipelined", start)),
        )
    finally:
        drop_tables(sides.raw)
        sides.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
