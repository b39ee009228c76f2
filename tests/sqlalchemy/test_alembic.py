"""Alembic autogenerate and a Schema's metadata agree: all tables are new, then nothing differs."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hexalchemy.ports import ColumnOptions, EntitySpec
from hexalchemy.sqlalchemy import DatabaseConfig, Schema, create_engine


class Status(enum.Enum):
    ACTIVE = "active"
    CLOSED = "closed"


class Priority(enum.Enum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Address:
    street: str
    postcode: str | None


@attrs.frozen
class Customer:
    id: uuid.UUID
    name: str
    age: int
    rating: float
    vip: bool
    balance: Decimal
    born: dt.date
    created_at: dt.datetime
    status: Status
    priority: Priority
    tags: list[str]
    limits: dict[str, int]
    address: Address
    billing: Address | None
    nickname: str | None
    version: int = 0


@attrs.frozen
class OrderLine:
    order_id: int
    line_no: int
    quantity: int


@attrs.frozen
class Note:
    id: int
    text: str


def build_schema(metadata: sqlalchemy.MetaData) -> Schema:
    schema = Schema(metadata=metadata)
    schema.map(EntitySpec(Customer, key="id", version="version"), table="customers")
    schema.map(EntitySpec(OrderLine, key=("order_id", "line_no")), table="order_lines")
    # onto a hand-written table with a server default for a column that has no field
    notes = sqlalchemy.Table(
        "notes",
        metadata,
        sqlalchemy.Column("id", sqlalchemy.BigInteger, primary_key=True),
        sqlalchemy.Column("text", sqlalchemy.String(200), nullable=False),
        sqlalchemy.Column("created", sqlalchemy.String(32), nullable=False, server_default="now"),
    )
    schema.map(EntitySpec(Note, key="id", columns={"text": ColumnOptions(max_length=200)}), table=notes)
    return schema


def differences(engine: sqlalchemy.Engine, schema: Schema, opts: dict[str, Any] | None = None) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=opts or {})
        diffs: list[Any] = compare_metadata(context, schema.metadata)
    return diffs


def assert_every_table_is_added(diffs: list[Any], schema: Schema) -> None:
    assert all(diff[0] == "add_table" for diff in diffs), diffs
    added = {diff[1].key for diff in diffs}
    assert added == set(schema.metadata.tables)
    assert len(schema.metadata.tables) == 3


def test_sqlite_autogenerate_sees_every_table_then_nothing(tmp_path: Path) -> None:
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'alembic.db'}"))
    try:
        schema = build_schema(sqlalchemy.MetaData())
        assert_every_table_is_added(differences(engine, schema), schema)
        schema.create_all(engine)
        assert differences(engine, schema) == []
    finally:
        engine.dispose()


# --- PostgreSQL, in a throwaway schema ---------------------------------------------------------


@pytest.fixture
def throwaway_schema(postgresql_engine: sqlalchemy.Engine) -> Iterator[str]:
    name = f"hx_alembic_{uuid.uuid4().hex[:12]}"
    with postgresql_engine.begin() as connection:
        connection.execute(sqlalchemy.schema.CreateSchema(name))
    try:
        yield name
    finally:
        with postgresql_engine.begin() as connection:
            connection.execute(sqlalchemy.schema.DropSchema(name, cascade=True))


@pytest.mark.postgresql
def test_postgresql_autogenerate_sees_every_table_then_nothing(
    postgresql_engine: sqlalchemy.Engine, throwaway_schema: str
) -> None:
    schema = build_schema(sqlalchemy.MetaData(schema=throwaway_schema))
    assert all(table.schema == throwaway_schema for table in schema.metadata.tables.values())

    def only_the_throwaway_schema(name: str | None, type_: str, _parent: object) -> bool:
        return name == throwaway_schema if type_ == "schema" else True

    opts = {"include_schemas": True, "include_name": only_the_throwaway_schema}
    assert_every_table_is_added(differences(postgresql_engine, schema, opts), schema)
    schema.create_all(postgresql_engine)
    assert differences(postgresql_engine, schema, opts) == []
