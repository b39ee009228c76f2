"""Names are data: every call works on tables, schemas and columns whose names hold SQL's special characters.

The tables, a PostgreSQL schema and the columns below are named with ``"``, ``'``, a
backtick (MariaDB's quote), ``;``, spaces, ``--``, ``%``, psycopg placeholders, unicode,
and up to 63 bytes (PostgreSQL's limit; MariaDB's is 64 characters, 64 bytes here). Every
repository, query, outbox, inbox and agent call runs on them, on SQLite, PostgreSQL and MariaDB (no
schema there: a MariaDB schema is a database), sync and async, on the psycopg fast paths (COPY included) and with them turned off (the
SQLAlchemy path, a cursor-execute listener watching). A name that reached SQL unquoted would break the
statement, or do what the name says: the canary table must survive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
import sqlalchemy
from sqlalchemy import JSON, BigInteger, Column, Engine, MetaData, String, Table, Uuid, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.schema import CreateSchema, DropSchema

from hexalchemy.ports import (
    ColumnOptions,
    ConfigError,
    ConstraintViolationError,
    DuplicateEntityError,
    EntityNotFoundError,
    EntitySpec,
    InboxEntry,
    OutboxMessage,
    PublishResult,
    Query,
    VersionConflictError,
)
from hexalchemy.ports.agents import AgentStatus, EvidenceKind, SignalKind
from hexalchemy.rules import OutboxPolicy, field_ref, new_agent_state, new_evidence, new_message, new_signal
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    ExactDecimal,
    Schema,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    TableMapping,
    UtcDateTime,
    agent_tables,
    create_async_engine,
    create_engine,
    install_notify_trigger,
    outbox_tables,
)
from hexalchemy.sqlalchemy.agents import (
    AgentTables,
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemySignalQueue,
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemySignalQueue,
    append_only_statements,
)
from hexalchemy.sqlalchemy.backend import FAST_PATHS_EXECUTION_OPTION
from hexalchemy.sqlalchemy.inbox import AsyncSqlAlchemyInbox, SqlAlchemyInbox, inbox_mapping
from hexalchemy.sqlalchemy.mariadb.backend import BACKEND as MARIADB
from hexalchemy.sqlalchemy.outbox import OutboxTables
from hexalchemy.sqlalchemy.outbox_notify import PostgresNotifyWakeUp
from hexalchemy.sqlalchemy.postgresql._driver import CopyRows, DriverExecuteMany, DriverQuery
from hexalchemy.sqlalchemy.postgresql.backend import BACKEND
from tests.mariadb import MARIADB_URL, without_mariadb
from tests.postgresql import POSTGRESQL_URL, without_postgresql

WEIRD: Final = "\"'`; --%(x)s %s é"
"""What every weird name below holds: a quote of each kind, ``;``, ``--``, psycopg placeholders, unicode."""
SCHEMA_NAME: Final = f"hx schema {WEIRD}"
TABLE_NAME: Final = "hx items " + WEIRD
LONG_TABLE_NAME: Final = "hx_" + "é" * 30
"""63 bytes in UTF-8: PostgreSQL's limit."""
UPSERT_TABLE_NAME: Final = f"hx upsert {WEIRD}"
INBOX_TABLE_NAME: Final = f"hx inbox {WEIRD}"
OUTBOX_PREFIX: Final = "hx_boîte"
AGENTS_PREFIX: Final = "hx_agénts"
"""A prefix is an identifier; unicode is allowed."""
CANARY: Final = "hx_canary"
BATCH: Final = 70
"""New aggregates in one save_all: above the default copy_threshold (64), so PostgreSQL COPYs them."""

INJECTION: Final = 'hx_t" FROM STDIN;COMMIT;DROP TABLE hx_canary;--'
"""The table name of the issue: COPY built with an f-string ran the rest as SQL (with a table ``hx_t``)."""

assert len(LONG_TABLE_NAME.encode()) == 63
assert all(
    len(name.encode()) <= 63
    for name in (SCHEMA_NAME, TABLE_NAME, UPSERT_TABLE_NAME, INBOX_TABLE_NAME, INJECTION)
)


@attrs.frozen
class Item:
    """An aggregate stored in a hand-written table whose columns are named otherwise (by their keys)."""

    id: uuid.UUID
    note: str
    amount: decimal.Decimal
    at: dt.datetime
    tags: list[str]
    version: int = 0


@attrs.frozen
class Dérivé:
    """An aggregate whose table is derived: its unicode field names are its column names."""

    id: uuid.UUID
    libellé_très_long_pour_atteindre_la_limite_des_noms: str
    version: int = 0


@attrs.frozen
class Setting:
    """An unversioned aggregate: saved by an upsert."""

    key: str
    value: str


# -- the tables, per database ----------------------------------------------------------------


@attrs.frozen
class Tables:
    metadata: MetaData
    items: TableMapping[Item, uuid.UUID]
    derived: TableMapping[Dérivé, uuid.UUID]
    settings: TableMapping[Setting, str]
    outbox: OutboxTables
    agents: AgentTables
    inbox: TableMapping[InboxEntry, tuple[str, uuid.UUID]]


def build_tables(schema_name: str | None) -> Tables:
    metadata = MetaData(schema=schema_name)
    schema = Schema(metadata=metadata)
    items_table = Table(
        TABLE_NAME,
        metadata,
        Column(f"id {WEIRD}", Uuid(as_uuid=True), primary_key=True, key="id"),
        Column(f"note {WEIRD}", String(200), nullable=False, key="note"),
        Column(f"amount {WEIRD}", ExactDecimal(), nullable=False, key="amount"),
        Column(f"at {WEIRD}", UtcDateTime(), nullable=False, key="at"),
        Column(f"tags {WEIRD}", JSON(), nullable=False, key="tags"),
        Column(f"version {WEIRD}", BigInteger(), nullable=False, key="version"),
    )
    settings_table = Table(
        UPSERT_TABLE_NAME,
        metadata,
        Column(f"key {WEIRD}", String(100), primary_key=True, key="key"),
        Column(f"value {WEIRD}", String(100), nullable=False, key="value"),
    )
    return Tables(
        metadata=metadata,
        items=schema.map(
            EntitySpec(
                Item,
                key="id",
                version="version",
                columns={"note": ColumnOptions(max_length=200)},
                key_type=uuid.UUID,
            ),
            table=items_table,
        ),
        derived=schema.map(
            EntitySpec(Dérivé, key="id", version="version", key_type=uuid.UUID), table=LONG_TABLE_NAME
        ),
        settings=schema.map(
            EntitySpec(
                Setting,
                key="key",
                columns={"key": ColumnOptions(max_length=100), "value": ColumnOptions(max_length=100)},
                key_type=str,
            ),
            table=settings_table,
        ),
        outbox=outbox_tables(schema, prefix=OUTBOX_PREFIX, archive=True),
        agents=agent_tables(schema, prefix=AGENTS_PREFIX),
        inbox=inbox_mapping(schema, table=INBOX_TABLE_NAME),
    )


def _create(engine: Engine, tables: Tables, schema_name: str | None) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {CANARY}"))
        connection.execute(text(f"CREATE TABLE {CANARY} (x INTEGER)"))
        if schema_name is not None:
            connection.execute(DropSchema(schema_name, cascade=True, if_exists=True))
            connection.execute(CreateSchema(schema_name))
    tables.metadata.create_all(engine)
    if schema_name is not None:
        with engine.begin() as connection:
            install_notify_trigger(connection, tables.outbox.messages)


@attrs.frozen
class Database:
    config: DatabaseConfig
    tables: Tables


@pytest.fixture(scope="module")
def postgresql_database(postgresql_problem: str | None) -> Iterator[Database]:
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    config = DatabaseConfig(url=POSTGRESQL_URL)
    tables = build_tables(SCHEMA_NAME)
    engine = create_engine(config)
    try:
        _create(engine, tables, SCHEMA_NAME)
        yield Database(config, tables)
        with engine.begin() as connection:
            connection.execute(DropSchema(SCHEMA_NAME, cascade=True))
            connection.execute(text(f"DROP TABLE IF EXISTS {CANARY}"))
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    config = DatabaseConfig(url=f"sqlite:///{tmp_path / 'weird.db'}")
    tables = build_tables(None)
    engine = create_engine(config)
    try:
        _create(engine, tables, None)
    finally:
        engine.dispose()
    yield Database(config, tables)


@pytest.fixture(scope="module")
def mariadb_database(mariadb_problem: str | None) -> Iterator[Database]:
    if mariadb_problem is not None:
        without_mariadb(mariadb_problem)
    config = DatabaseConfig(url=MARIADB_URL)
    tables = build_tables(None)
    engine = create_engine(config)
    try:
        tables.metadata.drop_all(engine)
        _create(engine, tables, None)
        yield Database(config, tables)
        tables.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {CANARY}"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"])
def database(request: pytest.FixtureRequest) -> Database:
    database: Database = request.getfixturevalue(f"{request.param}_database")
    return database


def _empty(engine: Engine, tables: Tables) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))  # the evidence triggers
            for table in reversed(tables.metadata.sorted_tables):
                connection.execute(table.delete())
        elif engine.dialect.name == "mariadb":  # the evidence triggers dropped, then made again
            evidence = tables.agents.evidence
            preparer = engine.dialect.identifier_preparer
            for suffix in ("_no_update", "_no_delete"):
                trigger = preparer.quote(MARIADB.derived_identifier(evidence.name, suffix))
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
            for table in reversed(tables.metadata.sorted_tables):
                connection.execute(table.delete())
            for statement in append_only_statements(evidence, engine.dialect):
                connection.exec_driver_sql(statement)
        else:
            for table in reversed(tables.metadata.sorted_tables):
                if table is not tables.agents.evidence:
                    connection.execute(table.delete())


# -- one adapter API for sync and async ----------------------------------------------------------


async def call(function: Callable[..., Any], *arguments: Any, **keywords: Any) -> Any:
    """Call a sync or async adapter method alike."""
    result = function(*arguments, **keywords)
    return await result if inspect.isawaitable(result) else result


@contextlib.asynccontextmanager
async def begin(transactions: Any) -> AsyncIterator[None]:
    """``with`` or ``async with transactions.begin()``."""
    context = transactions.begin()
    if hasattr(context, "__aenter__"):
        async with context:
            yield
    else:
        with context:
            yield


@attrs.frozen
class Adapters:
    tables: Tables
    engine: Any
    sync_engine: Engine
    """A sync engine of its own, on the same database: for the test's own statements."""
    watched_engine: Engine
    """The engine the adapters use, or its sync face: where a cursor-execute listener goes."""
    transactions: Any
    items: Any
    derived: Any
    settings: Any
    writer: Any
    relay: Any
    states: Any
    signals: Any
    evidence: Any
    inbox: Any


POLICY: Final = OutboxPolicy(max_attempts=2, base_delay=dt.timedelta(milliseconds=1), archive=True)


@attrs.frozen
class _Twins:
    """The adapter classes of one mode, sync or async."""

    create_engine: Callable[[DatabaseConfig], Any]
    transactions: Callable[..., Any]
    repository: Callable[..., Any]
    writer: Callable[..., Any]
    relay: Callable[..., Any]
    states: Callable[..., Any]
    signals: Callable[..., Any]
    evidence: Callable[..., Any]
    inbox: Callable[..., Any]


TWINS: Final = {
    "sync": _Twins(
        create_engine,
        SqlAlchemyTransactionManager,
        SqlAlchemyRepository,
        SqlAlchemyOutboxWriter,
        SqlAlchemyOutboxRelayStore,
        SqlAlchemyAgentStateStore,
        SqlAlchemySignalQueue,
        SqlAlchemyEvidenceLog,
        SqlAlchemyInbox,
    ),
    "async": _Twins(
        create_async_engine,
        AsyncSqlAlchemyTransactionManager,
        AsyncSqlAlchemyRepository,
        AsyncSqlAlchemyOutboxWriter,
        AsyncSqlAlchemyOutboxRelayStore,
        AsyncSqlAlchemyAgentStateStore,
        AsyncSqlAlchemySignalQueue,
        AsyncSqlAlchemyEvidenceLog,
        AsyncSqlAlchemyInbox,
    ),
}


@contextlib.asynccontextmanager
async def adapters(database: Database, mode: str) -> AsyncIterator[Adapters]:
    tables = database.tables
    sync_engine = create_engine(database.config)
    twins = TWINS[mode]
    engine = twins.create_engine(database.config)
    transactions = twins.transactions(engine)
    built = Adapters(
        tables,
        engine,
        sync_engine,
        engine if mode == "sync" else engine.sync_engine,
        transactions,
        twins.repository(tables.items, transactions),
        twins.repository(tables.derived, transactions),
        twins.repository(tables.settings, transactions),
        twins.writer(tables.outbox, transactions),
        twins.relay(tables.outbox, transactions, policy=POLICY),
        twins.states(tables.agents, transactions),
        twins.signals(tables.agents, transactions),
        twins.evidence(tables.agents, transactions),
        twins.inbox(tables.inbox, transactions, consumer=f"consumer {WEIRD}"),
    )
    _empty(sync_engine, tables)
    try:
        yield built
    finally:
        sync_engine.dispose()
        result = engine.dispose()
        if inspect.isawaitable(result):
            await result


@contextlib.contextmanager
def watched(engine: Engine, path: str) -> Iterator[list[str]]:
    """On the ``watched`` path every statement goes through SQLAlchemy (the fast paths turned off), seen by a listener."""
    statements: list[str] = []
    if path == "fast":
        yield statements
        return

    def before(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    engine.update_execution_options(**{FAST_PATHS_EXECUTION_OPTION: False})
    try:
        yield statements
    finally:
        engine.update_execution_options(**{FAST_PATHS_EXECUTION_OPTION: True})
        event.remove(engine, "before_cursor_execute", before)


def _canary_lives(engine: Engine) -> bool:
    return sqlalchemy.inspect(engine).has_table(CANARY)


@pytest.fixture
def driver_steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the psycopg fast path's steps as they run (COPY, queries, executemany)."""
    ran: list[str] = []
    for step in (CopyRows, DriverExecuteMany, DriverQuery):
        for method in ("run", "run_async", "run_bridged"):
            original = getattr(step, method)

            def record(self: Any, original: Any = original) -> Any:
                ran.append(type(self).__name__)
                return original(self)

            monkeypatch.setattr(step, method, record)
    return ran


def _check_paths(
    database: Database,
    path: str,
    statements: list[str],
    driver_steps: list[str],
    *expected: str,
    mariadb: tuple[str, ...] = (),
) -> None:
    """The listener saw statements on the watched path only; PostgreSQL's fast path ran the ``expected`` steps, MariaDB's ``mariadb``."""
    assert (path == "watched") == bool(statements)
    fast_postgresql = path == "fast" and database.tables.metadata.schema is not None
    fast_mariadb = path == "fast" and database.config.url.startswith("mariadb")
    if fast_postgresql:
        assert set(expected) <= set(driver_steps)
    elif fast_mariadb:
        assert set(driver_steps) == set(mariadb)
    else:
        assert driver_steps == []


MODES: Final = pytest.mark.parametrize("mode", ["sync", "async"])
PATHS: Final = pytest.mark.parametrize("path", ["fast", "watched"])


# -- repositories -------------------------------------------------------------------------------


def _item(index: int) -> Item:
    return Item(
        uuid.uuid4(),
        f"note {index} {WEIRD}",
        decimal.Decimal(f"{index}.25"),
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=index),
        [WEIRD, str(index)],
    )


async def _exercise_repositories(built: Adapters) -> None:
    items, transactions = built.items, built.transactions
    one = _item(0)
    batch = [_item(index) for index in range(1, BATCH + 1)]
    async with begin(transactions):
        saved = await call(items.save, one)
        assert await call(items.get, one.id) == saved
        assert await call(items.get_or_none, uuid.uuid4()) is None
        assert await call(items.contains, one.id)
        updated = await call(items.save, attrs.evolve(saved, note="updated"))
        few = await call(items.save_all, batch[:3])  # an INSERT
        many = await call(items.save_all, batch[3:])  # COPY on PostgreSQL's fast path
    async with begin(transactions):
        everything = [updated, *few, *many]
        assert await call(items.range, [item.id for item in everything]) == everything
        changed = await call(items.save_all, [attrs.evolve(item, note="again") for item in few])
        assert [item.version for item in changed] == [2, 2, 2]
        await call(items.delete, changed[0])
        await call(items.delete_all, changed[1:])
        assert not await call(items.contains, changed[0].id)
    with pytest.raises(VersionConflictError):
        async with begin(transactions):
            await call(items.save, saved)  # stale: its version was moved on
    with pytest.raises(DuplicateEntityError):
        async with begin(transactions):
            await call(
                items.save_all,
                [*[_item(index) for index in range(100, 100 + BATCH)], attrs.evolve(many[0], version=0)],
            )
    async with begin(transactions):
        derived = await call(built.derived.save, Dérivé(uuid.uuid4(), WEIRD))
        assert await call(built.derived.range, [derived.id]) == [derived]
        await call(built.settings.save, Setting(WEIRD, "first"))
        await call(built.settings.save, Setting(WEIRD, "second"))  # the upsert
        await call(built.settings.save_all, [Setting(WEIRD, "third"), Setting("other", WEIRD)])
        assert await call(built.settings.get, WEIRD) == Setting(WEIRD, "third")


# -- queries -----------------------------------------------------------------------------------

NOTE: Final = field_ref(Item, lambda item: item.note)
AMOUNT: Final = field_ref(Item, lambda item: item.amount)
AT: Final = field_ref(Item, lambda item: item.at)
LIBELLÉ: Final = field_ref(Dérivé, lambda item: item.libellé_très_long_pour_atteindre_la_limite_des_noms)


async def collect(stream: Any) -> list[Any]:
    """Every aggregate of a sync or async stream, which is then closed."""
    if hasattr(stream, "__aiter__"):
        try:
            return [item async for item in stream]
        finally:
            await stream.aclose()
    with contextlib.closing(stream):
        return list(stream)


async def _exercise_queries(built: Adapters) -> None:
    items, transactions = built.items, built.transactions
    batch = [_item(index) for index in range(1, 11)]
    async with begin(transactions):
        saved = await call(items.save_all, batch)
        derived = await call(built.derived.save, Dérivé(uuid.uuid4(), WEIRD))
    by_amount = sorted(saved, key=lambda item: item.amount, reverse=True)
    weird = Query(
        Item,
        where=NOTE.contains(WEIRD) & NOTE.startswith("note ") & AMOUNT.gt(decimal.Decimal("2.25")),
        order_by=[AMOUNT.desc(), AT.asc()],
    )
    async with begin(transactions):
        assert await call(items.find, weird) == by_amount[:-2]  # 1.25 and 2.25 are not above 2.25
        assert await call(items.find, weird, limit=3) == by_amount[:3]
        assert await call(items.first, weird) == by_amount[0]
        assert await call(items.count, weird) == 8
        assert await call(items.exists, Query(Item, where=NOTE.eq(f"note 5 {WEIRD}")))
        assert not await call(items.exists, Query(Item, where=AT.lt(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))))
        assert (
            await call(items.count, Query(Item, where=AMOUNT.in_([item.amount for item in saved[:3]]))) == 3
        )
        first = await call(items.page, weird, size=5)
        rest = await call(items.page, weird, size=5, after=first.next_cursor)
        assert [*first.items, *rest.items] == by_amount[:-2]
        assert await collect(items.stream(weird, chunk_size=3)) == by_amount[:-2]
        assert await call(built.derived.find, Query(Dérivé, where=LIBELLÉ.eq(WEIRD))) == [derived]
        assert await call(items.delete_where, NOTE.contains(WEIRD) & ~AMOUNT.gt(decimal.Decimal("2.25"))) == 2
        assert await call(items.count, Query(Item)) == 8


# -- the inbox ---------------------------------------------------------------------------------


async def _exercise_inbox(built: Adapters) -> None:
    message_id = uuid.uuid4()
    async with begin(built.transactions):
        assert await call(built.inbox.record, message_id)
        assert not await call(built.inbox.record, message_id)
    async with begin(built.transactions):
        assert not await call(built.inbox.record, message_id)
        assert await call(built.inbox.record, uuid.uuid4())
    async with begin(built.transactions):
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        assert await call(built.inbox.purge, received_before=later) == 2
        assert await call(built.inbox.record, message_id)


@pytest.mark.postgresql
def test_copy_into_a_table_named_as_an_injection_copies_into_that_table(postgresql_engine: Engine) -> None:
    metadata = MetaData()
    mapping = Schema(metadata=metadata).map(
        EntitySpec(Dérivé, key="id", version="version", key_type=uuid.UUID), table=INJECTION
    )
    decoy = Table(
        "hx_t", metadata, *[Column(c.name, c.type, primary_key=c.primary_key) for c in mapping.columns]
    )
    with postgresql_engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {CANARY}"))
        connection.execute(text(f"CREATE TABLE {CANARY} (x INTEGER)"))
    metadata.drop_all(postgresql_engine)
    metadata.create_all(postgresql_engine)
    try:
        transactions = SqlAlchemyTransactionManager(postgresql_engine)
        repository = SqlAlchemyRepository(mapping, transactions)
        with transactions.begin():
            saved = repository.save_all([Dérivé(uuid.uuid4(), str(index)) for index in range(100)])  # COPY
        with transactions.begin():
            assert repository.range([item.id for item in saved]) == saved
        with postgresql_engine.connect() as connection:
            assert (
                connection.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(decoy)).scalar()
                == 0
            )
        assert _canary_lives(postgresql_engine)
    finally:
        metadata.drop_all(postgresql_engine)


# -- the outbox ---------------------------------------------------------------------------------


def _message(index: int, key: str | None = None) -> OutboxMessage:
    return new_message(f"topic {WEIRD}", f"{index}".encode(), headers={WEIRD: WEIRD}, ordering_key=key)


async def _exercise_outbox(built: Adapters) -> None:
    writer, relay = built.writer, built.relay
    async with begin(built.transactions):
        assert await call(writer.add, _message(0))
        assert await call(writer.add_all, [_message(index, key=WEIRD) for index in range(1, 5)]) == 4
    lease = await call(relay.claim, limit=10, lease_for=dt.timedelta(minutes=5))
    assert [message.payload for message in lease.messages] == [b"0", b"1"]  # the key's first only
    first, second = lease.messages
    assert first.headers == {WEIRD: WEIRD}
    assert (await call(relay.acknowledge, lease, [first.id])).done == 1  # archived
    assert (await call(relay.reject, lease, second.id, WEIRD, retry_after=dt.timedelta(0))).done == 1
    again = await call(relay.claim, limit=10, lease_for=dt.timedelta(minutes=5))
    assert [message.payload for message in again.messages] == [b"1"]
    assert (await call(relay.release, again, [again.messages[0].id])).done == 1
    again = await call(relay.claim, limit=10, lease_for=dt.timedelta(minutes=5))
    assert (await call(relay.dead_letter, again, again.messages[0].id, WEIRD)).done == 1
    letters = await call(relay.dead_letters)
    assert [letter.error for letter in letters] == [WEIRD]
    assert await call(relay.requeue, [letters[0].message.id]) == 1

    def publish(messages: Any) -> list[PublishResult]:
        return [PublishResult(message.id) for message in messages]

    delivered = 0
    while (result := await call(relay.deliver, publish, limit=10)).messages:
        delivered += result.published
    assert delivered == 4
    stats = await call(relay.stats)
    assert (stats.pending, stats.leased, stats.dead) == (0, 0, 0)
    assert (
        await call(relay.purge, dead_before=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == 5
    )  # the archive


@pytest.mark.postgresql
def test_the_notify_trigger_works_on_a_weird_schema(postgresql_database: Database) -> None:
    engine = create_engine(postgresql_database.config)
    try:
        with PostgresNotifyWakeUp(postgresql_database.config, schema=SCHEMA_NAME) as wake_up:
            wake_up.wait(0.01)  # listening from now on, and asleep
            assert not wake_up.wait(0.01)
            with engine.begin() as connection:
                connection.execute(
                    postgresql_database.tables.outbox.messages.insert().values(
                        id=uuid.uuid4(),
                        topic="t",
                        payload=b"",
                        headers={},
                        created_at=dt.datetime.now(dt.UTC),
                        available_at=dt.datetime.now(dt.UTC),
                        attempts=0,
                    )
                )
            assert wake_up.wait(5)
    finally:
        _empty(engine, postgresql_database.tables)
        engine.dispose()


# -- the agent stores ---------------------------------------------------------------------------


async def _exercise_agents(built: Adapters) -> None:
    states, signals, evidence = built.states, built.signals, built.evidence
    agent = f"agent {WEIRD}"
    async with begin(built.transactions):
        state = await call(states.save, new_agent_state(agent, WEIRD, metadata={WEIRD: WEIRD}))
        other = await call(states.save, new_agent_state(f"{agent} 2", WEIRD))
        state = await call(states.save, attrs.evolve(state, status=AgentStatus.ACTIVE))
        assert await call(states.get, agent) == state
        assert await call(states.get_or_none, "nobody") is None
        assert [s.id for s in (await call(states.list_by_status, AgentStatus.ACTIVE)).items] == [agent]
        assert [s.id for s in (await call(states.list_resume_candidates)).items] == [agent]
    lease = await call(states.claim_resumable, WEIRD, lease_for=dt.timedelta(minutes=5))
    assert lease is not None and lease.agent_id == agent
    lease = await call(states.extend, lease, lease_for=dt.timedelta(minutes=10))
    async with begin(built.transactions):
        state = await call(states.save_owned, attrs.evolve(lease.state, reason=WEIRD), lease)
        sent = await call(
            signals.send, new_signal(agent, SignalKind.USER_MESSAGE, WEIRD, idempotency_key=WEIRD)
        )
        assert (
            await call(signals.send, new_signal(agent, SignalKind.USER_MESSAGE, idempotency_key=WEIRD))
            == sent
        )
        cancel = await call(signals.send, new_signal(agent, SignalKind.CANCEL))
        assert [s.id for s in await call(signals.list_pending, agent)] == [sent.id, cancel.id]
        assert await call(signals.pending_count, agent) == 2
        consumed = await call(signals.consume, agent, [SignalKind.USER_MESSAGE])
        assert [s.id for s in consumed] == [sent.id]
        with pytest.raises(EntityNotFoundError):
            await call(signals.send, new_signal("nobody", SignalKind.CANCEL))
    assert await call(states.release, lease)
    async with begin(built.transactions):
        entry = await call(
            evidence.append, new_evidence(agent, EvidenceKind.NOTE, {WEIRD: WEIRD}, manifest_ref=WEIRD)
        )
        many = [new_evidence(agent, EvidenceKind.OBSERVATION, index) for index in range(40)]  # executemany
        await call(evidence.append_all, many)
        await call(
            evidence.append_all,
            [new_evidence(agent, EvidenceKind.DECISION), new_evidence(other.id, EvidenceKind.DECISION)],
        )
        assert await call(evidence.get, entry.id) == entry
        assert len(await call(evidence.list_by_agent, agent, limit=100)) == 42
        assert (await call(evidence.last, agent, kind=EvidenceKind.NOTE)) == entry
        assert [e.id for e in (await call(evidence.list_by_manifest_ref, WEIRD)).items] == [entry.id]
        assert (await call(evidence.verify, agent)).ok
    with pytest.raises(ConstraintViolationError):  # the append-only triggers
        async with begin(built.transactions):
            connection = built.transactions.connection()
            statement = built.tables.agents.evidence.update().values(summary=WEIRD)
            await call(connection.execute, statement)


# -- every call, on every path -------------------------------------------------------------------

EXERCISES: Final = {
    "repositories": (
        _exercise_repositories,
        ("CopyRows", "DriverExecuteMany", "DriverQuery"),
        ("DriverExecuteMany", "DriverQuery"),  # MariaDB: the multi-row INSERT and the updates; the reads
    ),
    "queries": (_exercise_queries, ("DriverQuery",), ()),
    "inbox": (_exercise_inbox, (), ()),
    "outbox": (_exercise_outbox, ("DriverQuery",), ()),
    "agents": (_exercise_agents, ("DriverQuery",), ()),
}
"""Each group of calls, and the fast-path steps it runs on PostgreSQL's fast path and on MariaDB's."""


@MODES
@PATHS
@pytest.mark.parametrize("calls", list(EXERCISES))
async def test_every_call_works_on_weird_names(
    database: Database, mode: str, path: str, calls: str, driver_steps: list[str]
) -> None:
    exercise, expected, on_mariadb = EXERCISES[calls]
    async with adapters(database, mode) as built:
        with watched(built.watched_engine, path) as statements:
            await exercise(built)
        _check_paths(database, path, statements, driver_steps, *expected, mariadb=on_mariadb)
        assert _canary_lives(built.sync_engine)


# -- prefixes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [outbox_tables, agent_tables])
def test_a_prefix_too_long_for_the_names_made_from_it_is_refused(make: Callable[..., object]) -> None:
    make(MetaData(), prefix="p" * 42)
    with pytest.raises(ConfigError, match=r"prefix.*43 bytes.*63 bytes.*at most 42 bytes") as refused:
        make(MetaData(), prefix="p" * 43)
    assert refused.value.value == "p" * 43
    with pytest.raises(ConfigError, match="at most 42 bytes"):
        make(MetaData(), prefix="é" * 22)  # 44 bytes
    with pytest.raises(ConfigError, match="at most 42 bytes"):
        make(MetaData(), prefix="p" * 100)


ENGINES: Final = pytest.mark.parametrize(
    "engine_name", [pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"]
)


@ENGINES
def test_the_longest_prefix_creates_its_tables(request: pytest.FixtureRequest, engine_name: str) -> None:
    engine: Engine = request.getfixturevalue(f"{engine_name}_engine")
    metadata = MetaData()
    outbox_tables(metadata, prefix="p" * 42, archive=True)
    agent_tables(metadata, prefix="q" * 42)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        names = set(sqlalchemy.inspect(engine).get_table_names())
        assert {table.name for table in metadata.sorted_tables} <= names
    finally:
        metadata.drop_all(engine)


@pytest.mark.parametrize("name", ["hx_" + "é" * 30 + "e", "e" * 64, "e" * 52])
def test_mariadb_append_only_triggers_on_a_long_table_name_get_distinct_names(
    mariadb_engine: Engine, name: str
) -> None:
    metadata = MetaData()
    table = sqlalchemy.Table(name, metadata, sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True))
    metadata.drop_all(mariadb_engine)
    metadata.create_all(mariadb_engine)
    try:
        statements = append_only_statements(table, "mariadb")
        assert len({statement.split(" BEFORE ")[0] for statement in statements}) == 2  # distinct names
        with mariadb_engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
            connection.execute(sqlalchemy.insert(table).values(id=1))
        for refused in (sqlalchemy.delete(table), sqlalchemy.update(table).values(id=2)):
            with pytest.raises(ConstraintViolationError, match="append-only"):
                transactions = SqlAlchemyTransactionManager(mariadb_engine)
                with transactions.begin():
                    transactions.connection().execute(refused)
    finally:
        metadata.drop_all(mariadb_engine)  # the triggers go with the table


@pytest.mark.postgresql
@pytest.mark.parametrize("name", [LONG_TABLE_NAME, "e" * 63, "e" * 52])
def test_append_only_triggers_on_a_long_table_name_get_distinct_names(
    postgresql_engine: Engine, name: str
) -> None:
    metadata = MetaData()
    table = sqlalchemy.Table(name, metadata, sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True))
    metadata.drop_all(postgresql_engine)
    metadata.create_all(postgresql_engine)
    try:
        with postgresql_engine.begin() as connection:
            for statement in append_only_statements(table, "postgresql"):
                connection.exec_driver_sql(statement)
            connection.execute(sqlalchemy.insert(table).values(id=1))
        with (
            pytest.raises(sa_exc.DBAPIError, match="append-only"),
            postgresql_engine.begin() as connection,
        ):
            connection.execute(sqlalchemy.delete(table))
    finally:
        metadata.drop_all(postgresql_engine)  # the triggers go with the table, then the function
        with postgresql_engine.begin() as connection:
            for statement in BACKEND.drop_append_only_statements(table, postgresql_engine.dialect):
                connection.exec_driver_sql(statement)
