"""What users see: static types of the public API, pinned with ``typing.assert_type``.

mypy --strict checks this module (``mypy.ini`` covers ``tests``): a change that widens a
type to ``Any`` or narrows it wrongly fails the type check. Every function also runs
under pytest, against the in-memory adapters and SQLite, so the module is executable.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import assert_type
from uuid import UUID

import attrs
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import (
    AsyncRepository,
    AsyncTransactionManager,
    EntitySpec,
    Repository,
    TransactionManager,
)
from hexalchemy.retry import RetryPolicy, run_in_transaction, run_in_transaction_async
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    TableMapping,
    create_async_engine,
    create_engine,
)
from hexalchemy.testing import (
    AsyncInMemoryRepository,
    AsyncInMemoryTransactionManager,
    InMemoryRepository,
    InMemoryTransactionManager,
)


@attrs.frozen
class User:
    id: UUID
    name: str
    version: int = 0


USER = EntitySpec(User, key="id", version="version", key_type=UUID)
assert_type(USER, EntitySpec[User, UUID])


def user_schema() -> tuple[Schema, TableMapping[User, UUID]]:
    schema = Schema()
    mapping = schema.map(USER, table="users")
    assert_type(mapping, TableMapping[User, UUID])
    return schema, mapping


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


# --- through the ports: what a service written against the protocols sees -----------------


def exercise_repository(transactions: TransactionManager, users: Repository[User, UUID]) -> None:
    """A service function typed against the ports only."""
    ada = User(uuid.uuid4(), "Ada")
    with transactions.begin():
        saved = users.save(ada)
        assert_type(saved, User)
        assert_type(users.save_all([User(uuid.uuid4(), "Bob")]), list[User])
        assert_type(users.get(ada.id), User)
        assert_type(users.get_or_none(ada.id), User | None)
        assert_type(users.contains(ada.id), bool)
        assert_type(users.range([ada.id]), list[User])
        assert saved.version == 1
        assert users.get(ada.id) == saved
        assert users.get_or_none(uuid.uuid4()) is None
        assert users.range([ada.id, uuid.uuid4()]) == [saved]

    def rename() -> User:
        return users.save(attrs.evolve(users.get(saved.id), name="Ada L."))

    renamed = run_in_transaction(transactions, rename, policy=RetryPolicy(attempts=2))
    assert_type(renamed, User)
    assert renamed.name == "Ada L."
    with transactions.begin():
        assert_type(users.delete(renamed), None)
        assert not users.contains(ada.id)


async def exercise_async_repository(
    transactions: AsyncTransactionManager, users: AsyncRepository[User, UUID]
) -> None:
    """An async service function typed against the ports only."""
    ada = User(uuid.uuid4(), "Ada")
    async with transactions.begin():
        saved = await users.save(ada)
        assert_type(saved, User)
        assert_type(await users.save_all([User(uuid.uuid4(), "Bob")]), list[User])
        assert_type(await users.get(ada.id), User)
        assert_type(await users.get_or_none(ada.id), User | None)
        assert_type(await users.contains(ada.id), bool)
        assert_type(await users.range([ada.id]), list[User])
        assert await users.get(ada.id) == saved
        assert await users.range([ada.id, uuid.uuid4()]) == [saved]

    async def rename() -> User:
        return await users.save(attrs.evolve(await users.get(saved.id), name="Ada L."))

    renamed = await run_in_transaction_async(transactions, rename)
    assert_type(renamed, User)
    assert renamed.name == "Ada L."
    async with transactions.begin():
        assert_type(await users.delete(renamed), None)
        assert not await users.contains(ada.id)


# --- the adapters: each one assigned to its protocol -----------------------------------------


def test_entity_spec_types() -> None:
    assert_type(USER, EntitySpec[User, UUID])
    assert_type(USER.key_of(User(uuid.uuid4(), "x")), UUID)
    assert_type(USER.cls, type[User])
    assert USER.key_fields == ("id",)


def test_schema_map_returns_a_typed_table_mapping() -> None:
    _, mapping = user_schema()
    assert_type(mapping, TableMapping[User, UUID])
    assert_type(mapping.entity_type, type[User])
    assert mapping.entity_type is User


def test_in_memory_adapters_implement_the_ports() -> None:
    memory = InMemoryTransactionManager()
    transactions: TransactionManager = memory
    concrete = InMemoryRepository(USER, memory)
    assert_type(concrete, InMemoryRepository[User, UUID])
    users: Repository[User, UUID] = InMemoryRepository(USER, memory)
    exercise_repository(transactions, users)


async def test_async_in_memory_adapters_implement_the_ports() -> None:
    memory = AsyncInMemoryTransactionManager()
    transactions: AsyncTransactionManager = memory
    concrete = AsyncInMemoryRepository(USER, memory)
    assert_type(concrete, AsyncInMemoryRepository[User, UUID])
    users: AsyncRepository[User, UUID] = AsyncInMemoryRepository(USER, memory)
    await exercise_async_repository(transactions, users)


def test_sql_adapters_implement_the_ports(sync_engine: sqlalchemy.Engine) -> None:
    schema, mapping = user_schema()
    schema.create_all(sync_engine)
    tx = SqlAlchemyTransactionManager(sync_engine)
    transactions: TransactionManager = tx
    concrete = SqlAlchemyRepository(mapping, tx)
    assert_type(concrete, SqlAlchemyRepository[User, UUID])
    users: Repository[User, UUID] = SqlAlchemyRepository(mapping, tx)
    exercise_repository(transactions, users)
    with tx.begin():
        assert_type(tx.connection(), sqlalchemy.Connection)


async def test_async_sql_adapters_implement_the_ports(async_engine: AsyncEngine) -> None:
    schema, mapping = user_schema()
    await schema.create_all_async(async_engine)
    tx = AsyncSqlAlchemyTransactionManager(async_engine)
    transactions: AsyncTransactionManager = tx
    concrete = AsyncSqlAlchemyRepository(mapping, tx)
    assert_type(concrete, AsyncSqlAlchemyRepository[User, UUID])
    users: AsyncRepository[User, UUID] = AsyncSqlAlchemyRepository(mapping, tx)
    await exercise_async_repository(transactions, users)
