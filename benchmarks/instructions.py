"""Instruction counts of jobs' timed parts, under ``valgrind --tool=callgrind`` (sync).

``valgrind --tool=callgrind --collect-atstart=no --toggle-collect=context_run
--callgrind-out-file=OUT .venv/bin/python -m benchmarks.instructions SPEC...``

Each ``SPEC`` is ``key[:variant]`` (``get9``, ``range9``, ``update9``, ``mariadb_insert``:
variant 0 the hand-written table, 1 the derived one; ``txn``, ``txn_outbox``; ``page``,
``count``: issue 14's filtered page of 50 and count on the 100k-row table). For each, the job is set
up as ``make bench --quick`` sets it up, each side runs once untimed (the warm-up), then one
run of each side runs inside ``contextvars.Context.run``: callgrind, collecting only inside
CPython's ``context_run``, counts that run and nothing else, and is told to dump its counts
after it (``callgrind_control --dump``), so each run has its own file, ``OUT.1``, ``OUT.2``...
in the order printed on stderr. A run of ``get9``, ``range9``, ``txn``, ``txn_outbox``, ``page`` and ``count`` is
the job's whole run (its ``begin()``/commit or truncate included: a fraction of a percent);
``update9``'s is the ``save_all`` (raw: the ``executemany`` and its check) alone;
``mariadb_insert``'s the ``save_all`` of 10,000 new invoices on MariaDB (raw PyMySQL: the
``executemany`` of their parameters) alone, the table emptied before, uncounted. Divide by
the run's work (printed) for the count per call, row or transaction. Instruction counts do
not move with the machine's load, as wall-clock times do. Nothing here is part of ``make bench``.
"""

from __future__ import annotations

import argparse
import contextvars
import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable

from benchmarks import invoice_get, invoice_range, queries, short_transaction
from benchmarks.databases import SyncSides, default_url
from benchmarks.harness import QUICK, Settings
from benchmarks.invoice_model import invoice_from_row, make_invoices, paid, update_status_params
from benchmarks.invoice_tables import VARIANTS, InvoiceSides, drop_tables
from benchmarks.short_transaction_model import drop_tables as drop_txn_tables

KEYS = ("get9", "range9", "update9", "txn", "txn_outbox", "page", "count", "mariadb_insert")

Counted = Callable[[Callable[[], object]], None]
"""Runs its argument inside ``Context.run`` (counted), then has callgrind dump the counts."""


def _update_sides(
    sides: SyncSides, variant: int, settings: Settings, counted: Counted
) -> tuple[Callable[[], None], Callable[[], None]]:
    """update9's sides: each resets, loads and changes the rows, then counts the save alone."""
    table = InvoiceSides(sides, VARIANTS[variant])
    invoices = make_invoices(settings.rows, version=1)
    ids = [invoice.id for invoice in invoices]
    repository, transactions, raw, sql = table.repository, table.transactions, table.connection, table.sql

    def hexalchemy() -> None:
        table.reset(invoices)
        with transactions.begin():
            changed = paid(repository.range(ids))
            counted(lambda: repository.save_all(changed))

    def raw_psycopg() -> None:
        table.reset(invoices)
        with raw.transaction(), raw.cursor() as cursor:
            changed = paid([invoice_from_row(row) for row in cursor.execute(sql.range, (ids,)).fetchall()])

            def save() -> None:
                cursor.executemany(sql.update_status, [update_status_params(o) for o in changed])
                if cursor.rowcount != len(changed):
                    raise AssertionError(cursor.rowcount)

            counted(save)

    return hexalchemy, raw_psycopg


def _mariadb_insert_sides(
    variant: int, settings: Settings, counted: Counted
) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
    """mariadb_insert's sides (``benchmarks.mariadb``): each empties the table, then counts the insert alone; and the clean-up."""
    from benchmarks import mariadb

    sides = mariadb.Sides(mariadb.mariadb_url(), VARIANTS[variant])
    invoices = make_invoices(settings.rows)
    repository, transactions, raw = sides.repository, sides.transactions, sides.raw

    def hexalchemy() -> None:
        sides.reset()
        with transactions.begin():
            counted(lambda: repository.save_all(invoices))

    def raw_pymysql() -> None:
        sides.reset()
        with raw.transaction() as cursor:
            counted(lambda: raw.insert_all(cursor, invoices))

    return hexalchemy, raw_pymysql, sides.close


def _uncounted(run: Callable[[], object]) -> None:
    run()


class _Dumps:
    """Has callgrind dump its counts after each counted run, and waits until it has."""

    def __init__(self, out: str | None) -> None:
        self.out = out
        self.dumps = 0

    def __call__(self, run: Callable[[], object]) -> None:
        contextvars.copy_context().run(run)
        if self.out is None:
            return
        self.dumps += 1
        subprocess.run(["callgrind_control", "--dump", str(os.getpid())], check=True, capture_output=True)
        deadline = time.monotonic() + 600
        while not os.path.exists(f"{self.out}.{self.dumps}"):
            if time.monotonic() > deadline:
                raise SystemExit("callgrind did not dump")
            time.sleep(0.2)


def _measure(spec: str, sides: SyncSides, settings: Settings, counted: _Dumps) -> None:
    key, _, variant_text = spec.partition(":")
    variant = int(variant_text or 0)
    if key not in KEYS:
        raise SystemExit(f"unknown key {key!r}: one of {', '.join(KEYS)}")
    url = default_url()
    clean_up: Callable[[], None] = functools.partial(
        drop_txn_tables
        if key in ("txn", "txn_outbox")
        else queries.clean_up
        if key in ("page", "count")
        else drop_tables,
        url,
    )
    runs: list[Callable[[], None]]
    if key == "mariadb_insert":
        work = settings.rows
        hexalchemy, raw, close = _mariadb_insert_sides(variant, settings, _uncounted)
        hexalchemy()
        raw()
        close()
        hexalchemy, raw, clean_up = _mariadb_insert_sides(variant, settings, counted)
        runs = [hexalchemy, raw]
    elif key == "update9":
        work = settings.rows
        hexalchemy, raw = _update_sides(sides, variant, settings, _uncounted)
        hexalchemy()
        raw()
        hexalchemy, raw = _update_sides(sides, variant, settings, counted)
        runs = [hexalchemy, raw]
    else:
        if key in ("txn", "txn_outbox"):
            runners = short_transaction.sync_runners(key == "txn_outbox", sides, settings)
            work = settings.transactions
        elif key in ("page", "count"):
            runners = queries.sync_runners(key, sides, settings)
            work = settings.get_calls
        else:
            module = invoice_get if key == "get9" else invoice_range
            runners = module.runners(InvoiceSides(sides, VARIANTS[variant]), settings)
            work = settings.get_calls if key == "get9" else settings.range_calls
        runners.hexalchemy()
        runners.raw()
        hexalchemy_run, raw_run = runners.hexalchemy, runners.raw

        def hexalchemy() -> None:
            counted(hexalchemy_run)

        def raw() -> None:
            counted(raw_run)

        runs = [hexalchemy, raw]
    try:
        for side, run in zip(("hexalchemy", "raw"), runs, strict=True):
            run()
            print(f"dump {counted.dumps}: {key} variant {variant} {side}, one run of {work}", file=sys.stderr)
    finally:
        clean_up()


def main(argv: list[str] | None = None) -> None:
    """Count one run of each side of each job given."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("specs", nargs="+", metavar="key[:variant]")
    parser.add_argument(
        "--out", help="callgrind's --callgrind-out-file, to wait for each dump (omit: no dumps)"
    )
    args = parser.parse_args(argv)
    sides = SyncSides(default_url())
    counted = _Dumps(args.out)
    try:
        for spec in args.specs:
            _measure(spec, sides, QUICK, counted)
    finally:
        sides.close()


if __name__ == "__main__":
    main()
