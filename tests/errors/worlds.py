"""The worlds the probe runs in: every adapter family, wired, seeded, with good values for every parameter.

A world holds one of each public class of an adapter family (memory, SQLite, PostgreSQL;
sync or async): transaction manager, repositories (plain and event-recording), outbox
writer, relay store and relay, agent state store, signal queue, evidence log, test and
logging publishers, and for SQL the schema and the configuration (the PostgreSQL worlds add
the notify wake-up). Its store is seeded so that every call has something to work on: items,
due outbox messages, a held lease, a dead letter, agents, signals and evidence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import sqlalchemy
from sqlalchemy import MetaData, String
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.outbox import (
    AsyncEventRecordingRepository,
    AsyncLoggingPublisher,
    AsyncOutboxRelay,
    EventRecordingRepository,
    LoggingPublisher,
    OutboxRelay,
)
from hexalchemy.ports import (
    AgentStatus,
    EntitySpec,
    EvidenceKind,
    PublishResult,
    Query,
    SignalKind,
)
from hexalchemy.rules import OutboxPolicy, field_ref, new_agent_state, new_evidence, new_signal
from hexalchemy.sqlalchemy import (
    AsyncPostgresNotifyWakeUp,
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemyOutboxRelayStore,
    AsyncSqlAlchemyOutboxWriter,
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemySignalQueue,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    PostgresNotifyWakeUp,
    Schema,
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    SqlAlchemyRepository,
    SqlAlchemySignalQueue,
    SqlAlchemyTransactionManager,
    agent_tables,
    create_async_engine,
    create_engine,
    outbox_tables,
)
from hexalchemy.testing import (
    AsyncCollectingPublisher,
    AsyncInMemoryAgentStateStore,
    AsyncInMemoryEvidenceLog,
    AsyncInMemoryOutboxRelayStore,
    AsyncInMemoryOutboxWriter,
    AsyncInMemoryRepository,
    AsyncInMemorySignalQueue,
    AsyncInMemoryTransactionManager,
    CollectingPublisher,
    InMemoryAgentStateStore,
    InMemoryEvidenceLog,
    InMemoryOutboxRelayStore,
    InMemoryOutboxWriter,
    InMemoryRepository,
    InMemorySignalQueue,
    InMemoryTransactionManager,
    Tamper,
)
from tests.errors._async.seeding import seed_async
from tests.errors._sync.seeding import seed
from tests.errors.probe import NO_GOOD_VALUE, AsyncWorld, Subject, SyncWorld, World
from tests.errors.samples import AGENT, ITEMS, LONG, MANIFEST, NOTES, Item, Note, Seeded, sample_message

__all__ = ["Item", "Note", "build_world"]

ITEM_NAME: Final = field_ref(Item, lambda item: item.name)

_ids = itertools.count(1000)


def _publish(messages: Any) -> list[PublishResult]:
    return [PublishResult(message.id) for message in messages]


async def _publish_async(messages: Any) -> list[PublishResult]:
    return _publish(messages)


def _goods(world: Any, seeded: Seeded, *, is_async: bool) -> dict[str, Mapping[str, Callable[[], object]]]:
    """Good values by subject kind, then by parameter name (``method.parameter`` overrides)."""
    now = dt.datetime.now(dt.UTC)
    publisher = AsyncCollectingPublisher() if is_async else CollectingPublisher()

    def stopped_task_event() -> asyncio.Event:
        event = asyncio.Event()
        event.set()
        return event

    def stopped_thread_event() -> threading.Event:
        event = threading.Event()
        event.set()
        return event

    stop: Callable[[], object] = stopped_task_event if is_async else stopped_thread_event

    def lease() -> object:
        return seeded.lease

    def message_id() -> uuid.UUID:
        identifier: uuid.UUID = seeded.lease.messages[-1].id
        return identifier

    return {
        "transactions": {"error": lambda: None, "__init__.engine": lambda: world.engine},
        "items": {
            "id": lambda: 1,
            "ids": lambda: [1, 2],
            "aggregate": lambda: Item(next(_ids), "item"),
            "aggregates": lambda: [Item(next(_ids), "item")],
            "query": lambda: Query(Item, where=ITEM_NAME.eq("item"), order_by=[ITEM_NAME.asc()]),
            "condition": lambda: ITEM_NAME.eq("no such item"),
            "limit": lambda: 2,
            "size": lambda: 2,
            "after": lambda: None,
            "chunk_size": lambda: 2,
            "__init__.spec": lambda: ITEMS,
            "__init__.mapping": lambda: world.items_mapping,
            "__init__.transactions": lambda: world.transactions,
        },
        "events": {
            "id": lambda: 1,
            "ids": lambda: [1],
            "aggregate": lambda: Note(next(_ids), "note"),
            "aggregates": lambda: [Note(next(_ids), "note")],
            "__init__.repository": lambda: world.notes,
            "__init__.writer": lambda: world.writer,
            "__init__.spec": lambda: NOTES,
        },
        "writer": {
            "message": sample_message,
            "messages": lambda: [sample_message()],
            "__init__.tables": lambda: world.outbox,
            "__init__.transactions": lambda: world.transactions,
        },
        "store": {
            "limit": lambda: 2,
            "lease_for": lambda: LONG,
            "lease": lease,
            "id": message_id,
            "ids": lambda: [message_id()],
            "error": lambda: "refused",
            "publish": lambda: _publish_async if is_async else _publish,
            "dead_before": lambda: now - dt.timedelta(days=1),
            "__init__.tables": lambda: world.outbox,
            "__init__.engine": lambda: world.transactions,
            "__init__.transactions": lambda: world.transactions,
        },
        "relay": {
            "stop": stop,
            "__init__.store": lambda: world.store,
            "__init__.publisher": lambda: publisher,
        },
        "publisher": {
            "messages": lambda: [sample_message()],
            "id": lambda: uuid.uuid4(),
            "error": lambda: "refused",
            "rule": lambda: lambda message: None,
        },
        "states": {
            "id": lambda: AGENT,
            "state": lambda: new_agent_state(f"agent-{next(_ids)}", "kind"),
            "save_owned.state": lambda: seeded.runner_lease.state,
            "lease": lambda: seeded.runner_lease,
            "status": lambda: AgentStatus.ACTIVE,
            "runner": lambda: "runner-1",
            "lease_for": lambda: LONG,
            "__init__.tables": lambda: world.agents,
            "__init__.transactions": lambda: world.transactions,
        },
        "signals": {
            "signal": lambda: new_signal(AGENT, SignalKind.USER_MESSAGE, {"text": "hi"}),
            "agent_id": lambda: AGENT,
            "accepted_kinds": lambda: [SignalKind.USER_MESSAGE],
            "__init__.tables": lambda: world.agents,
            "__init__.transactions": lambda: world.transactions,
        },
        "evidence": {
            "entry": lambda: new_evidence(AGENT, EvidenceKind.NOTE, {"n": 1}, manifest_ref=MANIFEST),
            "entries": lambda: [new_evidence(AGENT, EvidenceKind.NOTE, {"n": 2})],
            "id": lambda: seeded.evidence_id,
            "agent_id": lambda: AGENT,
            "manifest_ref": lambda: MANIFEST,
            "sequence": lambda: 1,
            "how": lambda: Tamper.EDIT,
            "__init__.tables": lambda: world.agents,
            "__init__.transactions": lambda: world.transactions,
        },
        "logging": {"messages": lambda: [sample_message()]},
        "schema": {
            "spec": lambda: EntitySpec(_fresh_class(), key="id"),
            "table": lambda: f"{world.prefix}_mapped_{next(_ids)}",
            "python_type": lambda: Item,
            "column_type": lambda: String(),
            "cls": lambda: Item,
            "create_all.engine": lambda: world.sync_engine,
            "drop_all.engine": lambda: world.sync_engine,
            "create_all_async.engine": lambda: world.engine,
            "drop_all_async.engine": lambda: world.engine,
        },
        "wake_up": {"__init__.database": lambda: world.config, "wait.timeout": lambda: 0.01},
    }


def _fresh_class() -> type[object]:
    """A new attrs class with an int key, for ``Schema.map``."""
    return attrs.make_class(f"Mapped{next(_ids)}", {"id": attrs.field(type=int)})


def _good_for(
    kind: str, table: Mapping[str, Mapping[str, Callable[[], object]]]
) -> Callable[[str, str], object]:
    values = table[kind]

    def good(method: str, parameter: str) -> object:
        factory = values.get(f"{method}.{parameter}")
        if factory is None and method == "__init__":
            factory = values.get(f"__init__.{parameter}")
        if factory is None:
            factory = values.get(parameter)
        return NO_GOOD_VALUE if factory is None else factory()

    return good


# -- the worlds -----------------------------------------------------------------------------------


class _Wiring:
    """The objects of one world, whatever their family."""

    engine: Any = None
    sync_engine: Any = None
    config: DatabaseConfig | None = None
    prefix = ""
    items_mapping: Any = None
    outbox: Any = None
    agents: Any = None
    transactions: Any
    notes: Any
    writer: Any
    store: Any


_OUTSIDE: Final = frozenset({"transactions", "relay", "publisher", "logging", "schema", "wake_up"})
"""Subjects whose calls are never made inside a transaction (they work on their own connections, or none)."""


def _never_blocks(method: str, parameter: str, value: object) -> bool:
    return False


def _waits_forever(method: str, parameter: str, value: object) -> bool:
    """A wake-up's ``wait(None)`` waits for a notification with no time limit, by design."""
    return method == "wait" and parameter == "timeout" and value is None


def _arms_a_commit_failure(method: str, parameter: str, value: object) -> bool:
    """``fail_next_commit(None)`` (or an exception) fails the next commit, by design: the probe would blame the next call."""
    return method == "fail_next_commit" and (value is None or isinstance(value, Exception))


_BLOCKS: Final = {"wake_up": _waits_forever, "transactions": _arms_a_commit_failure}
"""Calls that would block, or break the next call, by design: not made."""


def _subjects(objects: dict[str, object], goods: Mapping[str, Mapping[str, Any]]) -> list[Subject]:
    return [
        Subject(
            f"{type(obj).__name__}[{kind}]",
            obj,
            _good_for(kind, goods),
            transactional=kind not in _OUTSIDE,
            blocks=_BLOCKS.get(kind, _never_blocks),
        )
        for kind, obj in objects.items()
    ]


class _Same:
    """A stored object, equal to another only when it is the very same object (rows are replaced, never changed)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)

    def __repr__(self) -> str:
        return repr(self.value)


def _fields(value: Any) -> tuple[tuple[str, object], ...]:
    """An attrs row's fields, each by identity, but its dicts copied (the relay store's shelf changes them in place)."""
    return tuple(
        (field.name, dict(item) if isinstance(item := getattr(value, field.name), dict) else _Same(item))
        for field in attrs.fields(type(value))
    )


def _memory_snapshot(transactions: Any) -> object:
    """The committed store of an in-memory manager: every table's rows, by identity (the mutable shelf by value)."""
    core = transactions._core
    with core.lock:
        return {
            table: {
                key: _fields(value) if attrs.has(type(value)) else _Same(value) for key, value in rows.items()
            }
            for table, rows in core.committed.items()
        }


class MemoryWorld(SyncWorld, _Wiring):
    """The sync in-memory adapters."""

    def __init__(self) -> None:
        self.transactions = tm = InMemoryTransactionManager()
        self.items = InMemoryRepository(ITEMS, tm)
        self.notes = InMemoryRepository(NOTES, tm)
        self.writer = InMemoryOutboxWriter(tm)
        self.store = InMemoryOutboxRelayStore(tm, policy=OutboxPolicy(max_attempts=1000))
        self.states = InMemoryAgentStateStore(tm)
        self.signals = InMemorySignalQueue(tm)
        self.evidence = InMemoryEvidenceLog(tm)
        self.seeded = seed(self)
        goods = _goods(self, self.seeded, is_async=False)
        self.subjects = _subjects(
            {
                "transactions": tm,
                "items": self.items,
                "events": EventRecordingRepository(self.notes, self.writer, NOTES),
                "writer": self.writer,
                "store": self.store,
                "relay": OutboxRelay(self.store, CollectingPublisher(), batch_size=2),
                "publisher": CollectingPublisher(),
                "logging": LoggingPublisher(),
                "states": self.states,
                "signals": self.signals,
                "evidence": self.evidence,
            },
            goods,
        )

    def snapshot(self) -> object:
        self.store.stats()  # stamps every message with its commit order, which reads leave alone
        return _memory_snapshot(self.transactions)


class AsyncMemoryWorld(AsyncWorld, _Wiring):
    """The async in-memory adapters."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.transactions = tm = AsyncInMemoryTransactionManager()
        self.items = AsyncInMemoryRepository(ITEMS, tm)
        self.notes = AsyncInMemoryRepository(NOTES, tm)
        self.writer = AsyncInMemoryOutboxWriter(tm)
        self.store = AsyncInMemoryOutboxRelayStore(tm, policy=OutboxPolicy(max_attempts=1000))
        self.states = AsyncInMemoryAgentStateStore(tm)
        self.signals = AsyncInMemorySignalQueue(tm)
        self.evidence = AsyncInMemoryEvidenceLog(tm)
        self.seeded = self.loop.run_until_complete(seed_async(self))
        goods = _goods(self, self.seeded, is_async=True)
        self.subjects = _subjects(
            {
                "transactions": tm,
                "items": self.items,
                "events": AsyncEventRecordingRepository(self.notes, self.writer, NOTES),
                "writer": self.writer,
                "store": self.store,
                "relay": AsyncOutboxRelay(self.store, AsyncCollectingPublisher(), batch_size=2),
                "publisher": AsyncCollectingPublisher(),
                "logging": AsyncLoggingPublisher(),
                "states": self.states,
                "signals": self.signals,
                "evidence": self.evidence,
            },
            goods,
        )

    def snapshot(self) -> object:
        self.loop.run_until_complete(self.store.stats())
        return _memory_snapshot(self.transactions)

    def close(self) -> None:
        self.loop.close()


def _sql_schema(prefix: str) -> tuple[Schema, Any, Any, Any, Any]:
    schema = Schema()
    items = schema.map(ITEMS, table=f"{prefix}_items")
    notes = schema.map(NOTES, table=f"{prefix}_notes")
    outbox = outbox_tables(schema.metadata, prefix=f"{prefix}_outbox", archive=True)
    agents = agent_tables(schema.metadata, prefix=f"{prefix}_agents")
    return schema, items, notes, outbox, agents


def _fingerprint_sql(engine: sqlalchemy.Engine, metadata: MetaData) -> str:
    """One statement that gives every table's rows as text (PostgreSQL: a digest of it), in a fixed order."""
    preparer = engine.dialect.identifier_preparer
    parts = []
    for table in metadata.sorted_tables:
        name = preparer.format_table(table)
        label = table.name.replace("'", "''")
        if engine.dialect.name == "postgresql":
            parts.append(
                f"SELECT '{label}', md5(coalesce(string_agg(r.t, ',' ORDER BY r.t), '')) "
                f"FROM (SELECT CAST(x AS text) AS t FROM {name} AS x) AS r"
            )
        else:
            row = " || '|' || ".join(f"quote({preparer.format_column(column)})" for column in table.columns)
            parts.append(
                f"SELECT '{label}', group_concat(r.t, ',') FROM (SELECT {row} AS t FROM {name} ORDER BY 1) AS r"
            )
    return " UNION ALL ".join(parts)


def _snapshot_sql(engine: sqlalchemy.Engine, statement: str) -> object:
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.exec_driver_sql(statement))


class SqlWorld(SyncWorld, _Wiring):
    """The sync SQL adapters on ``config``'s database (tables created afresh, dropped by :meth:`close`)."""

    def __init__(self, config: DatabaseConfig, *, postgresql: bool) -> None:
        self.config = config
        self.prefix = f"hx_err_{uuid.uuid4().hex[:6]}"
        self.schema, self.items_mapping, notes_mapping, self.outbox, self.agents = _sql_schema(self.prefix)
        self.engine = self.sync_engine = create_engine(config)
        self.schema.create_all(self.engine)
        self.fingerprint = _fingerprint_sql(self.engine, self.schema.metadata)
        self.transactions = tm = SqlAlchemyTransactionManager(self.engine)
        self.items = SqlAlchemyRepository(self.items_mapping, tm)
        self.notes = SqlAlchemyRepository(notes_mapping, tm)
        self.writer = SqlAlchemyOutboxWriter(self.outbox, tm)
        self.store = SqlAlchemyOutboxRelayStore(self.outbox, tm, policy=OutboxPolicy(max_attempts=1000))
        self.states = SqlAlchemyAgentStateStore(self.agents, tm)
        self.signals = SqlAlchemySignalQueue(self.agents, tm)
        self.evidence = SqlAlchemyEvidenceLog(self.agents, tm)
        self.seeded = seed(self)
        goods = _goods(self, self.seeded, is_async=False)
        objects: dict[str, object] = {
            "transactions": tm,
            "items": self.items,
            "events": EventRecordingRepository(self.notes, self.writer, NOTES),
            "writer": self.writer,
            "store": self.store,
            "relay": OutboxRelay(self.store, CollectingPublisher(), batch_size=2),
            "states": self.states,
            "signals": self.signals,
            "evidence": self.evidence,
            "schema": Schema(),
        }
        if postgresql:
            objects["wake_up"] = PostgresNotifyWakeUp(config)
        self.subjects = _subjects(objects, goods)

    def snapshot(self) -> object:
        return _snapshot_sql(self.engine, self.fingerprint)

    def ping(self) -> None:
        self.transactions.connection().exec_driver_sql("SELECT 1").all()

    def close(self) -> None:
        for subject in self.subjects:
            if isinstance(subject.obj, PostgresNotifyWakeUp):
                subject.obj.close()
        _drop_everything(self.engine, self.prefix)
        self.engine.dispose()


class AsyncSqlWorld(AsyncWorld, _Wiring):
    """The async SQL adapters on ``config``'s database; snapshots are read with a sync engine."""

    def __init__(self, config: DatabaseConfig, *, postgresql: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.config = config
        self.prefix = f"hx_err_{uuid.uuid4().hex[:6]}"
        self.schema, self.items_mapping, notes_mapping, self.outbox, self.agents = _sql_schema(self.prefix)
        self.sync_engine = create_engine(config)
        self.schema.create_all(self.sync_engine)
        self.fingerprint = _fingerprint_sql(self.sync_engine, self.schema.metadata)
        self.engine: AsyncEngine = create_async_engine(config)
        self.transactions = tm = AsyncSqlAlchemyTransactionManager(self.engine)
        self.items = AsyncSqlAlchemyRepository(self.items_mapping, tm)
        self.notes = AsyncSqlAlchemyRepository(notes_mapping, tm)
        self.writer = AsyncSqlAlchemyOutboxWriter(self.outbox, tm)
        self.store = AsyncSqlAlchemyOutboxRelayStore(self.outbox, tm, policy=OutboxPolicy(max_attempts=1000))
        self.states = AsyncSqlAlchemyAgentStateStore(self.agents, tm)
        self.signals = AsyncSqlAlchemySignalQueue(self.agents, tm)
        self.evidence = AsyncSqlAlchemyEvidenceLog(self.agents, tm)
        self.seeded = self.loop.run_until_complete(seed_async(self))
        goods = _goods(self, self.seeded, is_async=True)
        objects: dict[str, object] = {
            "transactions": tm,
            "items": self.items,
            "events": AsyncEventRecordingRepository(self.notes, self.writer, NOTES),
            "writer": self.writer,
            "store": self.store,
            "relay": AsyncOutboxRelay(self.store, AsyncCollectingPublisher(), batch_size=2),
            "states": self.states,
            "signals": self.signals,
            "evidence": self.evidence,
            "schema": Schema(),
        }
        if postgresql:
            objects["wake_up"] = AsyncPostgresNotifyWakeUp(config)
        self.subjects = _subjects(objects, goods)

    def snapshot(self) -> object:
        return _snapshot_sql(self.sync_engine, self.fingerprint)

    async def ping(self) -> None:
        result = await self.transactions.connection().exec_driver_sql("SELECT 1")
        result.all()

    def close(self) -> None:
        for subject in self.subjects:
            if isinstance(subject.obj, AsyncPostgresNotifyWakeUp):
                self.loop.run_until_complete(subject.obj.close())
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()
        _drop_everything(self.sync_engine, self.prefix)
        self.sync_engine.dispose()


def _drop_everything(engine: sqlalchemy.Engine, prefix: str) -> None:
    """Drop every table whose name starts with ``prefix`` (the world's, and those the schema subject mapped)."""
    metadata = MetaData()
    metadata.reflect(engine, only=lambda name, _: name.startswith(prefix))
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}" CASCADE')
    else:
        metadata.drop_all(engine)


def build_world(family: str, tmp_path: Any, postgresql_url: str | None) -> World:
    """The world of ``family``: memory, async-memory, sqlite, async-sqlite, postgresql, async-postgresql."""
    if family == "memory":
        return MemoryWorld()
    if family == "async-memory":
        return AsyncMemoryWorld()
    is_postgresql = family.endswith("postgresql")
    if is_postgresql:
        assert postgresql_url is not None
        config = DatabaseConfig(url=postgresql_url)
    else:
        config = DatabaseConfig(url=f"sqlite:///{tmp_path}/errors.db")
    if family.startswith("async-"):
        return AsyncSqlWorld(config, postgresql=is_postgresql)
    return SqlWorld(config, postgresql=is_postgresql)
