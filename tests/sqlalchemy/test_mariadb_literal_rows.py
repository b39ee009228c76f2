"""MariaDB's bulk insert writes its rows' SQL text itself: exactly as the driver's connection would, or not at all.

``mariadb._literals`` writes each value as PyMySQL's converters do; before each insert the
connection is asked whether it writes values so (:meth:`DriverLiterals.writes_like`), and
where it does not (a session in ``NO_BACKSLASH_ESCAPES``) the rows go by the driver's
``executemany``. Both ways store the same values.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, MetaData, event

from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_async_engine,
    create_engine,
)
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.mariadb._literals import NAMESPACE, driver_literals, literal_expression
from tests.mariadb import MARIADB_URL, mariadb_with_tables, without_mariadb

VALUES = st.one_of(
    st.text(),
    st.text(alphabet="'\"\\\x00\n\r\x1a%_ab"),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
    st.datetimes(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
    st.binary(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
)
EXPECTED = [str, int, bool, Decimal, uuid.UUID, dt.datetime, dt.date, None]


def written(value: object, expected: type | None, driver: str, *, nullable: bool) -> str:
    """What the generated rows write for ``value`` in a column whose values are expected to be ``expected``."""
    namespace = {**NAMESPACE, "_literal": driver_literals(driver).literal, "v": value}
    text: str = eval(literal_expression("v", expected, nullable=nullable), namespace)
    return text


@pytest.fixture(scope="module")
def mariadb_session() -> Iterator[Engine | str]:
    yield from mariadb_with_tables(METADATA)


@pytest.fixture(scope="module")
def connections(mariadb_session: Engine | str) -> Iterator[dict[str, Any]]:
    """The PyMySQL and the aiomysql connection of hexalchemy's sync and async engines."""
    if isinstance(mariadb_session, str):
        without_mariadb(mariadb_session)
    loop = asyncio.new_event_loop()
    asynchronous = create_async_engine(DatabaseConfig(url=MARIADB_URL))
    sync = mariadb_session.raw_connection()
    try:
        connection = loop.run_until_complete(asynchronous.connect())
        driver = loop.run_until_complete(connection.get_raw_connection()).driver_connection
        yield {"pymysql": sync.driver_connection, "aiomysql": driver}
        loop.run_until_complete(connection.close())
    finally:
        sync.close()
        loop.run_until_complete(asynchronous.dispose())
        loop.close()


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
@pytest.mark.parametrize("driver", ["pymysql", "aiomysql"])
def test_every_value_is_written_as_the_driver_s_connection_writes_it(
    connections: dict[str, Any], driver: str, value: object
) -> None:
    connection = connections[driver]
    assert driver_literals(driver).writes_like(connection)
    expected = connection.literal(value)
    for column_type in EXPECTED:
        for nullable in (False, True):
            assert written(value, column_type, driver, nullable=nullable) == expected, column_type


def test_a_session_without_backslash_escapes_does_not_write_like_the_defaults(
    connections: dict[str, Any],
) -> None:
    connection = connections["pymysql"]
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        try:
            assert not driver_literals("pymysql").writes_like(connection)
        finally:
            cursor.execute("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
    assert driver_literals("pymysql").writes_like(connection)


# ---------------------------------------------------------------------------- saved for real
@attrs.frozen
class Note:
    id: uuid.UUID
    text: str
    data: bytes | None
    amount: Decimal
    at: dt.datetime
    day: dt.date
    ratio: float
    done: bool
    version: int = 0


METADATA = MetaData()
SCHEMA = Schema(metadata=METADATA)
MAPPING: TableMapping[Note, uuid.UUID] = SCHEMA.map(
    EntitySpec(Note, key="id", version="version"), table="hx_test_literal_notes"
)
NASTY = [
    "it's",
    "back\\slash",
    'dou"ble',
    "new\nline\r\x1a",
    "per%cent %s %%",
    "🙂 ünï",
    "'; DROP TABLE x; --",
    "\\'",
]


def notes(count: int) -> list[Note]:
    at = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    return [
        Note(
            id=uuid.uuid4(),
            text=NASTY[n % len(NASTY)] * (1 + n % 3),
            data=None if n % 4 == 0 else NASTY[n % len(NASTY)].encode() + bytes([n % 256, 0, 92, 39]),
            amount=Decimal(n) / 8,
            at=at + dt.timedelta(microseconds=n * 1_000_003),
            day=dt.date(2000, 1, 1) + dt.timedelta(days=n),
            ratio=n / 7,
            done=n % 2 == 0,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("backslash_escapes", [True, False], ids=["literal rows", "executemany"])
def test_a_bulk_insert_stores_every_value_as_given(
    mariadb_session: Engine | str, backslash_escapes: bool
) -> None:
    if isinstance(mariadb_session, str):
        without_mariadb(mariadb_session)
    with mariadb_session.begin() as connection:
        connection.execute(MAPPING.table.delete())
    own = create_engine(DatabaseConfig(url=MARIADB_URL))
    if not backslash_escapes:  # a session that changed its sql_mode: the rows go by the driver's executemany

        def no_backslash_escapes(dbapi_connection: Any, _record: object) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")

        event.listen(own, "connect", no_backslash_escapes)
    try:
        transactions = SqlAlchemyTransactionManager(own)
        repository = SqlAlchemyRepository(MAPPING, transactions)
        batch = notes(300)
        with transactions.begin():
            saved = repository.save_all(batch)
            raw = own.raw_connection()
            try:
                assert driver_literals("pymysql").writes_like(raw.dbapi_connection) is backslash_escapes
            finally:
                raw.close()
        with transactions.begin(read_only=True):
            loaded = repository.range([note.id for note in batch])
    finally:
        own.dispose()
    assert loaded == saved == [attrs.evolve(note, version=1) for note in batch]
