"""The sync and async twins expose the same public members with the same parameters.

Signatures are compared by ``inspect.signature`` with async-ness removed: ``async def``
versus ``def``, ``Awaitable[X]`` versus ``X``, and ``AsyncX`` versus ``X`` in annotations
(``AsyncIterator``, ``AbstractAsyncContextManager``, ``AsyncTransactionManager``...).

The twins written by hand are compared here: every port and its ``Async`` twin, the SQL
transaction managers. The twins whose sync side is generated from the async one
(``make generate``: the SQL and in-memory adapters, the services and helpers of
``docs/architecture.md``'s table of generated twins) are compared too, as a check of what
the generator wrote, independent of the replacement table of ``[tool.unasyncd]``
(``tests/test_generated_code.py`` checks that they are fresh, ``tests/test_twins_inventory.py``
that no other twin is written by hand unlisted); every adapter, sync or async, is checked
against the port it implements.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import attrs
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine

import hexalchemy.ports
from hexalchemy.agents import decide_from_log, decide_from_log_async
from hexalchemy.outbox import (
    AsyncEventRecordingRepository,
    AsyncLoggingPublisher,
    AsyncOutboxRelay,
    EventRecordingRepository,
    LoggingPublisher,
    OutboxRelay,
)
from hexalchemy.ports import (
    AgentStateStore,
    AsyncAgentStateStore,
    AsyncEvidenceLog,
    AsyncOutboxRelayStore,
    AsyncOutboxWriter,
    AsyncRepository,
    AsyncSignalQueue,
    AsyncTransactionManager,
    EntitySpec,
    EvidenceLog,
    OutboxRelayStore,
    OutboxWriter,
    Repository,
    SignalQueue,
    TransactionManager,
)
from hexalchemy.retry import run_in_transaction, run_in_transaction_async
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
    create_async_engine,
    create_engine,
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
)


def port_twins() -> list[tuple[type[Any], type[Any]]]:
    """Every port of ``hexalchemy.ports`` that has an ``Async`` twin, with that twin."""
    exported = set(hexalchemy.ports.__all__)
    return [
        (getattr(hexalchemy.ports, name[len("Async") :]), getattr(hexalchemy.ports, name))
        for name in sorted(exported)
        if name.startswith("Async") and name[len("Async") :] in exported and name not in _ITERATOR_PORTS
    ]


_ITERATOR_PORTS = frozenset({"AsyncStream"})
"""Twins that differ as Python's generators and async generators do (``close`` / ``aclose``): checked below."""


def test_the_stream_ports_are_closable_iterators_on_each_side() -> None:
    stream, async_stream = hexalchemy.ports.Stream, hexalchemy.ports.AsyncStream
    assert {"__iter__", "__next__", "close"} <= set(vars(stream))
    assert {"__aiter__", "__anext__", "aclose"} <= set(vars(async_stream))


# the twins written by hand (the generated ones are the same by construction)
CLASS_TWINS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyTransactionManager, AsyncSqlAlchemyTransactionManager),
    *port_twins(),
]
CLASS_IDS = [sync.__name__ for sync, _ in CLASS_TWINS]

# the twins whose sync side is generated (the same by construction, if the replacements are right)
GENERATED_TWINS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyRepository, AsyncSqlAlchemyRepository),
    (SqlAlchemyOutboxWriter, AsyncSqlAlchemyOutboxWriter),
    (SqlAlchemyOutboxRelayStore, AsyncSqlAlchemyOutboxRelayStore),
    (SqlAlchemyAgentStateStore, AsyncSqlAlchemyAgentStateStore),
    (SqlAlchemySignalQueue, AsyncSqlAlchemySignalQueue),
    (SqlAlchemyEvidenceLog, AsyncSqlAlchemyEvidenceLog),
    (PostgresNotifyWakeUp, AsyncPostgresNotifyWakeUp),
    (InMemoryTransactionManager, AsyncInMemoryTransactionManager),
    (InMemoryRepository, AsyncInMemoryRepository),
    (InMemoryOutboxWriter, AsyncInMemoryOutboxWriter),
    (InMemoryOutboxRelayStore, AsyncInMemoryOutboxRelayStore),
    (InMemoryAgentStateStore, AsyncInMemoryAgentStateStore),
    (InMemorySignalQueue, AsyncInMemorySignalQueue),
    (InMemoryEvidenceLog, AsyncInMemoryEvidenceLog),
    (CollectingPublisher, AsyncCollectingPublisher),
    (OutboxRelay, AsyncOutboxRelay),
    (LoggingPublisher, AsyncLoggingPublisher),
    (EventRecordingRepository, AsyncEventRecordingRepository),
]
GENERATED_IDS = [sync.__name__ for sync, _ in GENERATED_TWINS]

GENERATED_FUNCTIONS: list[tuple[Callable[..., Any], Callable[..., Any]]] = [
    (run_in_transaction, run_in_transaction_async),
    (decide_from_log, decide_from_log_async),
]

REPOSITORY_TWINS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyRepository, AsyncSqlAlchemyRepository),
    (InMemoryRepository, AsyncInMemoryRepository),
    (Repository, AsyncRepository),
]

# adapter -> the protocol it implements
IMPLEMENTS: list[tuple[type[Any], type[Any]]] = [
    (SqlAlchemyRepository, Repository),
    (AsyncSqlAlchemyRepository, AsyncRepository),
    (InMemoryRepository, Repository),
    (AsyncInMemoryRepository, AsyncRepository),
    (SqlAlchemyTransactionManager, TransactionManager),
    (AsyncSqlAlchemyTransactionManager, AsyncTransactionManager),
    (InMemoryTransactionManager, TransactionManager),
    (AsyncInMemoryTransactionManager, AsyncTransactionManager),
    (SqlAlchemyOutboxWriter, OutboxWriter),
    (AsyncSqlAlchemyOutboxWriter, AsyncOutboxWriter),
    (InMemoryOutboxWriter, OutboxWriter),
    (AsyncInMemoryOutboxWriter, AsyncOutboxWriter),
    (SqlAlchemyOutboxRelayStore, OutboxRelayStore),
    (AsyncSqlAlchemyOutboxRelayStore, AsyncOutboxRelayStore),
    (InMemoryOutboxRelayStore, OutboxRelayStore),
    (AsyncInMemoryOutboxRelayStore, AsyncOutboxRelayStore),
    (SqlAlchemyAgentStateStore, AgentStateStore),
    (AsyncSqlAlchemyAgentStateStore, AsyncAgentStateStore),
    (InMemoryAgentStateStore, AgentStateStore),
    (AsyncInMemoryAgentStateStore, AsyncAgentStateStore),
    (SqlAlchemySignalQueue, SignalQueue),
    (AsyncSqlAlchemySignalQueue, AsyncSignalQueue),
    (InMemorySignalQueue, SignalQueue),
    (AsyncInMemorySignalQueue, AsyncSignalQueue),
    (SqlAlchemyEvidenceLog, EvidenceLog),
    (AsyncSqlAlchemyEvidenceLog, AsyncEvidenceLog),
    (InMemoryEvidenceLog, EvidenceLog),
    (AsyncInMemoryEvidenceLog, AsyncEvidenceLog),
]

_ASYNC_PREFIX = re.compile(r"\bAsync(?=[A-Z])|(?<=[a-z])Async(?=[A-Z])")


def _unwrap(annotation: str, opener: str) -> str:
    """Replace ``Opener[X]`` by ``X`` (bracket-aware), everywhere in ``annotation``."""
    while (start := annotation.find(opener)) != -1:
        depth = 0
        index = start + len(opener) - 1  # at the "["
        for index in range(start + len(opener) - 1, len(annotation)):
            if annotation[index] == "[":
                depth += 1
            elif annotation[index] == "]":
                depth -= 1
                if depth == 0:
                    break
        inner = annotation[start + len(opener) : index]
        annotation = annotation[:start] + inner.strip() + annotation[index + 1 :]
    return annotation


def normalize_annotation(annotation: object) -> str:
    """An annotation as text, with async-ness removed (an ``asyncio.Event`` is a ``threading.Event``, as unasyncd has it)."""
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = text.replace("asyncio.Event", "threading.Event")
    text = _unwrap(text, "Awaitable[")
    text = _unwrap(text, "Coroutine[Any, Any,")
    return _ASYNC_PREFIX.sub("", text)


def normalize_default(default: object) -> object:
    """A default value; functions (``time.sleep`` / ``asyncio.sleep``) compare by name."""
    if default is inspect.Parameter.empty:
        return "<no default>"
    if callable(default) and hasattr(default, "__name__"):
        return ("callable", default.__name__)
    return default


def describe(function: Callable[..., Any]) -> tuple[list[tuple[str, str, object, str]], str]:
    """The parameters (name, kind, default, annotation) and the return annotation, normalized."""
    signature = inspect.signature(function)
    parameters = [
        (
            parameter.name,
            parameter.kind.name,
            normalize_default(parameter.default),
            normalize_annotation(parameter.annotation),
        )
        for parameter in signature.parameters.values()
    ]
    return parameters, normalize_annotation(signature.return_annotation)


def public_members(cls: type[Any]) -> dict[str, object]:
    """Public attributes of ``cls`` and its hexalchemy bases (methods, properties...)."""
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("hexalchemy"):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                members[name] = value
    return members


def kind_of(member: object) -> str:
    if isinstance(member, property):
        return "property"
    if isinstance(member, staticmethod):
        return "staticmethod"
    if isinstance(member, classmethod):
        return "classmethod"
    if callable(member):
        return "method"
    return "attribute"


def function_of(member: object) -> Callable[..., Any]:
    if isinstance(member, staticmethod | classmethod):
        function: Callable[..., Any] = member.__func__
        return function
    if isinstance(member, property):
        assert member.fget is not None
        return member.fget
    assert callable(member)
    return member


# --- normalization helpers --------------------------------------------------------------------


def test_normalize_annotation_removes_async_ness() -> None:
    assert normalize_annotation("AsyncIterator[None]") == "Iterator[None]"
    assert normalize_annotation("AbstractAsyncContextManager[None]") == "AbstractContextManager[None]"
    assert normalize_annotation("AsyncSqlAlchemyTransactionManager") == "SqlAlchemyTransactionManager"
    assert normalize_annotation("Callable[[], Awaitable[R]]") == "Callable[[], R]"
    assert normalize_annotation("Callable[[float], Awaitable[None]]") == "Callable[[float], None]"
    assert normalize_annotation("Awaitable[list[T]]") == "list[T]"
    assert normalize_annotation("TableMapping[T, K]") == "TableMapping[T, K]"
    assert normalize_annotation("asyncio.Event") == "threading.Event"


# --- the twins ------------------------------------------------------------------------------


@pytest.mark.parametrize(("sync", "async_"), CLASS_TWINS, ids=CLASS_IDS)
def test_twins_have_the_same_public_members(sync: type[Any], async_: type[Any]) -> None:
    sync_members = public_members(sync)
    async_members = public_members(async_)
    assert sorted(sync_members) == sorted(async_members)
    for name, member in sync_members.items():
        assert kind_of(member) == kind_of(async_members[name]), f"{sync.__name__}.{name}"


@pytest.mark.parametrize(("sync", "async_"), CLASS_TWINS, ids=CLASS_IDS)
def test_twins_have_the_same_signatures(sync: type[Any], async_: type[Any]) -> None:
    sync_members = public_members(sync)
    async_members = public_members(async_)
    names = ["__init__", *sorted(sync_members)] if "__init__" in vars(sync) else sorted(sync_members)
    for name in names:
        sync_member = getattr(sync, name) if name == "__init__" else sync_members[name]
        async_member = getattr(async_, name) if name == "__init__" else async_members[name]
        if kind_of(sync_member) == "attribute":
            continue
        assert describe(function_of(sync_member)) == describe(function_of(async_member)), (
            f"{sync.__name__}.{name} and {async_.__name__}.{name} differ"
        )


@pytest.mark.parametrize(("sync", "async_"), GENERATED_TWINS, ids=GENERATED_IDS)
def test_generated_twins_have_the_same_members_and_signatures(sync: type[Any], async_: type[Any]) -> None:
    test_twins_have_the_same_public_members(sync, async_)
    test_twins_have_the_same_signatures(sync, async_)
    for name, member in public_members(sync).items():
        if kind_of(member) in ("method", "staticmethod", "classmethod"):
            assert not inspect.iscoroutinefunction(function_of(member)), f"{sync.__name__}.{name} is async"


@pytest.mark.parametrize(
    ("sync", "async_"), GENERATED_FUNCTIONS, ids=[s.__name__ for s, _ in GENERATED_FUNCTIONS]
)
def test_generated_functions_have_the_same_signature(
    sync: Callable[..., Any], async_: Callable[..., Any]
) -> None:
    assert describe(sync) == describe(async_)
    assert not inspect.iscoroutinefunction(sync)
    assert inspect.iscoroutinefunction(async_)


@pytest.mark.parametrize(("sync", "async_"), REPOSITORY_TWINS, ids=[s.__name__ for s, _ in REPOSITORY_TWINS])
def test_repository_methods_are_coroutines_exactly_on_the_async_side(
    sync: type[Any], async_: type[Any]
) -> None:
    for name, member in public_members(sync).items():
        if kind_of(member) != "method":
            continue
        assert not inspect.iscoroutinefunction(member), f"{sync.__name__}.{name} is async"
        twin = public_members(async_)[name]
        if "Stream[" in str(inspect.signature(cast(Callable[..., Any], member)).return_annotation):
            # a stream: checked at the call, it returns an (async) stream on each side
            assert "AsyncStream[" in str(
                inspect.signature(cast(Callable[..., Any], twin)).return_annotation
            ), f"{async_.__name__}.{name} does not return an async iterator"
            continue
        assert inspect.iscoroutinefunction(twin), f"{async_.__name__}.{name} is not async"


def test_run_in_transaction_twins_have_the_same_signature() -> None:
    assert describe(run_in_transaction) == describe(run_in_transaction_async)
    assert not inspect.iscoroutinefunction(run_in_transaction)
    assert inspect.iscoroutinefunction(run_in_transaction_async)


@pytest.mark.parametrize(("adapter", "protocol"), IMPLEMENTS, ids=[a.__name__ for a, _ in IMPLEMENTS])
def test_adapters_match_their_protocol(adapter: type[Any], protocol: type[Any]) -> None:
    adapter_members = public_members(adapter)
    for name, member in public_members(protocol).items():
        assert name in adapter_members, f"{adapter.__name__} lacks {name}"
        implementation = adapter_members[name]
        assert kind_of(implementation) == kind_of(member), f"{adapter.__name__}.{name}"
        expected_parameters, _ = describe(function_of(member))
        parameters, _ = describe(function_of(implementation))
        # names, kinds and defaults must agree; annotations use each class's own type variables
        assert [p[:3] for p in parameters] == [p[:3] for p in expected_parameters], (
            f"{adapter.__name__}.{name}"
        )
        assert inspect.iscoroutinefunction(function_of(implementation)) == inspect.iscoroutinefunction(
            function_of(member)
        ), f"{adapter.__name__}.{name}"


# --- instances: the same instance attributes, and begin() gives the right context manager ------


@attrs.frozen
class Item:
    id: uuid.UUID
    name: str
    version: int = 0


ITEM = EntitySpec(Item, key="id", version="version", key_type=uuid.UUID)


@pytest.fixture
def sync_engine() -> Iterator[sqlalchemy.Engine]:
    engine = create_engine(DatabaseConfig(url="sqlite:///:memory:"))
    yield engine
    engine.dispose()


@pytest.fixture
async def async_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(DatabaseConfig(url="sqlite+aiosqlite:///:memory:"))
    yield engine
    await engine.dispose()


def public_instance_attributes(instance: object) -> set[str]:
    return {name for name in getattr(instance, "__dict__", {}) if not name.startswith("_")}


def test_sql_twins_have_the_same_instance_attributes(
    sync_engine: sqlalchemy.Engine, async_engine: AsyncEngine
) -> None:
    mapping = Schema().map(ITEM, table="items")
    sync_transactions = SqlAlchemyTransactionManager(sync_engine)
    async_transactions = AsyncSqlAlchemyTransactionManager(async_engine)
    assert public_instance_attributes(sync_transactions) == public_instance_attributes(async_transactions)
    sync_repository = SqlAlchemyRepository(mapping, sync_transactions)
    async_repository = AsyncSqlAlchemyRepository(mapping, async_transactions)
    assert public_instance_attributes(sync_repository) == public_instance_attributes(async_repository)
    assert sync_repository.mapping is async_repository.mapping


def test_in_memory_twins_have_the_same_instance_attributes() -> None:
    sync_transactions = InMemoryTransactionManager()
    async_transactions = AsyncInMemoryTransactionManager()
    assert public_instance_attributes(sync_transactions) == public_instance_attributes(async_transactions)
    assert public_instance_attributes(
        InMemoryRepository(ITEM, sync_transactions)
    ) == public_instance_attributes(AsyncInMemoryRepository(ITEM, async_transactions))


async def test_begin_returns_a_sync_or_an_async_context_manager(
    sync_engine: sqlalchemy.Engine, async_engine: AsyncEngine
) -> None:
    sync_managers: list[TransactionManager] = [
        SqlAlchemyTransactionManager(sync_engine),
        InMemoryTransactionManager(),
    ]
    async_managers: list[AsyncTransactionManager] = [
        AsyncSqlAlchemyTransactionManager(async_engine),
        AsyncInMemoryTransactionManager(),
    ]
    for manager in sync_managers:
        block = manager.begin(read_only=True)
        assert hasattr(block, "__enter__")
        assert not hasattr(block, "__aenter__")
        with block:
            assert manager.in_transaction
        assert not manager.in_transaction
    for async_manager in async_managers:
        async_block = async_manager.begin(read_only=True)
        assert hasattr(async_block, "__aenter__")
        assert not hasattr(async_block, "__enter__")
        async with async_block:
            assert async_manager.in_transaction
        assert not async_manager.in_transaction
