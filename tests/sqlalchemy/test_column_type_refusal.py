"""A value that a column type of the user's refuses is named the same way on every path.

The value rules cannot know what a hand-written ``TypeDecorator`` refuses; when its
``process_bind_param`` raises, SQLAlchemy's execute, the psycopg cursor (pre-compiled
statements, ``executemany``) and COPY all report an ``InvalidValueError`` naming the
entity, the field, the value and the column, and nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy
from sqlalchemy.types import TypeDecorator

from hexalchemy.ports import EntitySpec, InvalidValueError, Query
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_engine,
)
from tests.postgresql import POSTGRESQL_URL


class Picky(TypeDecorator[str]):
    """Refuses the text ``bad``, as a user's column type might refuse what it cannot store."""

    impl = sqlalchemy.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sqlalchemy.Dialect) -> str | None:
        if value == "bad":
            raise ValueError("picky refuses bad")
        return value


@attrs.frozen
class Thing:
    id: uuid.UUID
    name: str
    version: int = 0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def repository(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SqlAlchemyRepository[Thing, uuid.UUID], SqlAlchemyTransactionManager]]:
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_problem")  # fails or skips when unreachable
        url = POSTGRESQL_URL
    else:
        url = f"sqlite:///{tmp_path}/refusal.db"
    metadata = sqlalchemy.MetaData()
    table = sqlalchemy.Table(
        "hx_picky_things",
        metadata,
        sqlalchemy.Column("id", sqlalchemy.Uuid, primary_key=True),
        sqlalchemy.Column("name", Picky, nullable=False),
        sqlalchemy.Column("version", sqlalchemy.BigInteger, nullable=False),
    )
    mapping = Schema(metadata=metadata).map(
        EntitySpec(Thing, key="id", key_type=uuid.UUID, version="version"), table=table
    )
    engine = create_engine(DatabaseConfig(url=url))
    metadata.drop_all(engine)
    metadata.create_all(engine)
    transactions = SqlAlchemyTransactionManager(engine)
    try:
        yield SqlAlchemyRepository(mapping, transactions), transactions
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def _things(count: int, name: str) -> list[Thing]:
    return [Thing(uuid.uuid4(), name) for _ in range(count)]


CASES: dict[str, Callable[[SqlAlchemyRepository[Thing, uuid.UUID], Thing], Any]] = {
    "save of a new one": lambda repository, stored: repository.save(Thing(uuid.uuid4(), "bad")),
    "save_all of a few (INSERT)": lambda repository, stored: repository.save_all(_things(3, "bad")),
    "save_all of many (COPY on PostgreSQL)": lambda repository, stored: repository.save_all(
        [*_things(150, "good"), *_things(1, "bad")]
    ),
    "save of a change (version-checked UPDATE)": lambda repository, stored: repository.save(
        attrs.evolve(stored, name="bad")
    ),
    "save_all of changes": lambda repository, stored: repository.save_all([attrs.evolve(stored, name="bad")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_value_the_column_type_refuses_is_named_and_nothing_is_written(
    repository: tuple[SqlAlchemyRepository[Thing, uuid.UUID], SqlAlchemyTransactionManager], case: str
) -> None:
    repo, transactions = repository
    with transactions.begin():
        stored = repo.save(Thing(uuid.uuid4(), "good"))

    with pytest.raises(InvalidValueError) as raised, transactions.begin():
        CASES[case](repo, stored)

    error = raised.value
    assert (error.entity_type, error.field, error.value) == (Thing, "name", "bad")
    assert "column 'name'" in str(error) and "picky refuses bad" in str(error)
    with transactions.begin(read_only=True):
        assert repo.count(Query(Thing)) == 1
        assert repo.get(stored.id) == stored
