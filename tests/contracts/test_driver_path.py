"""The repository's psycopg fast paths stay on while the engine is watched, and report themselves (PostgreSQL).

``get``, ``contains``, ``range``, the version-checked updates of ``save_all`` and its
COPY of new aggregates skip SQLAlchemy's statement execution on psycopg. A
``before_cursor_execute`` listener (a tracer, a statement counter) does not turn them off:
it sees what goes through SQLAlchemy, the engine's statement hook sees the fast paths'
statements, each statement is seen once, and the results are the same.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import attrs
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
    event,
)

from hexalchemy.ports import ColumnOptions, DuplicateEntityError, EntitySpec
from hexalchemy.pytest_plugin import SqlHarness
from hexalchemy.sqlalchemy import Schema, SqlAlchemyRepository, SqlAlchemyTransactionManager, UtcDateTime
from hexalchemy.sqlalchemy.backend import FAST_PATHS_EXECUTION_OPTION
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.postgresql._driver import binary_copy_types
from hexalchemy.sqlalchemy.tracing import (
    STATEMENT_HOOK_OPTION,
    FastPathStatement,
    set_statement_hook,
    statement_hook,
)
from hexalchemy.testing.contracts.domain import ACCOUNTS, Account, new_account
from tests.postgresql import POSTGRESQL_URL

BATCH = 80
"""New aggregates in one save_all: above the default copy_threshold (64)."""


@attrs.frozen
class Outcome:
    saved: list[Account]
    updated: list[Account]
    got: Account
    contained: bool
    ranged: list[Account]


def _exercise(harness: SqlHarness, owner: str) -> Outcome:
    accounts = harness.repository(ACCOUNTS)
    batch = [new_account(f"{owner}-{index}") for index in range(BATCH)]
    with harness.transactions.begin():
        saved = accounts.save_all(batch)
    with harness.transactions.begin():
        updated = accounts.save_all([attrs.evolve(account, points=7) for account in saved[:3]])
        got, contained = accounts.get(saved[0].id), accounts.contains(saved[1].id)
        ranged = accounts.range([account.id for account in saved])
    return Outcome(saved, updated, got, contained, ranged)


def _check(outcome: Outcome) -> None:
    assert [account.version for account in outcome.saved] == [1] * BATCH
    assert [(account.points, account.version) for account in outcome.updated] == [(7, 2)] * 3
    assert outcome.got == outcome.updated[0] and outcome.contained
    assert outcome.ranged == [*outcome.updated, *outcome.saved[3:]]


@pytest.mark.postgresql
def test_a_listener_leaves_the_fast_paths_on_and_the_hook_sees_their_statements(
    postgresql_harness: SqlHarness,
) -> None:
    engine = postgresql_harness.engine
    unwatched = _exercise(postgresql_harness, "fast")
    listened: list[str] = []
    reported: list[FastPathStatement] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        listened.append(statement)

    previous = statement_hook(engine)
    event.listen(engine, "before_cursor_execute", before)
    set_statement_hook(engine, reported.append)
    try:
        watched = _exercise(postgresql_harness, "watched")
    finally:
        set_statement_hook(engine, previous)
        event.remove(engine, "before_cursor_execute", before)
    for outcome in (unwatched, watched):
        _check(outcome)
    paths = Counter(statement.path for statement in reported)
    assert paths == {"copy": 1, "executemany": 1, "precompiled": 3}  # COPY; the updates; get, contains, range
    copy = next(statement for statement in reported if statement.path == "copy")
    assert copy.sql.startswith("COPY ") and copy.rows == BATCH and copy.error is None
    assert copy.duration_ns > 0 and copy.url.database == engine.url.database
    assert next(statement for statement in reported if statement.path == "executemany").rows == 3
    # What SQLAlchemy ran (the savepoints) its listener saw; no statement was seen by both.
    assert any(text.startswith("SAVEPOINT") for text in listened)
    assert not {text for text in listened} & {statement.sql for statement in reported}
    assert not any(text.startswith(("COPY", "INSERT")) for text in listened)


@pytest.mark.postgresql
def test_a_listener_on_the_transaction_s_connection_leaves_the_driver_path_on(
    postgresql_harness: SqlHarness,
) -> None:
    accounts = postgresql_harness.repository(ACCOUNTS)
    account = new_account("watched")
    with postgresql_harness.transactions.begin():
        accounts.save(account)
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with postgresql_harness.transactions.begin():
        event.listen(postgresql_harness.transactions.connection(), "before_cursor_execute", before)
        assert accounts.get(account.id).owner == "watched"
        assert accounts.contains(account.id)
    assert seen == []  # both ran on the driver's cursor


@pytest.mark.postgresql
def test_a_failed_fast_path_statement_is_reported_with_its_error(postgresql_harness: SqlHarness) -> None:
    accounts = postgresql_harness.repository(ACCOUNTS)
    batch = [new_account(f"twice-{index}") for index in range(BATCH)]
    with postgresql_harness.transactions.begin():
        accounts.save_all(batch)
    reported: list[FastPathStatement] = []
    previous = statement_hook(postgresql_harness.engine)
    set_statement_hook(postgresql_harness.engine, reported.append)
    try:
        with pytest.raises(DuplicateEntityError), postgresql_harness.transactions.begin():
            accounts.save_all(batch)
    finally:
        set_statement_hook(postgresql_harness.engine, previous)
    copy = next(statement for statement in reported if statement.path == "copy")
    assert copy.error is not None and "duplicate key" in str(copy.error)


@pytest.mark.postgresql
def test_a_failing_hook_is_logged_and_the_statement_stands(
    postgresql_harness: SqlHarness, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = postgresql_harness.repository(ACCOUNTS)

    def broken(_statement: FastPathStatement) -> None:
        raise RuntimeError("hook broken")

    previous = statement_hook(postgresql_harness.engine)
    set_statement_hook(postgresql_harness.engine, broken)
    try:
        with postgresql_harness.transactions.begin():
            saved = accounts.save_all([new_account(f"logged-{index}") for index in range(BATCH)])
            assert accounts.get(saved[0].id) == saved[0]
    finally:
        set_statement_hook(postgresql_harness.engine, previous)
    assert "hook broken" in caplog.text and "hexalchemy.tracing" in {r.name for r in caplog.records}


@pytest.mark.postgresql
def test_options_changed_mid_transaction_are_followed_at_the_next_statement(
    postgresql_harness: SqlHarness,
) -> None:
    """Turning the fast paths off, or setting another hook, on the transaction's connection takes effect at once."""
    accounts = postgresql_harness.repository(ACCOUNTS)
    account = new_account("switched")
    with postgresql_harness.transactions.begin():
        accounts.save(account)
    first: list[FastPathStatement] = []
    second: list[FastPathStatement] = []
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with postgresql_harness.transactions.begin():
        connection = postgresql_harness.transactions.connection()
        event.listen(connection, "before_cursor_execute", before)
        connection.execution_options(**{STATEMENT_HOOK_OPTION: first.append})
        accounts.get(account.id)
        connection.execution_options(**{STATEMENT_HOOK_OPTION: second.append})
        accounts.get(account.id)
        connection.execution_options(**{FAST_PATHS_EXECUTION_OPTION: False})
        accounts.get(account.id)
        connection.execution_options(**{FAST_PATHS_EXECUTION_OPTION: True})
        accounts.contains(account.id)
    assert [statement.path for statement in first] == ["precompiled"]
    assert [statement.sql.split()[0] for statement in second] == ["SELECT", "SELECT"]  # get, then contains
    assert len(seen) == 1 and seen[0].startswith("SELECT")  # the get with the fast paths off


# -- COPY in binary format ---------------------------------------------------------------------


class Grade(enum.StrEnum):
    LOW = "low"
    HIGH = "high"


@attrs.frozen
class Reading:
    """Every type COPY sends in binary format, an optional one included."""

    id: uuid.UUID
    label: str
    count: int
    small: int
    amount: Decimal
    ratio: float
    flag: bool
    day: dt.date
    at: dt.datetime
    grade: Grade
    note: str | None
    version: int = 0


@attrs.frozen
class Blob:
    id: uuid.UUID
    data: bytes


READING_OPTIONS = {
    "label": ColumnOptions(max_length=40),
    "small": ColumnOptions(bits=32),
    "amount": ColumnOptions(precision=18, scale=2),
}


def _readings_table(metadata: MetaData) -> Table:
    return Table(
        "hx_binary_copy_readings",
        metadata,
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("label", String(40), nullable=False),
        Column("count", BigInteger, nullable=False),
        Column("small", Integer, nullable=False),
        Column("amount", Numeric(18, 2), nullable=False),
        Column("ratio", Double, nullable=False),
        Column("flag", Boolean, nullable=False),
        Column("day", Date, nullable=False),
        Column("at", UtcDateTime(), nullable=False),
        Column("grade", String(8), nullable=False),
        Column("note", Text, nullable=True),
        Column("version", BigInteger, nullable=False),
    )


def _reading(index: int) -> Reading:
    return Reading(
        id=uuid.uuid4(),
        label=f"reading {index} \u00fcn\u00ef",
        count=2**40 + index,
        small=-index,
        amount=Decimal(f"{index}.{index % 100:02d}"),
        ratio=index / 3,
        flag=index % 2 == 0,
        day=dt.date(2026, 1, 1) + dt.timedelta(days=index),
        at=dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        + dt.timedelta(seconds=index),
        grade=Grade.HIGH if index % 3 else Grade.LOW,
        note=None if index % 2 else f"note {index}",
    )


@pytest.mark.postgresql
def test_copy_goes_in_binary_format_where_every_column_allows_it_and_reads_back_the_same(
    empty_postgresql: Engine,
) -> None:
    """A table of plain columns is copied in binary format; what is read back equals what was saved."""
    metadata = MetaData()
    mapping: TableMapping[Reading, uuid.UUID] = Schema(metadata=metadata).map(
        EntitySpec(Reading, key="id", version="version", key_type=uuid.UUID, columns=READING_OPTIONS),
        table=_readings_table(metadata),
    )
    assert binary_copy_types(mapping, empty_postgresql.dialect) == [
        "uuid", "varchar", "int8", "int4", "numeric", "float8", "bool", "date", "timestamptz", "varchar", "text", "int8",
    ]  # fmt: skip
    metadata.drop_all(empty_postgresql)
    metadata.create_all(empty_postgresql)
    copied: list[FastPathStatement] = []
    previous = statement_hook(empty_postgresql)
    set_statement_hook(empty_postgresql, copied.append)
    try:
        transactions = SqlAlchemyTransactionManager(empty_postgresql)
        readings = SqlAlchemyRepository(mapping, transactions)
        batch = [_reading(index) for index in range(BATCH)]
        with transactions.begin():
            saved = readings.save_all(batch)
        with transactions.begin():
            assert readings.range([reading.id for reading in batch]) == saved
            with pytest.raises(DuplicateEntityError):
                readings.save_all([_reading(BATCH), *batch[1:]])
        assert saved[1].at == batch[1].at
        assert [s.sql.endswith("(FORMAT BINARY)") for s in copied if s.path == "copy"] == [True, True]
    finally:
        set_statement_hook(empty_postgresql, previous)
        metadata.drop_all(empty_postgresql)


@pytest.mark.postgresql
def test_copy_stays_in_text_for_json_and_bound_processors(empty_postgresql: Engine) -> None:
    accounts: TableMapping[Account, uuid.UUID] = Schema(metadata=MetaData()).map(
        EntitySpec(Account, key="id", version="version", key_type=uuid.UUID), table="hx_binary_copy_accounts"
    )
    assert binary_copy_types(accounts, empty_postgresql.dialect) is None  # its tags are JSON
    metadata = MetaData()
    blobs: TableMapping[Blob, uuid.UUID] = Schema(metadata=metadata).map(
        EntitySpec(Blob, key="id", key_type=uuid.UUID),
        table=Table(
            "hx_binary_copy_blobs",
            metadata,
            Column("id", Uuid, primary_key=True),
            Column("data", LargeBinary),
        ),
    )
    assert binary_copy_types(blobs, empty_postgresql.dialect) is None  # LargeBinary binds through a processor


@attrs.frozen
class Stamp:
    """A derived table's ``UtcDateTime`` (NOT NULL and nullable) and ``ExactDecimal`` columns."""

    id: uuid.UUID
    at: dt.datetime
    seen: dt.datetime | None
    amount: Decimal
    version: int = 0


@pytest.mark.postgresql
def test_the_driver_path_reads_times_in_utc_and_exact_decimals_whatever_the_session_time_zone(
    empty_postgresql: Engine,
) -> None:
    """psycopg gives times in the session's zone: ``get`` and ``range`` on the driver path give them in UTC, as SQLAlchemy's path."""
    metadata = MetaData()
    stamps: TableMapping[Stamp, uuid.UUID] = Schema(metadata=metadata).map(
        EntitySpec(Stamp, key="id", version="version", key_type=uuid.UUID), table="hx_driver_path_stamps"
    )
    metadata.drop_all(empty_postgresql)
    metadata.create_all(empty_postgresql)
    engine = create_engine(POSTGRESQL_URL, connect_args={"options": "-c TimeZone=Asia/Kolkata"})
    try:
        seen: list[FastPathStatement] = []
        set_statement_hook(engine, seen.append)
        transactions = SqlAlchemyTransactionManager(engine)
        repository = SqlAlchemyRepository(stamps, transactions)
        at = dt.datetime(2026, 3, 1, 23, 45, 6, 789, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        batch = [
            Stamp(uuid.uuid4(), at, None, Decimal("-0.50")),
            Stamp(uuid.uuid4(), at, at, Decimal("12345678901234567890.123456789")),
        ]
        with transactions.begin():
            saved = repository.save_all(batch)
        seen.clear()
        with transactions.begin():
            got = [repository.get(stamp.id) for stamp in batch]
            ranged = repository.range([stamp.id for stamp in batch])
        assert [s.sql.split()[0] for s in seen if s.path == "precompiled"] == ["SELECT"] * 3
        assert got == ranged == saved
        for stamp in [*got, *ranged]:
            assert stamp.at.tzinfo is dt.UTC and stamp.at == at
            assert stamp.seen is None or (stamp.seen.tzinfo is dt.UTC and stamp.seen == at)
        assert [str(stamp.amount) for stamp in got] == ["-0.50", "12345678901234567890.123456789"]
        assert all(type(stamp.amount) is Decimal for stamp in got)
    finally:
        engine.dispose()
        metadata.drop_all(empty_postgresql)
