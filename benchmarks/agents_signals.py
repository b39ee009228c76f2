"""Signal queue throughput: send signals in transactions of 1 and of 100, and consume a queue until empty.

- send: :data:`SIGNALS` signals (a small JSON payload, no idempotency key) sent to one
  agent, ``per_transaction`` of them in each transaction, each transaction timed from
  ``BEGIN`` to ``COMMIT``. hexalchemy: ``queue.send(new_signal(agent, kind, payload))``;
  each send is two statements (the sequence upsert, which locks the agent's counters until
  commit, and ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``). Raw psycopg 3: the same
  two statements per signal by hand, with a ``uuid4`` id and no validation.
- consume: :data:`SIGNALS` pending signals (seeded by COPY, untimed) consumed with
  ``maximum=100``, one transaction per call, until a call returns none (so 11 transactions
  for 1,000 signals). hexalchemy: ``queue.consume(agent, kinds, maximum=100)``; raw: the
  same one statement by hand (``benchmarks.agents_support.RAW_CONSUME_SQL``), building
  ``Signal`` objects from the rows.

Every run starts from empty signal and sequence tables (truncated, untimed); each side has
its own agent. Values are signals per second. The brief set no target for the ratios; the
common table checks them against 0.7x, a reference line, not a requirement.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any, Final, Literal

from benchmarks.agents_support import (
    ACCEPTED_KINDS,
    HEXALCHEMY_AGENT,
    NUMBER_SIGNALS_SQL,
    RAW_AGENT,
    RAW_CONSUME_SQL,
    SEQUENCES,
    SIGNALS,
    AgentJob,
    json_param,
    pending,
    pending_async,
    prepare_tables,
    prepare_tables_async,
    raw_consume_parameters,
    seed_signals,
    seed_signals_async,
    signals_from_rows,
)
from benchmarks.databases import AsyncRawConnection, AsyncSides, SyncSides
from benchmarks.harness import QUICK, TINY, Lap, Settings, timed
from benchmarks.job import AsyncRunners, Runners
from hexalchemy.ports import AgentStatus, SignalKind
from hexalchemy.rules import new_agent_state, new_signal
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemySignalQueue,
    SqlAlchemyAgentStateStore,
    SqlAlchemySignalQueue,
)

Operation = Literal["send", "consume"]

SIGNALS_PER_RUN: Final = 1_000
QUICK_SIGNALS: Final = 200
MAXIMUM: Final = 100
"""``maximum`` of every consume call."""
RUNS: Final = 5
"""Timed runs per side (``--quick``: 3)."""
REFERENCE_RATIO: Final = 0.7
KIND: Final = SignalKind.USER_MESSAGE

_TRUNCATE: Final = f"TRUNCATE {SIGNALS}, {SEQUENCES}"
_COUNT_SQL: Final = f"SELECT count(*), coalesce(max(sequence), 0) FROM {SIGNALS} WHERE agent_id = %s"
RAW_SEND_SQL: Final = (
    f"INSERT INTO {SIGNALS} (id, agent_id, sequence, kind, payload, sent_at) "
    f"VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id"
)


def _signals(settings: Settings) -> int:
    if settings == TINY:
        return MAXIMUM  # one consume, one send transaction of 100
    return QUICK_SIGNALS if settings.repetitions <= QUICK.repetitions else SIGNALS_PER_RUN


def _payloads(count: int) -> list[dict[str, Any]]:
    return [{"text": f"please also look at item {index}", "from": "user-7"} for index in range(count)]


def _chunks(payloads: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [payloads[start : start + size] for start in range(0, len(payloads), size)]


def _check_sent(side: str, found: tuple[Any, ...] | None, count: int) -> None:
    if found != (count, count):
        raise AssertionError(f"{side}: (signals, last sequence) = {found}, expected ({count}, {count})")


def _check_consumed(side: str, consumed: int, count: int, left: int) -> None:
    if consumed != count or left != 0:
        raise AssertionError(f"{side}: consumed {consumed} of {count} signals, {left} left pending")


# ----------------------------------------------------------------------------- sync runners
def _sync_setup(sides: SyncSides) -> SqlAlchemySignalQueue:
    tables = prepare_tables(sides)
    states = SqlAlchemyAgentStateStore(tables.agents, sides.transactions)
    with sides.transactions.begin():
        for agent in (HEXALCHEMY_AGENT, RAW_AGENT):
            states.save(new_agent_state(agent, "bench", status=AgentStatus.ACTIVE))
    return SqlAlchemySignalQueue(tables.agents, sides.transactions)


def send_runners(per_transaction: int, sides: SyncSides, settings: Settings) -> Runners:
    queue = _sync_setup(sides)
    transactions, raw = sides.transactions, sides.raw
    chunks = _chunks(_payloads(_signals(settings)), per_transaction)
    count = _signals(settings)
    cursor = raw.cursor()

    def hexalchemy() -> Lap:
        agent = HEXALCHEMY_AGENT
        raw.execute(_TRUNCATE)
        with timed() as lap:
            for chunk in chunks:
                with transactions.begin():
                    for payload in chunk:
                        queue.send(new_signal(agent, KIND, payload))
        _check_sent("hexalchemy", raw.execute(_COUNT_SQL, (agent,)).fetchone(), count)
        return lap

    def raw_psycopg() -> Lap:
        agent = RAW_AGENT
        raw.execute(_TRUNCATE)
        with timed() as lap:
            for chunk in chunks:
                with raw.transaction():
                    for payload in chunk:
                        row = cursor.execute(NUMBER_SIGNALS_SQL, (agent, 1)).fetchone()
                        assert row is not None
                        now = dt.datetime.now(dt.UTC)
                        values = (uuid.uuid4(), agent, row[0], KIND.value, json_param(payload), now)
                        if cursor.execute(RAW_SEND_SQL, values).fetchone() is None:
                            raise AssertionError("raw: a signal was not inserted")
        _check_sent("raw", raw.execute(_COUNT_SQL, (agent,)).fetchone(), count)
        return lap

    return Runners(hexalchemy, raw_psycopg)


def consume_runners(sides: SyncSides, settings: Settings) -> Runners:
    queue = _sync_setup(sides)
    transactions, raw = sides.transactions, sides.raw
    count = _signals(settings)
    cursor = raw.cursor()

    def seed(agent: str) -> None:
        raw.execute(_TRUNCATE)
        seed_signals(raw, agent, count)
        raw.execute(f"ANALYZE {SIGNALS}")

    def hexalchemy() -> Lap:
        agent = HEXALCHEMY_AGENT
        seed(agent)
        consumed = 0
        with timed() as lap:
            while True:
                with transactions.begin():
                    signals = queue.consume(agent, ACCEPTED_KINDS, maximum=MAXIMUM)
                if not signals:
                    break
                consumed += len(signals)
        _check_consumed("hexalchemy", consumed, count, pending(raw, agent))
        return lap

    def raw_psycopg() -> Lap:
        agent = RAW_AGENT
        seed(agent)
        consumed = 0
        with timed() as lap:
            while True:
                with raw.transaction():
                    cursor.execute(RAW_CONSUME_SQL, raw_consume_parameters(agent, MAXIMUM))
                    signals = signals_from_rows(cursor.fetchall())
                if not signals:
                    break
                consumed += len(signals)
        _check_consumed("raw", consumed, count, pending(raw, agent))
        return lap

    return Runners(hexalchemy, raw_psycopg)


# ---------------------------------------------------------------------------- async runners
async def _async_setup(sides: AsyncSides) -> AsyncSqlAlchemySignalQueue:
    tables = await prepare_tables_async(sides)
    states = AsyncSqlAlchemyAgentStateStore(tables.agents, sides.transactions)
    async with sides.transactions.begin():
        for agent in (HEXALCHEMY_AGENT, RAW_AGENT):
            await states.save(new_agent_state(agent, "bench", status=AgentStatus.ACTIVE))
    return AsyncSqlAlchemySignalQueue(tables.agents, sides.transactions)


async def _count_async(raw: AsyncRawConnection, agent: str) -> tuple[Any, ...] | None:
    return await (await raw.execute(_COUNT_SQL, (agent,))).fetchone()


async def send_runners_async(per_transaction: int, sides: AsyncSides, settings: Settings) -> AsyncRunners:
    queue = await _async_setup(sides)
    transactions, raw = sides.transactions, sides.raw
    chunks = _chunks(_payloads(_signals(settings)), per_transaction)
    count = _signals(settings)
    cursor = raw.cursor()

    async def hexalchemy() -> Lap:
        agent = HEXALCHEMY_AGENT
        await raw.execute(_TRUNCATE)
        with timed() as lap:
            for chunk in chunks:
                async with transactions.begin():
                    for payload in chunk:
                        await queue.send(new_signal(agent, KIND, payload))
        _check_sent("hexalchemy", await _count_async(raw, agent), count)
        return lap

    async def raw_psycopg() -> Lap:
        agent = RAW_AGENT
        await raw.execute(_TRUNCATE)
        with timed() as lap:
            for chunk in chunks:
                async with raw.transaction():
                    for payload in chunk:
                        await cursor.execute(NUMBER_SIGNALS_SQL, (agent, 1))
                        row = await cursor.fetchone()
                        assert row is not None
                        now = dt.datetime.now(dt.UTC)
                        await cursor.execute(
                            RAW_SEND_SQL, (uuid.uuid4(), agent, row[0], KIND.value, json_param(payload), now)
                        )
                        if await cursor.fetchone() is None:
                            raise AssertionError("raw: a signal was not inserted")
        _check_sent("raw", await _count_async(raw, agent), count)
        return lap

    return AsyncRunners(hexalchemy, raw_psycopg)


async def consume_runners_async(sides: AsyncSides, settings: Settings) -> AsyncRunners:
    queue = await _async_setup(sides)
    transactions, raw = sides.transactions, sides.raw
    count = _signals(settings)
    cursor = raw.cursor()

    async def seed(agent: str) -> None:
        await raw.execute(_TRUNCATE)
        await seed_signals_async(raw, agent, count)
        await raw.execute(f"ANALYZE {SIGNALS}")

    async def hexalchemy() -> Lap:
        agent = HEXALCHEMY_AGENT
        await seed(agent)
        consumed = 0
        with timed() as lap:
            while True:
                async with transactions.begin():
                    signals = await queue.consume(agent, ACCEPTED_KINDS, maximum=MAXIMUM)
                if not signals:
                    break
                consumed += len(signals)
        _check_consumed("hexalchemy", consumed, count, await pending_async(raw, agent))
        return lap

    async def raw_psycopg() -> Lap:
        agent = RAW_AGENT
        await seed(agent)
        consumed = 0
        with timed() as lap:
            while True:
                async with raw.transaction():
                    await cursor.execute(RAW_CONSUME_SQL, raw_consume_parameters(agent, MAXIMUM))
                    signals = signals_from_rows(await cursor.fetchall())
                if not signals:
                    break
                consumed += len(signals)
        _check_consumed("raw", consumed, count, await pending_async(raw, agent))
        return lap

    return AsyncRunners(hexalchemy, raw_psycopg)


# ------------------------------------------------------------------------------ the jobs
def _send_job(per_transaction: int) -> AgentJob:
    return AgentJob(
        name=f"agent signals: send, {per_transaction} per transaction",
        key="agents_signals",
        kind="throughput",
        target=REFERENCE_RATIO,
        work=_signals,
        repetitions=lambda settings: min(settings.repetitions, RUNS),
        sync=functools.partial(send_runners, per_transaction),
        async_=functools.partial(send_runners_async, per_transaction),
    )


JOBS: Final = (
    _send_job(1),
    _send_job(100),
    AgentJob(
        name=f"agent signals: consume, maximum {MAXIMUM}",
        key="agents_signals",
        kind="throughput",
        target=REFERENCE_RATIO,
        work=_signals,
        repetitions=lambda settings: min(settings.repetitions, RUNS),
        sync=consume_runners,
        async_=consume_runners_async,
    ),
)
