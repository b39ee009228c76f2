"""What the short business transaction's extra client CPU is made of, one layer at a time (sync).

``python -m benchmarks.txn_diagnose [--transactions 300] [--runs 7] [--step N]``

The ``txn`` job's transaction (``BEGIN``, the ``INSERT`` of one new ``Reservation``,
``COMMIT``, commit timed) is run in steps that add one layer each, interleaved, on the
same table:

1. raw psycopg: ``with connection.transaction(): cursor.execute(INSERT ...)`` (the job's raw side);
2. a SQLAlchemy connection of the engine (``connect``, ``begin``, ``commit``, ``close``:
   the pool, the connection and transaction objects), the same ``INSERT`` on its psycopg
   connection's cursor;
3. hexalchemy's ``transactions.begin()`` instead (its plan over step 2), the same ``INSERT``;
4. the same, the repository's statement (``ON CONFLICT DO NOTHING RETURNING id``) through
   SQLAlchemy Core's ``execute`` instead of the driver cursor;
5. ``repository.save`` (the job's hexalchemy side): 4 plus the plan, the checks and the
   mapping;
6. raw with the outbox message row (``txn_outbox``'s raw side);
7. ``save`` and ``writer.add(new_message(...))`` (``txn_outbox``'s hexalchemy side).

Each step's median client CPU and wall time per transaction, and the CPU it adds to the
step before; then, without the database, the cost of the pieces ``save`` and ``add`` run
per call (``timeit``). ``--step N`` runs step N alone (its warm-up run, then ``--runs``
runs), for instruction counts: under ``valgrind --tool=callgrind``, the difference between
``--runs 1`` and ``--runs 0`` is one run of the step. Nothing here is part of ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

from psycopg.types.json import Json
from sqlalchemy.dialects import postgresql

from benchmarks.databases import SyncSides, default_url
from benchmarks.short_transaction_model import (
    HEADERS,
    RAW_INSERT_SQL,
    RAW_MESSAGE_SQL,
    TOPIC,
    Reservation,
    drop_tables,
    payload_for,
    raw_message_params,
    txn_tables,
)
from hexalchemy.rules import new_message, time_ordered_uuid, validate_message
from hexalchemy.sqlalchemy import SqlAlchemyOutboxWriter, SqlAlchemyRepository

Step = Callable[[Sequence[Reservation]], None]

PAYLOAD: Final = payload_for(0)
BASE_OF: Final = {1: 0, 2: 1, 3: 2, 4: 3, 5: 0, 6: 4}
"""The step (0-based) each step adds its layer to: 7 (save + add) adds the message to 5 (save)."""


def _params(r: Reservation) -> tuple[Any, ...]:
    return (r.id, r.sku, r.quantity, r.version + 1)


def steps(sides: SyncSides) -> dict[str, Step]:
    """The seven steps, by label, each running one transaction per reservation given."""
    tables = txn_tables()
    repository = SqlAlchemyRepository(tables.reservations, sides.transactions)
    writer = SqlAlchemyOutboxWriter(tables.outbox, sides.transactions)
    transactions, engine, raw = sides.transactions, sides.engine, sides.raw
    table = tables.reservations.table
    returning = postgresql.insert(table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
    headers = Json(HEADERS)

    def raw_psycopg(reservations: Sequence[Reservation]) -> None:
        with raw.cursor() as cursor:
            for r in reservations:
                with raw.transaction():
                    cursor.execute(RAW_INSERT_SQL, _params(r))

    def sqlalchemy_connection(reservations: Sequence[Reservation]) -> None:
        for r in reservations:
            with engine.connect() as connection, connection.begin():
                driver = connection.connection.driver_connection
                if driver is None:
                    raise AssertionError("no driver connection")
                driver.cursor().execute(RAW_INSERT_SQL, _params(r))

    def hexalchemy_begin(reservations: Sequence[Reservation]) -> None:
        for r in reservations:
            with transactions.begin():
                driver = transactions.connection().connection.driver_connection
                if driver is None:
                    raise AssertionError("no driver connection")
                driver.cursor().execute(RAW_INSERT_SQL, _params(r))

    def hexalchemy_begin_core(reservations: Sequence[Reservation]) -> None:
        to_row = tables.reservations.to_row
        for r in reservations:
            with transactions.begin():
                transactions.connection().execute(returning, to_row(r)).all()

    def hexalchemy_save(reservations: Sequence[Reservation]) -> None:
        save = repository.save
        for r in reservations:
            with transactions.begin():
                save(r)

    def raw_with_message(reservations: Sequence[Reservation]) -> None:
        with raw.cursor() as cursor:
            for r in reservations:
                with raw.transaction():
                    cursor.execute(RAW_INSERT_SQL, _params(r))
                    cursor.execute(RAW_MESSAGE_SQL, raw_message_params(PAYLOAD, headers))

    def hexalchemy_save_and_add(reservations: Sequence[Reservation]) -> None:
        save, add, create = repository.save, writer.add, new_message
        for r in reservations:
            with transactions.begin():
                save(r)
                add(create(TOPIC, PAYLOAD, headers=HEADERS))

    return {
        "1. raw psycopg: BEGIN, INSERT, COMMIT": raw_psycopg,
        "2. + SQLAlchemy connection (pool, begin, commit, close)": sqlalchemy_connection,
        "3. + hexalchemy transactions.begin()": hexalchemy_begin,
        "4. + the INSERT ... RETURNING through SQLAlchemy Core": hexalchemy_begin_core,
        "5. repository.save (the txn job)": hexalchemy_save,
        "6. raw with the outbox message row": raw_with_message,
        "7. save + writer.add(new_message(...)) (txn_outbox)": hexalchemy_save_and_add,
    }


def measure(
    sides: SyncSides, transactions: int, runs: int, step: int | None = None
) -> dict[str, tuple[list[float], list[float]]]:
    """(CPU, wall) seconds per transaction of every run of every step (or of ``step`` alone); steps rotate their order per run."""
    labelled = steps(sides)
    if step is not None:
        label = list(labelled)[step - 1]
        labelled = {label: labelled[label]}
    results: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in labelled}
    truncate = txn_tables().truncate_sql
    order = list(labelled)
    for run in range(runs + 1):  # run 0 warms up
        for label in order[run % len(order) :] + order[: run % len(order)]:
            reservations = [Reservation(uuid.uuid4(), "SKU-0001", 1) for _ in range(transactions)]
            sides.raw.execute(truncate)
            start, start_cpu = time.perf_counter(), time.process_time()
            labelled[label](reservations)
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            if run:
                results[label][0].append(cpu / transactions)
                results[label][1].append(wall / transactions)
        print(f"  run {run} done", file=sys.stderr)
    return results


def pieces() -> list[tuple[str, float]]:
    """µs per call of what ``save`` and ``add`` run besides the statement, without the database."""
    tables = txn_tables()
    mapping = tables.reservations
    reservation = Reservation(uuid.uuid4(), "SKU-0001", 1)
    message = new_message(TOPIC, PAYLOAD, headers=HEADERS)
    candidates: list[tuple[str, Callable[[], object]]] = [
        (
            "new_message(topic, payload, headers=...)",
            lambda: new_message(TOPIC, PAYLOAD, headers=HEADERS),
        ),
        ("validate_message(message)", lambda: validate_message(message)),
        ("time_ordered_uuid()", time_ordered_uuid),
        ("uuid.uuid4() (raw's id)", uuid.uuid4),
        ("mapping.to_row(reservation)", lambda: mapping.to_row(reservation)),
        ("mapping.with_version(reservation, 1)", lambda: mapping.with_version(reservation, 1)),
        ("raw_message_params(payload, headers) (raw)", lambda: raw_message_params(PAYLOAD, HEADERS)),
    ]
    found = []
    for label, call in candidates:
        best = min(timeit.repeat(call, number=20_000, repeat=5))
        found.append((label, best / 20_000 * 1e6))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.txn_diagnose", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--transactions", type=int, default=300, help="transactions per step and run (300)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per step, after one warm-up (7)")
    parser.add_argument("--step", type=int, choices=range(1, 8), help="run this step alone")
    parser.add_argument("--url", default=default_url())
    arguments = parser.parse_args(argv)
    sides = SyncSides(arguments.url)
    try:
        tables = txn_tables()
        tables.metadata.drop_all(sides.engine, tables=tables.tables)
        tables.metadata.create_all(sides.engine, tables=tables.tables)
        results = measure(sides, arguments.transactions, arguments.runs, arguments.step)
    finally:
        drop_tables(arguments.url)
        sides.close()
    print(f"Short transaction, sync, {arguments.runs} runs of {arguments.transactions} per step (medians):\n")
    print("| step | client CPU µs/txn | CPU added to step | wall µs/txn |")
    print("|---|---:|---:|---:|")
    if arguments.step is not None:
        for label, (cpu, wall) in results.items():
            if cpu:
                print(
                    f"{label}: {statistics.median(cpu) * 1e6:.0f} µs CPU, {statistics.median(wall) * 1e6:.0f} µs wall"
                )
        return 0
    cpus = [statistics.median(cpu) * 1e6 for cpu, _ in results.values()]
    for index, (label, (_, wall)) in enumerate(results.items()):
        reference = BASE_OF.get(index)
        added = "" if reference is None else f"{cpus[index] - cpus[reference]:+.0f} (over {reference + 1})"
        print(f"| {label} | {cpus[index]:.0f} | {added} | {statistics.median(wall) * 1e6:.0f} |")
    print("\nWithout the database (timeit, best of 5 x 20,000):\n")
    print("| piece | µs per call |")
    print("|---|---:|")
    for label, micros in pieces():
        print(f"| {label} | {micros:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
