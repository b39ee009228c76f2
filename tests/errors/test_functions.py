"""No raw error escapes any public function, or any public class outside the adapter worlds, whatever junk it is given.

The subjects are found in the packages' ``__all__``: every function, and every class that is
not a protocol, an error, an enum or a plain value type. A class that is none of these and
that no test here or in ``test_adapters.py`` probes fails
:func:`test_every_public_class_is_probed_or_a_value`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import importlib
import inspect
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
import sqlalchemy

from hexalchemy.outbox import EventSerializer, RelaySettings
from hexalchemy.ports import (
    ColumnOptions,
    EntitySpec,
    EvidenceKind,
    InvalidArgumentError,
    IsolationLevel,
    Lease,
    PublishResult,
    SignalKind,
)
from hexalchemy.pytest_plugin.clock import MovableClock
from hexalchemy.retry import RetryPolicy
from hexalchemy.rules import (
    OutboxPolicy,
    default_route,
    field_ref,
    new_agent_state,
    new_evidence,
    new_message,
    new_signal,
    rule_for,
)
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    OpenTelemetryHook,
    Schema,
    create_engine,
    outbox_tables,
)
from hexalchemy.testing import (
    AsyncInMemoryTransactionManager,
    InMemoryEvidenceLog,
    InMemoryTransactionManager,
)
from tests.errors.junk import JUNK
from tests.errors.probe import NO_GOOD_VALUE, Probe, Subject, SyncWorld, public_methods
from tests.errors.samples import ITEMS, NOTES, Item, Note
from tests.untyped import untyped

PACKAGES: Final = (
    "hexalchemy.ports",
    "hexalchemy.rules",
    "hexalchemy.sqlalchemy",
    "hexalchemy.testing",
    "hexalchemy.outbox",
    "hexalchemy.agents",
    "hexalchemy.retry",
    "hexalchemy.cli",
    "hexalchemy.pytest_plugin",
    "hexalchemy.brokers.consuming",
    "hexalchemy.brokers.redis",
    "hexalchemy.brokers.nats",
    "hexalchemy.brokers.rabbitmq",
    "hexalchemy.sqlalchemy.outbox_notify",
)

PROBED_IN_WORLDS: Final = frozenset(
    {
        # tests/errors/worlds.py builds one of each, in every family
        "InMemoryTransactionManager", "AsyncInMemoryTransactionManager",
        "InMemoryRepository", "AsyncInMemoryRepository",
        "InMemoryOutboxWriter", "AsyncInMemoryOutboxWriter",
        "InMemoryOutboxRelayStore", "AsyncInMemoryOutboxRelayStore",
        "InMemoryAgentStateStore", "AsyncInMemoryAgentStateStore",
        "InMemorySignalQueue", "AsyncInMemorySignalQueue",
        "InMemoryEvidenceLog", "AsyncInMemoryEvidenceLog",
        "CollectingPublisher", "AsyncCollectingPublisher",
        "SqlAlchemyTransactionManager", "AsyncSqlAlchemyTransactionManager",
        "SqlAlchemyRepository", "AsyncSqlAlchemyRepository",
        "SqlAlchemyOutboxWriter", "AsyncSqlAlchemyOutboxWriter",
        "SqlAlchemyOutboxRelayStore", "AsyncSqlAlchemyOutboxRelayStore",
        "SqlAlchemyAgentStateStore", "AsyncSqlAlchemyAgentStateStore",
        "SqlAlchemySignalQueue", "AsyncSqlAlchemySignalQueue",
        "SqlAlchemyEvidenceLog", "AsyncSqlAlchemyEvidenceLog",
        "PostgresNotifyWakeUp", "AsyncPostgresNotifyWakeUp",
        "EventRecordingRepository", "AsyncEventRecordingRepository",
        "OutboxRelay", "AsyncOutboxRelay",
        "LoggingPublisher", "AsyncLoggingPublisher",
        "Schema",
    }
)  # fmt: skip
"""Classes probed by ``test_adapters.py``."""

PROBED_HERE: Final = frozenset(
    {
        "DatabaseConfig",
        "RetryPolicy",
        "OutboxPolicy",
        "RelaySettings",
        "EventSerializer",
        "RowMapping",
        "TableMapping",
        "EntitySpec",
        "FieldRef",
        "OpenTelemetryHook",
        "MovableClock",
        # the broker adapters (_broker_subjects)
        "RedisStreamPublisher",
        "AsyncRedisStreamPublisher",
        "AsyncJetStreamPublisher",
        "AsyncRabbitMQPublisher",
        "RedisStreamConsumer",
        "AsyncRedisStreamConsumer",
        "InboxHandler",
        "AsyncInboxHandler",
    }
)
"""Classes probed below (constructor and methods, see :func:`_subjects`)."""

NOT_PROBED: Final = {
    "TransactionCore": "the transaction plans, exported for adapters built on hexalchemy's; they hand it checked arguments",
    "TransactionState": "a value: a transaction's connection and nesting, made by TransactionCore",
    "ExactDecimal": "a SQLAlchemy column type: SQLAlchemy calls its methods, with the mapping's checked values",
    "UtcDateTime": "a SQLAlchemy column type: SQLAlchemy calls its methods, with the mapping's checked values",
    "RelayPolicy": "a protocol (what the in-memory relay store needs of its policy)",
    "EntityDomain": "an entity's value rules, compiled for the in-memory repository, which hands them checked aggregates",
    "SqlAlchemyInbox": "its constructor checks through rules.inbox (check_consumer, probed with the functions) "
    "and its calls through new_inbox_entry (probed too); the inbox contract covers the refusals in a transaction",
    "AsyncSqlAlchemyInbox": "as SqlAlchemyInbox",
    "InMemoryInbox": "as SqlAlchemyInbox, over the same rules",
    "AsyncInMemoryInbox": "as SqlAlchemyInbox, over the same rules",
    "CheckedQuery": "a checked query, built by QueryRules.check_query from the parts it checked; adapters read it",
    "QueryRules": "an entity's query rules, for adapters: check_query and check_condition_of are probed through "
    "every repository's find, count, page, stream and delete_where (test_adapters.py); the rest take what they return",
    "MemoryHarness": "the pytest plugin's harness: no argument; its methods are the in-memory adapters' (probed)",
    "AsyncMemoryHarness": "as MemoryHarness",
    "SqlHarness": "the pytest plugin's harness, built by its fixtures from their own engine and the checked "
    "hexalchemy_schema; its constructor checks both (tests/pytest_plugin), its repositories are the SQL adapters (probed)",
    "AsyncSqlHarness": "as SqlHarness",
    "MemoryOutboxHarness": "the outbox contracts' harness: its policy goes to the in-memory relay store, which checks it "
    "(probed); its writer and relay store are the in-memory adapters (probed)",
    "AsyncMemoryOutboxHarness": "as MemoryOutboxHarness",
    "SqlOutboxHarness": "the outbox contracts' harness: engine, tables and policy go to the SQL writer and relay store, "
    "which check them (probed)",
    "AsyncSqlOutboxHarness": "as SqlOutboxHarness",
    "MemoryAgentHarness": "the agent-store contracts' harness: no argument; advance is MovableClock's (probed), "
    "tamper the in-memory evidence log's",
    "AsyncMemoryAgentHarness": "as MemoryAgentHarness",
    "Backend": "the interface a database module implements; the adapters call it with checked arguments, "
    "and its entry point backend_for is probed with the functions",
}
"""Public classes not probed, and why."""


def _is_value_type(cls: type[object]) -> bool:
    """Protocols, errors, enums and attrs value types: nothing to call but a constructor that holds what it is given."""
    if getattr(cls, "_is_protocol", False) or issubclass(cls, BaseException | enum.Enum):
        return True
    if not attrs.has(cls) or cls.__name__ in PROBED_HERE:
        return False
    return not any(attribute.validator or attribute.converter for attribute in attrs.fields(cls))


def _public(package: str) -> Iterator[tuple[str, object]]:
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", ()):
        yield name, getattr(module, name)


def test_every_public_class_is_probed_or_a_value() -> None:
    unprobed = [
        f"{package}.{name}"
        for package in PACKAGES
        for name, obj in _public(package)
        if inspect.isclass(obj)
        and not _is_value_type(obj)
        and name not in PROBED_IN_WORLDS | PROBED_HERE
        and name not in NOT_PROBED
    ]
    assert not unprobed, f"probe these (tests/errors) or say why not (NOT_PROBED): {unprobed}"


# -- the world of functions -----------------------------------------------------------------------


_CHECK_OPTIONS: Final = frozenset(
    {"name", "error", "kind", "minimum", "maximum", "methods", "allow_zero", "field", "parse"}
)
"""The options of the shared checks (error class, bounds, names): their author's constants, not caller input."""


def _probed(method: str, parameter: str) -> bool:
    return parameter not in _CHECK_OPTIONS or method in ("new_evidence", "new_signal", "check_evidence_kind")


def _valid_environment(method: str, parameter: str, value: object) -> bool:
    """``from_env(environ=None)`` reads ``os.environ``; any mapping of str to str is an
    environment, and any non-empty str a prefix: all valid.

    The error then names the variable that is missing, not the argument, as it should.
    """
    if method != "from_env":
        return False
    if parameter == "prefix":
        return isinstance(value, str) and value != ""
    return parameter == "environ" and (
        value is None
        or (
            isinstance(value, Mapping)
            and all(isinstance(item, str) for pair in value.items() for item in pair)
        )
    )


def _valid_for_another_database(function: str, parameter: str, value: object) -> bool:
    """A valid channel: install_notify_trigger then refuses this world's SQLite connection, which it should."""
    return (
        function == "install_notify_trigger"
        and isinstance(value, str)
        and value.isidentifier()
        and value.isascii()
    )


class FunctionWorld(SyncWorld):
    """The public functions of every package, and the classes that are not adapters; no store of their own."""

    def __init__(self, tmp_path: Path) -> None:
        self.transactions = None
        self.config = DatabaseConfig(url=f"sqlite:///{tmp_path}/functions.db")
        self.engine = create_engine(self.config)
        self.schema = Schema()
        self.mapping = self.schema.map(ITEMS, table="items")
        self.outbox = outbox_tables(sqlalchemy.MetaData(), prefix="hx_functions")
        self.schema.create_all(self.engine)
        self.connection = self.engine.connect()
        memory = InMemoryTransactionManager()
        self.log = InMemoryEvidenceLog(memory)
        self.memory = memory
        goods = _goods(self)
        self.subjects = [
            *(
                Subject(
                    package,
                    importlib.import_module(package),
                    goods,
                    transactional=False,
                    members=_functions(package),
                    probes=_probed,
                    blocks=_valid_for_another_database,
                )
                for package in PACKAGES
            ),
            Subject("DatabaseConfig", self.config, goods, transactional=False, blocks=_valid_environment),
            *(
                Subject(type(obj).__name__, obj, goods, transactional=False)
                for obj in (
                    RetryPolicy(),
                    OutboxPolicy(),
                    RelaySettings(),
                    EventSerializer(),
                    MovableClock(),
                    self.schema.row_mapping(Item),
                )
            ),
            Subject(
                "TableMapping",
                self.mapping,
                goods,
                transactional=False,
                members=lambda: public_methods(self.mapping),
            ),
            Subject("FieldRef", field_ref(Item, lambda item: item.name), goods, transactional=False),
            *_broker_subjects(self),
            Subject("OpenTelemetryHook", OpenTelemetryHook(), goods, transactional=False),
            Subject(
                "EntitySpec",
                ITEMS,
                goods,
                transactional=False,
                members=lambda: iter([("__init__", EntitySpec)]),
            ),
        ]

    def snapshot(self) -> object:
        return None

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


def _functions(package: str) -> Callable[[], Iterator[tuple[str, Callable[..., Any]]]]:
    def members() -> Iterator[tuple[str, Callable[..., Any]]]:
        for name, obj in _public(package):
            if inspect.isfunction(obj):
                yield name, obj

    return members


async def _nothing() -> None:
    return None


def _goods(world: FunctionWorld) -> Callable[[str, str], object]:
    now = dt.datetime.now(dt.UTC)
    entry = new_evidence("agent-1", EvidenceKind.NOTE, {"n": 1})
    message = new_message("topic", b"payload")
    state = new_agent_state("agent-1", "kind")
    values: dict[str, Callable[[], object]] = {
        # the shared checks: good options (only the value is probed)
        "name": lambda: "value",
        "error": lambda: InvalidArgumentError,
        "kind": lambda: int,
        "minimum": lambda: 0,
        "maximum": lambda: 10,
        "check_duration.maximum": lambda: dt.timedelta(days=1),
        "check_seconds.maximum": lambda: dt.timedelta(days=1),
        "methods": lambda: ("get",),
        "allow_zero": lambda: True,
        "value": lambda: 1,
        "clock": lambda: lambda: now,
        # outbox and agent values
        "limit": lambda: 10,
        "lease_for": lambda: dt.timedelta(seconds=30),
        "delta": lambda: dt.timedelta(seconds=1),
        "retry_after": lambda: None,
        "dead_before": lambda: now,
        "lease": lambda: Lease(uuid.uuid4(), now, ()),
        "check_runner_lease.lease": lambda: NO_GOOD_VALUE,
        "id": lambda: "agent-1",
        "check_message_id.id": lambda: uuid.uuid4(),
        "ids": lambda: [uuid.uuid4()],
        "publish": lambda: lambda messages: [],
        "topic": lambda: "topic",
        "payload": lambda: b"payload",
        "new_evidence.payload": lambda: {"n": 1},
        "new_signal.payload": lambda: {"n": 1},
        "message": lambda: message,
        "messages": lambda: [message],
        "results": lambda: [PublishResult(message.id)],
        "max_payload_bytes": lambda: 1000,
        "attempts": lambda: 3,
        "text": lambda: "12",
        "agent_id": lambda: "agent-1",
        "agent_type": lambda: "kind",
        "runner": lambda: "runner",
        "after": lambda: None,
        "after_sequence": lambda: 0,
        "accepted_kinds": lambda: [SignalKind.CANCEL],
        "new_evidence.kind": lambda: EvidenceKind.NOTE,
        "new_signal.kind": lambda: SignalKind.CANCEL,
        "check_evidence_kind.kind": lambda: EvidenceKind.NOTE,
        "entry": lambda: entry,
        "entries": lambda: [entry],
        "signal": lambda: new_signal("agent-1", SignalKind.CANCEL),
        "state": lambda: state,
        "evidence": lambda: [entry],
        "log": lambda: world.log,
        "sequence": lambda: 1,
        "previous_hash": lambda: None,
        "read_only": lambda: False,
        "isolation_level": lambda: IsolationLevel.SERIALIZABLE,
        # configuration, tables, engines
        "config": lambda: world.config,
        "target": lambda: sqlalchemy.MetaData(),
        "prefix": lambda: "hx_t",
        "table": lambda: world.outbox.messages,
        "table_name": lambda: "hx_table",
        "dialect_name": lambda: "sqlite",
        "dialect": lambda: "sqlite",
        "channel": lambda: "hx_channel",
        "url": lambda: "sqlite:///:memory:",
        "environ": lambda: {"HEXALCHEMY_DATABASE_URL": "sqlite:///:memory:"},
        "from_env.prefix": lambda: "HEXALCHEMY_",
        "cls": lambda: Item,
        "entity": lambda: Item,
        "path": lambda: lambda item: item.name,
        "__init__.field": lambda: field_ref(Item, lambda item: item.name).field,
        "values": lambda: ["x"],
        "startswith.prefix": lambda: "x",
        "spec": lambda: NOTES,
        "aggregate": lambda: Item(1, "x"),
        "messages.events": lambda: [],
        "messages.aggregate": lambda: Note(1, "x"),
        "publisher_raised.error": lambda: ValueError("the broker is down"),
        "run_in_transaction_async.transactions": lambda: AsyncInMemoryTransactionManager(),
        "run_in_transaction_async.work": lambda: _nothing,
        "run_in_transaction_async.sleep": lambda: asyncio.sleep,
        "entity_type": lambda: Item,
        "rule_for.field": lambda: "name",
        "stored_server_default.field": lambda: "name",
        "stored_server_default.options": lambda: ColumnOptions(server_default="x"),
        "normalize_json.field": lambda: "payload",
        "bind_rule.field": lambda: "name",
        "python_type": lambda: str,
        "options": lambda: None,
        "declared_scale.options": lambda: ColumnOptions(precision=10, scale=2),
        "optional": lambda: False,
        "rule": lambda: rule_for(Item, "name", str, None, optional=False),
        "value_object_rule.cls": lambda: Item,
        "tp": lambda: int,
        "connection": lambda: world.connection,
        "rows": lambda: [],
        "key": lambda: "id",
        "changed_columns.mask": lambda: 0,
        "engine": lambda: world.engine,
        "hook": lambda: lambda statement: None,
        # retry and relay
        "transactions": lambda: world.memory,
        "work": lambda: lambda: None,
        "policy": lambda: RetryPolicy(),
        "retry": lambda: 1,
        "failures": lambda: 1,
        "idle_polls": lambda: 1,
        "argv": lambda: ["outbox", "stats", "--url", "sqlite:///:memory:"],
        # the inbox and the broker routes
        "consumer": lambda: "billing",
        "message_id": lambda: uuid.uuid4(),
        "received_at": lambda: now,
        "schema": lambda: Schema(),
        "inbox_mapping.table": lambda: "hx_inbox",
        "route": lambda: default_route,
        "headers": lambda: {},
        # tracing
        "tracer_provider": lambda: None,
        # the broker helpers
        "stream_entry.stream": lambda: "hx-probe",
        "stream_entry.entry_id": lambda: "1-0",
        "stream_entry.fields": lambda: {},
        "handle_jetstream.handler": lambda: _handler_async(),
        "handle_jetstream.message": lambda: _nats_message(),
        "handle_rabbitmq.handler": lambda: _handler_async(),
        "handle_rabbitmq.message": lambda: _rabbitmq_message(),
    }

    def good(method: str, parameter: str) -> object:
        factory = values.get(f"{method}.{parameter}") or values.get(parameter)
        return NO_GOOD_VALUE if factory is None else factory()

    return good


def _handler_async() -> object:
    from hexalchemy.brokers.consuming import AsyncInboxHandler
    from hexalchemy.testing import AsyncInMemoryInbox, AsyncInMemoryTransactionManager

    async def effect(received: object) -> None:
        pass

    memory = AsyncInMemoryTransactionManager()
    return AsyncInboxHandler(memory, AsyncInMemoryInbox(memory, consumer="c"), effect)


def _nats_message() -> object:
    """A JetStream message as a subscription hands it over (never acknowledged: the probe's calls are refused first)."""
    from nats.aio.msg import Msg

    return Msg(_client=untyped(None), subject="hx-probe", data=b"payload", headers={})


def _rabbitmq_message() -> object:
    """A RabbitMQ message as a consumer hands it over (never acknowledged: the probe's calls are refused first)."""
    from aio_pika.message import IncomingMessage
    from aiormq.abc import DeliveredMessage
    from pamqp.commands import Basic
    from pamqp.header import ContentHeader

    delivery = Basic.Deliver(
        consumer_tag="c", delivery_tag=1, redelivered=False, exchange="", routing_key="q"
    )
    header = ContentHeader(body_size=0, properties=Basic.Properties())
    return IncomingMessage(DeliveredMessage(delivery, header, b"", untyped(None)))


def _broker_subjects(world: FunctionWorld) -> list[Subject]:
    """The broker adapters and consumer helpers: built without connecting (their clients connect at first use)."""
    import redis
    import redis.asyncio

    from hexalchemy.brokers.consuming import AsyncInboxHandler, InboxHandler
    from hexalchemy.brokers.nats import AsyncJetStreamPublisher
    from hexalchemy.brokers.rabbitmq import AsyncRabbitMQPublisher
    from hexalchemy.brokers.redis import (
        AsyncRedisStreamConsumer,
        AsyncRedisStreamPublisher,
        RedisStreamConsumer,
        RedisStreamPublisher,
    )
    from hexalchemy.testing import AsyncInMemoryInbox, AsyncInMemoryTransactionManager, InMemoryInbox

    redis_url, message = "redis://127.0.0.1:6379/0", new_message("topic", b"payload")

    async def effect_async(received: object) -> None:
        pass

    async_memory = AsyncInMemoryTransactionManager()
    handler: InboxHandler[Any] = InboxHandler(
        world.memory, InMemoryInbox(world.memory, consumer="c"), lambda received: None
    )
    async_handler: AsyncInboxHandler[Any] = AsyncInboxHandler(
        async_memory, AsyncInMemoryInbox(async_memory, consumer="c"), effect_async
    )
    common: dict[str, Callable[[], object]] = {
        "route": lambda: default_route,
        "messages": lambda: [message],
        "timeout": lambda: 2.0,
        "max_length": lambda: 1000,
        "approximate": lambda: True,
        "dedup_window": lambda: dt.timedelta(days=1),
        "dedup_prefix": lambda: "hx:",
        "stream": lambda: None,
        "exchange": lambda: "",
        "persistent": lambda: True,
        "group": lambda: "g",
        "consumer": lambda: "c",
        "count": lambda: 10,
        "claim_idle": lambda: dt.timedelta(seconds=1),
        "block": lambda: None,
        "message_id": lambda: uuid.uuid4(),
        "message": lambda: message,
        "transactions": lambda: world.memory,
        "inbox": lambda: InMemoryInbox(world.memory, consumer="c"),
        "effect": lambda: lambda received: None,
    }

    def goods(**specific: Callable[[], object]) -> Callable[[str, str], object]:
        values = {**common, **specific}

        def good(method: str, parameter: str) -> object:
            factory = values.get(f"{method}.{parameter}") or values.get(parameter)
            return NO_GOOD_VALUE if factory is None else factory()

        return good

    consumer_goods = {"__init__.stream": lambda: "hx-probe"}
    built: list[tuple[object, Callable[[str, str], object]]] = [
        (RedisStreamPublisher(redis_url), goods(client=lambda: redis_url)),
        (AsyncRedisStreamPublisher(redis_url), goods(client=lambda: redis_url)),
        (AsyncJetStreamPublisher("nats://127.0.0.1:4222"), goods(client=lambda: "nats://127.0.0.1:4222")),
        (
            AsyncRabbitMQPublisher("amqp://guest:guest@127.0.0.1:5672/"),
            goods(connection=lambda: "amqp://guest:guest@127.0.0.1:5672/"),
        ),
        (
            RedisStreamConsumer(
                redis.Redis.from_url(redis_url), handler, stream="hx-probe", group="g", consumer="c"
            ),
            goods(client=lambda: redis.Redis.from_url(redis_url), handler=lambda: handler, **consumer_goods),
        ),
        (
            AsyncRedisStreamConsumer(
                redis.asyncio.Redis.from_url(redis_url),
                async_handler,
                stream="hx-probe",
                group="g",
                consumer="c",
            ),
            goods(
                client=lambda: redis.asyncio.Redis.from_url(redis_url),
                handler=lambda: async_handler,
                **consumer_goods,
            ),
        ),
        (handler, goods()),
        (
            async_handler,
            goods(
                transactions=lambda: async_memory,
                inbox=lambda: AsyncInMemoryInbox(async_memory, consumer="c"),
                effect=lambda: effect_async,
            ),
        ),
    ]
    subjects = [Subject(type(obj).__name__, obj, good, transactional=False) for obj, good in built]
    # an asyncio Redis client belongs to the event loop of its first call, and the probe runs
    # each call on a loop of its own: only the async consumer's constructor is probed (its
    # run_once is the sync one's source, probed above)
    for subject in subjects:
        if subject.name == "AsyncRedisStreamConsumer":
            subject.members = lambda: iter([("__init__", AsyncRedisStreamConsumer)])
    return subjects


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FunctionWorld]:
    built = FunctionWorld(tmp_path)
    yield built
    built.close()


def test_every_public_function_refuses_the_junk_catalogue(world: FunctionWorld) -> None:
    probe = Probe(world)
    for subject, method, function, parameter in list(probe.targets()):
        probe.probe(subject, method, function, parameter.name, JUNK)
    assert not probe.failures, probe.report()
