"""Where the outbox relay's time goes: the lease protocol's own bound, the claim's SQL, and the Python layer.

``python -m benchmarks.outbox_diagnose [--batch 100 --batch 1000] [--messages 20000] [--runs 3] [--tiny]``

One relay (one connection), no-op publisher, the same pre-filled outbox as the ``outbox``
jobs. It drains the outbox five ways, in turn, and prints messages/s and client CPU:

1. raw claim-and-delete: the ``outbox`` jobs' baseline, one autocommit statement per batch;
2. raw lease loop, autocommit: a hand-written lease ``UPDATE ... RETURNING`` (token,
   expiry, attempts + 1), then ``DELETE ... WHERE id = ANY(%s) AND lease_token = %s``:
   the least any lease-then-acknowledge relay does (two writes of every row, two commits
   per batch);
3. the same inside ``BEGIN``/``COMMIT`` for each call, as the store runs them;
4. the same with the store's own claim statement (captured as the store sent it, see
   :func:`capture_claim`);
5. ``OutboxRelay`` over ``SqlAlchemyOutboxRelayStore``.

Then, per message, the wall and client CPU of the claim and of the acknowledgement, for
5 against 4: the difference is what the Python layer (SQLAlchemy Core, the store, the
relay) adds to the same SQL. Nothing here is part of ``make bench``. ``--tiny`` runs each
way once on 50 messages, in batches of 10: a smoke test (``tests/test_outbox_diagnose.py``),
no figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import attrs
import psycopg
from psycopg.abc import QueryNoTemplate
from sqlalchemy import event

from benchmarks.databases import RawConnection, SyncSides, conninfo_for, default_url
from benchmarks.outbox_relay import drain, raw_drain
from benchmarks.outbox_support import (
    MESSAGE_COLUMNS,
    MESSAGES,
    NoOpPublisher,
    Seed,
    count_messages,
    message_from_row,
    prepare_tables,
    url_of,
)
from hexalchemy.outbox import OutboxRelay
from hexalchemy.ports import AcknowledgeResult, DeliveryResult, Lease, OutboxMessage
from hexalchemy.ports.outbox import Publish
from hexalchemy.sqlalchemy import DatabaseConfig, SqlAlchemyOutboxRelayStore, create_engine
from hexalchemy.sqlalchemy.backend import FAST_PATHS_EXECUTION_OPTION
from hexalchemy.sqlalchemy.tracing import FastPathStatement, set_statement_hook

LEASE_CLAIM_SQL: Final = (
    f"UPDATE {MESSAGES} AS m SET lease_token = %s, available_at = now() + interval '30 s', "
    "lease_expires_at = now() + interval '30 s', attempts = m.attempts + 1 "
    f"FROM (SELECT id FROM {MESSAGES} WHERE available_at <= now() ORDER BY available_at, id "
    "LIMIT %s FOR UPDATE SKIP LOCKED) AS due "
    f"WHERE m.id = due.id RETURNING {', '.join('m.' + name for name in MESSAGE_COLUMNS)}"
)
PLACEHOLDER: Final = re.compile(r"%%|%\((\w+)\)s")
"""A named parameter in SQL compiled for psycopg (``%%``, a literal ``%``, matched to be kept)."""
ACKNOWLEDGE_SQL: Final = f"DELETE FROM {MESSAGES} WHERE id = ANY(%s) AND lease_token = %s RETURNING id"


@attrs.define
class Phases:
    """Wall and CPU seconds spent claiming and acknowledging."""

    claim_wall: float = 0.0
    claim_cpu: float = 0.0
    ack_wall: float = 0.0
    ack_cpu: float = 0.0


class TimedStore:
    """Wraps a relay store, adding up the time of its claims and acknowledgements."""

    def __init__(self, inner: SqlAlchemyOutboxRelayStore, phases: Phases) -> None:
        self.inner = inner
        self.phases = phases

    def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        wall, cpu = time.perf_counter(), time.process_time()
        lease = self.inner.claim(limit=limit, lease_for=lease_for)
        self.phases.claim_wall += time.perf_counter() - wall
        self.phases.claim_cpu += time.process_time() - cpu
        return lease

    def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        wall, cpu = time.perf_counter(), time.process_time()
        result = self.inner.acknowledge(lease, ids)
        self.phases.ack_wall += time.perf_counter() - wall
        self.phases.ack_cpu += time.process_time() - cpu
        return result

    def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        return self.inner.reject(lease, id, error, retry_after=retry_after)

    def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        return self.inner.dead_letter(lease, id, error)

    def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        return self.inner.release(lease, ids)

    def deliver(self, publish: Publish, /, *, limit: int) -> DeliveryResult:
        return self.inner.deliver(publish, limit=limit)


def capture_claim(
    store: SqlAlchemyOutboxRelayStore, seed: Seed, sides: SyncSides, batch: int
) -> tuple[bytes, tuple[Any, ...]]:
    """The SQL text (encoded, as psycopg sends it) and parameters of the store's claim, as the store sent them.

    On PostgreSQL with psycopg the store claims on the driver's cursor, below SQLAlchemy: its
    ``before_cursor_execute`` listeners never see the claim, which is reported to the
    engine's statement hook instead (SQL only, no parameters). So the store drains the
    outbox twice, on copies of its engine: once with the fast paths off, where SQLAlchemy's
    listener sees the claim with its named parameters (after the bind processors); once on
    the fast path, where the statement hook sees the SQL sent. The first, with its
    placeholders made positional, must be the second: it is sent as that, with the
    parameters in their order.
    """
    named: list[tuple[str, dict[str, Any]]] = []
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if not named and "FOR UPDATE" in statement:
            named.append((statement, parameters))

    def hear(statement: FastPathStatement) -> None:
        if not sent and "FOR UPDATE" in statement.sql:
            sent.append(statement.sql)

    through_sqlalchemy = store.engine.execution_options(**{FAST_PATHS_EXECUTION_OPTION: False})
    event.listen(through_sqlalchemy, "before_cursor_execute", record)
    fast = store.engine.execution_options()
    set_statement_hook(fast, hear)
    for engine in (through_sqlalchemy, fast):
        seed.load(sides.raw)
        drain(
            OutboxRelay(SqlAlchemyOutboxRelayStore(store.tables, engine), NoOpPublisher(), batch_size=batch)
        )
    if not named or not sent:
        raise AssertionError(
            f"the store's claim statement was not seen (through SQLAlchemy: {bool(named)}, "
            f"on the fast path: {bool(sent)})"
        )
    statement, parameters = named[0]
    names: list[str] = []

    def positional_placeholder(match: re.Match[str]) -> str:
        if match[1] is None:
            return "%%"
        names.append(match[1])
        return "%s"

    positional = PLACEHOLDER.sub(positional_placeholder, statement)
    if positional != sent[0]:
        raise AssertionError(
            f"the claim sent on the fast path is not the store's claim:\n{sent[0]}\n{positional}"
        )
    return positional.encode(), tuple(parameters[name] for name in names)


def with_token(parameters: tuple[Any, ...], token: uuid.UUID) -> tuple[Any, ...]:
    """The captured claim parameters with ``token`` as the lease token (the only UUID among them)."""
    return tuple(token if isinstance(value, uuid.UUID) else value for value in parameters)


def lease_loop(
    connection: RawConnection,
    claim: Callable[[uuid.UUID], tuple[QueryNoTemplate, Any]],
    *,
    transactions: bool,
    phases: Phases,
) -> int:
    """A hand-written lease-then-acknowledge relay; return how many messages it acknowledged."""
    publisher = NoOpPublisher()
    done = 0
    connection.autocommit = not transactions
    try:
        with connection.cursor() as cursor:
            while True:
                token = uuid.uuid4()
                wall, cpu = time.perf_counter(), time.process_time()
                with connection.transaction() if transactions else contextlib.nullcontext():
                    rows = cursor.execute(*claim(token)).fetchall()
                messages: list[OutboxMessage] = sorted(
                    (message_from_row(row) for row in rows), key=lambda m: (m.available_at, m.id)
                )
                phases.claim_wall += time.perf_counter() - wall
                phases.claim_cpu += time.process_time() - cpu
                if not messages:
                    return done
                published = [result.message_id for result in publisher.publish(messages) if result.ok]
                wall, cpu = time.perf_counter(), time.process_time()
                with connection.transaction() if transactions else contextlib.nullcontext():
                    done += len(cursor.execute(ACKNOWLEDGE_SQL, (published, token)).fetchall())
                phases.ack_wall += time.perf_counter() - wall
                phases.ack_cpu += time.process_time() - cpu
    finally:
        connection.autocommit = True


def diagnose(url: str, batch: int, count: int, runs: int) -> None:
    sides = SyncSides(url)
    engine = create_engine(DatabaseConfig(url=url_of(sides.engine)))
    connection = psycopg.connect(conninfo_for(url), autocommit=True)
    try:
        tables = prepare_tables(sides)
        seed = Seed.make(count)
        store = SqlAlchemyOutboxRelayStore(tables, engine)
        claim_sql, claim_parameters = capture_claim(store, seed, sides, batch)
        publisher = NoOpPublisher()
        names = [
            "raw claim-and-delete (the jobs' baseline)",
            "raw lease loop, autocommit",
            "raw lease loop, BEGIN/COMMIT per call",
            "raw lease loop, the store's claim SQL",
            "OutboxRelay + SqlAlchemyOutboxRelayStore",
        ]

        def variant(index: int, phases: Phases) -> int:
            if index == 0:
                return raw_drain(connection, batch, publisher)
            if index in (1, 2):
                return lease_loop(
                    connection,
                    lambda token: (LEASE_CLAIM_SQL, (token, batch)),
                    transactions=index == 2,
                    phases=phases,
                )
            if index == 3:
                return lease_loop(
                    connection,
                    lambda token: (claim_sql, with_token(claim_parameters, token)),
                    transactions=True,
                    phases=phases,
                )
            relay = OutboxRelay(TimedStore(store, phases), publisher, batch_size=batch)
            return drain(relay)

        results: dict[int, list[tuple[float, float, Phases]]] = {index: [] for index in range(len(names))}
        for run in range(runs + 1):  # the first round warms up
            for index in range(len(names)):
                seed.load(sides.raw)
                phases = Phases()
                wall, cpu = time.perf_counter(), time.process_time()
                delivered = variant(index, phases)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                left = count_messages(sides.raw)
                if delivered != count or left:
                    raise AssertionError(f"{names[index]}: {delivered} delivered, {left} left")
                if run:
                    results[index].append((wall, cpu, phases))
        print(
            f"\nbatch {batch:,}, {count:,} messages, 1 relay; medians of {runs} runs after a warm-up round:\n"
        )
        print("| way | msg/s | vs raw claim-and-delete | client CPU µs/msg |")
        print("|---|---:|---:|---:|")
        baseline = count / statistics.median(wall for wall, _, _ in results[0])
        for index, name in enumerate(names):
            rate = count / statistics.median(wall for wall, _, _ in results[index])
            cpu = statistics.median(cpu for _, cpu, _ in results[index]) / count * 1e6
            print(f"| {index + 1}. {name} | {rate:,.0f} | {rate / baseline:.2f}x | {cpu:.1f} |")
        print("\nPer message, claim and acknowledgement (µs, wall / client CPU):\n")
        print("| way | claim | acknowledge |")
        print("|---|---:|---:|")
        for index in (3, 4):

            def per_message(pick: Callable[[Phases], float], index: int = index) -> float:
                return statistics.median(pick(phases) for _, _, phases in results[index]) / count * 1e6

            print(
                f"| {index + 1}. {names[index]} "
                f"| {per_message(lambda p: p.claim_wall):.1f} / {per_message(lambda p: p.claim_cpu):.1f} "
                f"| {per_message(lambda p: p.ack_wall):.1f} / {per_message(lambda p: p.ack_cpu):.1f} |"
            )
    finally:
        connection.close()
        engine.dispose()
        sides.drop_table()
        sides.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.outbox_diagnose", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--batch", type=int, action="append", help="batch size (repeatable; 100 and 1000)")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", default=default_url())
    parser.add_argument("--tiny", action="store_true", help="one run, 50 messages in batches of 10 (a test)")
    arguments = parser.parse_args(argv)
    if arguments.tiny:
        diagnose(arguments.url, 10, 50, 1)
        return 0
    for batch in arguments.batch or [100, 1_000]:
        diagnose(arguments.url, batch, arguments.messages, arguments.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
