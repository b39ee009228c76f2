"""MariaDB's ``INSERT IGNORE`` skips more than duplicates: what it skipped is reported as the error it was.

(A ``save_all`` of at least ``copy_threshold`` new aggregates uses a plain multi-row
``INSERT`` instead, which fails at once; the same errors, tested here too.)

``IGNORE`` turns a foreign key violation, and a conflict on any unique index, into a warning;
hexalchemy reads the warnings when a row is missing (``Backend.skipped_rows``), so a save
gets the error PostgreSQL's ``ON CONFLICT (key) DO NOTHING`` would have raised: a
``ConstraintViolationError`` for a foreign key or another unique index, a
``DuplicateEntityError`` only for the key, and nothing written either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
from sqlalchemy import BigInteger, Column, Engine, ForeignKey, MetaData, String, Table, insert

from hexalchemy.ports import ConstraintViolationError, DuplicateEntityError, EntitySpec, column
from hexalchemy.sqlalchemy import (
    AsyncSqlAlchemyRepository,
    AsyncSqlAlchemyTransactionManager,
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_async_engine,
)
from hexalchemy.sqlalchemy.mariadb.backend import BACKEND
from tests.mariadb import MARIADB_URL, mariadb_with_tables, without_mariadb


@attrs.frozen
class Child:
    id: int
    parent: int
    name: str = attrs.field(metadata=column(max_length=40))
    version: int = 0


METADATA = MetaData()
PARENTS = Table(
    "hx_test_ignore_parents", METADATA, Column("id", BigInteger, primary_key=True), **BACKEND.table_options()
)
CHILDREN = Table(
    "hx_test_ignore_children",
    METADATA,
    Column("id", BigInteger, primary_key=True),
    Column("parent", BigInteger, ForeignKey(PARENTS.c.id), nullable=False),
    Column("name", String(40), nullable=False, unique=True),
    Column("version", BigInteger, nullable=False),
    **BACKEND.table_options(),
)
SCHEMA = Schema(metadata=METADATA)
MAPPING = SCHEMA.map(EntitySpec(Child, key="id", version="version", key_type=int), table=CHILDREN)


@pytest.fixture(scope="module")
def mariadb_session() -> Iterator[Engine | str]:
    yield from mariadb_with_tables(METADATA)


@pytest.fixture
def engine(mariadb_session: Engine | str) -> Engine:
    if isinstance(mariadb_session, str):
        without_mariadb(mariadb_session)
    with mariadb_session.begin() as connection:
        connection.execute(CHILDREN.delete())
        connection.execute(PARENTS.delete())
        connection.execute(insert(PARENTS), [{"id": 1}])
    return mariadb_session


@pytest.fixture
def children(engine: Engine) -> tuple[SqlAlchemyRepository[Child, int], SqlAlchemyTransactionManager]:
    transactions = SqlAlchemyTransactionManager(engine)
    return SqlAlchemyRepository(MAPPING, transactions), transactions


def stored(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return [row.id for row in connection.execute(CHILDREN.select().order_by(CHILDREN.c.id))]


def test_a_row_refused_by_a_foreign_key_is_a_constraint_violation(
    engine: Engine, children: tuple[SqlAlchemyRepository[Child, int], SqlAlchemyTransactionManager]
) -> None:
    repository, transactions = children
    with pytest.raises(ConstraintViolationError) as raised, transactions.begin():
        repository.save(Child(1, 99, "a"))
    assert not isinstance(raised.value, DuplicateEntityError)
    assert BACKEND.is_foreign_key_violation(raised.value)
    with pytest.raises(ConstraintViolationError) as raised, transactions.begin():
        repository.save_all([Child(1, 1, "a"), Child(2, 99, "b")])
    assert BACKEND.is_foreign_key_violation(raised.value)
    assert stored(engine) == []


def test_a_conflict_on_another_unique_index_is_a_constraint_violation(
    engine: Engine, children: tuple[SqlAlchemyRepository[Child, int], SqlAlchemyTransactionManager]
) -> None:
    repository, transactions = children
    with transactions.begin():
        repository.save(Child(1, 1, "a"))
    with pytest.raises(ConstraintViolationError, match="name") as raised, transactions.begin():
        repository.save(Child(2, 1, "a"))
    assert not isinstance(raised.value, DuplicateEntityError)
    with pytest.raises(ConstraintViolationError) as raised, transactions.begin():
        repository.save_all([Child(3, 1, "c"), Child(4, 1, "a")])
    assert not isinstance(raised.value, DuplicateEntityError)
    assert stored(engine) == [1]


def test_a_taken_key_is_still_a_duplicate(
    engine: Engine, children: tuple[SqlAlchemyRepository[Child, int], SqlAlchemyTransactionManager]
) -> None:
    repository, transactions = children
    with transactions.begin():
        repository.save(Child(1, 1, "a"))
    with pytest.raises(DuplicateEntityError), transactions.begin():
        repository.save(Child(1, 1, "b"))
    with pytest.raises(DuplicateEntityError), transactions.begin():
        repository.save_all([Child(2, 1, "c"), Child(1, 1, "d")])
    assert stored(engine) == [1]


@pytest.mark.parametrize("bad", ["foreign key", "other unique index", "taken key"])
def test_a_bulk_insert_reports_what_refused_a_row_and_writes_nothing(
    engine: Engine,
    children: tuple[SqlAlchemyRepository[Child, int], SqlAlchemyTransactionManager],
    bad: str,
) -> None:
    # 200 new aggregates (above copy_threshold): the drivers' multi-row INSERT, no IGNORE
    repository, transactions = children
    with transactions.begin():
        repository.save(Child(1, 1, "taken"))
    batch = [Child(id, 1, f"n{id}") for id in range(2, 202)]
    batch[150] = {
        "foreign key": Child(152, 99, "n152"),
        "other unique index": Child(152, 1, "taken"),
        "taken key": Child(1, 1, "n152"),
    }[bad]
    with pytest.raises((ConstraintViolationError, DuplicateEntityError)) as raised, transactions.begin():
        repository.save_all(batch)
    assert isinstance(raised.value, DuplicateEntityError) == (bad == "taken key")
    if isinstance(raised.value, ConstraintViolationError):
        assert BACKEND.is_foreign_key_violation(raised.value) == (bad == "foreign key")
    assert stored(engine) == [1]
    with transactions.begin():
        saved = repository.save_all([Child(id, 1, f"n{id}") for id in range(2, 202)])
    assert len(saved) == 200 and len(stored(engine)) == 201


@pytest.fixture
async def async_children(
    engine: Engine,
) -> AsyncIterator[tuple[AsyncSqlAlchemyRepository[Child, int], AsyncSqlAlchemyTransactionManager]]:
    async_engine = create_async_engine(DatabaseConfig(url=MARIADB_URL))
    transactions = AsyncSqlAlchemyTransactionManager(async_engine)
    try:
        yield AsyncSqlAlchemyRepository(MAPPING, transactions), transactions
    finally:
        await async_engine.dispose()


async def test_the_async_repository_reports_the_same(
    engine: Engine,
    async_children: tuple[AsyncSqlAlchemyRepository[Child, int], AsyncSqlAlchemyTransactionManager],
) -> None:
    repository, transactions = async_children
    with pytest.raises(ConstraintViolationError) as raised:
        async with transactions.begin():
            await repository.save(Child(1, 99, "a"))
    assert BACKEND.is_foreign_key_violation(raised.value)
    async with transactions.begin():
        await repository.save(Child(1, 1, "a"))
    with pytest.raises(ConstraintViolationError) as raised:
        async with transactions.begin():
            await repository.save(Child(2, 1, "a"))
    assert not isinstance(raised.value, DuplicateEntityError)
    with pytest.raises(DuplicateEntityError):
        async with transactions.begin():
            await repository.save(Child(1, 1, "b"))
    assert stored(engine) == [1]
