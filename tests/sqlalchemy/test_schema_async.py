"""Creating and dropping the schema through an async engine, and the sync calls refusing one (and vice versa).

``create_all_async`` makes everything ``create_all`` makes (tables, indexes, the agent
tables' triggers) on SQLite (aiosqlite) and PostgreSQL; the sync call given an async engine
is an ``InvalidArgumentError`` that names the call to make instead; an unreachable database
is a hexalchemy ``DatabaseError`` (the driver's error its cause), sync and async.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import attrs
import pytest
import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.ports import (
    ConstraintViolationError,
    DatabaseError,
    EntitySpec,
    EvidenceKind,
    InvalidArgumentError,
    Query,
)
from hexalchemy.rules import field_ref, new_agent_state, new_evidence
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyAgentStateStore,
    AsyncSqlAlchemyEvidenceLog,
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    Schema,
    agent_tables,
    create_async_engine,
    create_engine,
)
from tests.postgresql import POSTGRESQL_URL, unreachable_message, without_postgresql


@attrs.frozen
class Parcel:
    id: uuid.UUID
    label: str
    version: int = 0


PARCELS = EntitySpec(Parcel, key="id", version="version", key_type=uuid.UUID)


@pytest.fixture(params=["sqlite", "postgresql"])
async def async_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path}/async_schema.db" if request.param == "sqlite" else POSTGRESQL_URL
    engine = create_async_engine(DatabaseConfig(url=url))
    if request.param == "postgresql":
        try:
            async with engine.connect():
                pass
        except Exception as error:
            await engine.dispose()
            without_postgresql(unreachable_message(error))
    try:
        yield engine
    finally:
        await engine.dispose()


def _schema() -> Schema:
    schema = Schema()
    schema.map(PARCELS, table=f"hx_parcels_{uuid.uuid4().hex[:8]}")
    return schema


async def test_create_all_async_makes_the_tables_the_repositories_use(async_engine: AsyncEngine) -> None:
    schema = _schema()
    await schema.create_all_async(async_engine)
    try:
        transactions = AsyncSqlAlchemyTransactionManager(async_engine)
        parcels = AsyncSqlAlchemyRepository(schema.mapping_for(Parcel), transactions)
        async with transactions.begin():
            saved = await parcels.save(Parcel(uuid.uuid4(), "box"))
        async with transactions.begin():
            label = field_ref(Parcel, lambda p: p.label)
            assert await parcels.find(Query(Parcel, where=label.eq("box"))) == [saved]
    finally:
        await schema.drop_all_async(async_engine)


async def test_drop_all_async_drops_the_tables(async_engine: AsyncEngine) -> None:
    schema = _schema()
    [table] = schema.metadata.sorted_tables
    await schema.create_all_async(async_engine)
    await schema.drop_all_async(async_engine)
    async with async_engine.connect() as connection:
        exists = await connection.run_sync(lambda sync: sqlalchemy.inspect(sync).has_table(table.name))
    assert exists is False


async def test_create_all_async_makes_the_agent_tables_triggers_too(async_engine: AsyncEngine) -> None:
    schema = Schema()
    tables = agent_tables(schema, prefix=f"hx_a{uuid.uuid4().hex[:6]}")
    await schema.create_all_async(async_engine)
    try:
        transactions = AsyncSqlAlchemyTransactionManager(async_engine)
        async with transactions.begin():
            await AsyncSqlAlchemyAgentStateStore(tables, transactions).save(
                new_agent_state("agent-1", "kind")
            )
            await AsyncSqlAlchemyEvidenceLog(tables, transactions).append(
                new_evidence("agent-1", EvidenceKind.NOTE, {"n": 1})
            )
        with pytest.raises(ConstraintViolationError):  # the append-only trigger refuses the UPDATE
            async with transactions.begin():
                await transactions.connection().execute(
                    sqlalchemy.update(tables.evidence).values(agent_id="x")
                )
    finally:
        await schema.drop_all_async(async_engine)


@pytest.mark.parametrize("operation", ["create_all", "drop_all"])
def test_the_sync_call_on_an_async_engine_names_the_async_one(operation: str, tmp_path: Path) -> None:
    engine = create_async_engine(DatabaseConfig(url=f"sqlite:///{tmp_path}/refused.db"))
    with pytest.raises(InvalidArgumentError, match=rf"await schema\.{operation}_async\(engine\)"):
        getattr(_schema(), operation)(engine)


@pytest.mark.parametrize("operation", ["create_all", "drop_all"])
async def test_the_async_call_on_a_sync_engine_names_the_sync_one(operation: str, tmp_path: Path) -> None:
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path}/refused.db"))
    try:
        with pytest.raises(InvalidArgumentError, match=rf"schema\.{operation}\(engine\)"):
            await getattr(_schema(), f"{operation}_async")(engine)
    finally:
        engine.dispose()


UNREACHABLE: Final = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
"""A loopback port nothing listens on: the connection is refused at once."""


@pytest.mark.parametrize("operation", ["create_all", "drop_all"])
def test_an_unreachable_database_is_a_database_error(operation: str) -> None:
    engine = create_engine(DatabaseConfig(url=UNREACHABLE))
    try:
        with pytest.raises(DatabaseError) as refused:
            getattr(_schema(), operation)(engine)
        assert isinstance(refused.value.__cause__, sa_exc.OperationalError)
    finally:
        engine.dispose()


@pytest.mark.parametrize("operation", ["create_all", "drop_all"])
async def test_an_unreachable_database_is_a_database_error_async(operation: str) -> None:
    engine = create_async_engine(DatabaseConfig(url=UNREACHABLE))
    try:
        with pytest.raises(DatabaseError) as refused:
            await getattr(_schema(), f"{operation}_async")(engine)
        assert isinstance(refused.value.__cause__, sa_exc.OperationalError)
    finally:
        await engine.dispose()
