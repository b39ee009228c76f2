"""Column options: where they are declared, what derived tables make of them, what hand-written tables must agree with.

Plus the values a database cannot store faithfully even within the domain, refused when the
repository is built (SQLite: NaN floats, decimals on a plain ``Numeric`` column).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy
from sqlalchemy import BigInteger, Column, Numeric, String, Table, Text, Uuid
from sqlalchemy.schema import CreateTable

from hexalchemy.ports import ColumnOptions, EntitySpec, InvalidValueError, MappingError, Query, column
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    ExactDecimal,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_engine,
)
from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager
from hexalchemy.testing.contracts.domain import Shade


@attrs.frozen
class Address:
    street: str
    city: str = attrs.field(metadata=column(max_length=30))


@attrs.frozen
class Order:
    id: int
    note: str
    total: Decimal
    ship_to: Address


_POSTGRESQL = sqlalchemy.create_engine("postgresql+psycopg://").dialect  # connects to nothing
_MARIADB = sqlalchemy.create_engine("mariadb+pymysql://").dialect


def _ddl(table: Table) -> str:
    return str(CreateTable(table).compile(dialect=_POSTGRESQL))


# --- declaring -------------------------------------------------------------------------------


def test_options_are_found_on_attrs_fields_and_in_the_spec_by_dotted_path() -> None:
    spec = EntitySpec(Order, key="id", columns={"note": ColumnOptions(max_length=100)}, key_type=int)
    assert spec.column_options == {
        "ship_to.city": ColumnOptions(max_length=30),
        "note": ColumnOptions(max_length=100),
    }


def test_an_unknown_path_is_a_mapping_error_when_the_spec_is_built() -> None:
    with pytest.raises(MappingError) as caught:
        EntitySpec(Order, key="id", columns={"ship_to.zip": ColumnOptions(max_length=10)}, key_type=int)
    assert caught.value.field == "ship_to.zip"
    assert "name a field the class does not have" in caught.value.reason


def test_a_field_declared_both_ways_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        EntitySpec(Order, key="id", columns={"ship_to.city": ColumnOptions(max_length=10)}, key_type=int)
    assert caught.value.field == "ship_to.city"
    assert "both" in caught.value.reason


def test_options_on_a_value_object_are_a_mapping_error() -> None:
    spec = EntitySpec(Order, key="id", columns={"ship_to": ColumnOptions(max_length=10)}, key_type=int)
    with pytest.raises(MappingError, match="not a value object"):
        Schema().map(spec, table="orders")
    with pytest.raises(MappingError, match="not a value object"):
        InMemoryRepository(spec, InMemoryTransactionManager())


def test_options_that_cannot_apply_are_a_mapping_error_on_every_adapter() -> None:
    spec = EntitySpec(Order, key="id", columns={"total": ColumnOptions(max_length=10)}, key_type=int)
    with pytest.raises(MappingError, match="cannot apply") as caught:
        Schema().map(spec, table="orders")
    assert caught.value.field == "total"
    with pytest.raises(MappingError, match="cannot apply"):
        InMemoryRepository(spec, InMemoryTransactionManager())


# --- derived tables ----------------------------------------------------------------------------


def test_a_derived_table_takes_its_lengths_precision_and_scale_from_the_options() -> None:
    spec = EntitySpec(
        Order,
        key="id",
        columns={"note": ColumnOptions(max_length=100), "total": ColumnOptions(precision=12, scale=2)},
        key_type=int,
    )
    mapping = Schema().map(spec, table="orders")
    ddl = _ddl(mapping.table)
    assert "note VARCHAR(100) NOT NULL" in ddl
    assert "total NUMERIC(12, 2) NOT NULL" in ddl
    assert "ship_to_city VARCHAR(30) NOT NULL" in ddl
    assert "ship_to_street VARCHAR NOT NULL" in ddl


def test_a_derived_table_on_mariadb_takes_its_lengths_precision_and_scale_from_the_options() -> None:
    spec = EntitySpec(
        Order,
        key="id",
        columns={"note": ColumnOptions(max_length=100), "total": ColumnOptions(precision=12, scale=2)},
        key_type=int,
    )
    table = Schema().map(spec, table="orders").table
    ddl = str(CreateTable(table).compile(dialect=_MARIADB))
    assert "note VARCHAR(100) NOT NULL" in ddl
    assert "total DECIMAL(12, 2) NOT NULL" in ddl
    assert "ship_to_city VARCHAR(30) NOT NULL" in ddl
    assert "ship_to_street LONGTEXT NOT NULL" in ddl


def test_a_precision_alone_means_scale_zero() -> None:
    spec = EntitySpec(Order, key="id", columns={"total": ColumnOptions(precision=12)}, key_type=int)
    assert "total NUMERIC(12, 0) NOT NULL" in _ddl(Schema().map(spec, table="orders").table)


# --- hand-written tables -------------------------------------------------------------------------


def _map_hand_written(spec: EntitySpec[Order, Any], note: Any, total: Any, city: Any = None) -> Schema:
    schema = Schema()
    table = Table(
        "orders",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("note", note, nullable=False),
        Column("total", total, nullable=False),
        Column("ship_to_street", Text, nullable=False),
        Column("ship_to_city", String(30) if city is None else city, nullable=False),
    )
    schema.map(spec, table=table)
    return schema


def test_a_bounded_string_column_needs_a_max_length_declared_within_it() -> None:
    with pytest.raises(MappingError) as caught:
        _map_hand_written(EntitySpec(Order, key="id", key_type=int), String(50), ExactDecimal())
    error = caught.value
    assert (error.field, error.column) == ("note", "note")
    assert "at most 50 characters" in error.reason
    assert "column(max_length=50)" in error.reason and "ColumnOptions(max_length=50)" in error.reason


def test_a_max_length_beyond_the_column_is_a_mapping_error() -> None:
    spec = EntitySpec(Order, key="id", columns={"note": ColumnOptions(max_length=51)}, key_type=int)
    with pytest.raises(MappingError, match="at most 50 characters"):
        _map_hand_written(spec, String(50), ExactDecimal())


def test_a_max_length_within_the_column_and_an_unbounded_column_are_accepted() -> None:
    _map_hand_written(
        EntitySpec(Order, key="id", columns={"note": ColumnOptions(max_length=40)}, key_type=int),
        String(50),
        ExactDecimal(),
    )
    _map_hand_written(EntitySpec(Order, key="id", key_type=int), Text(), ExactDecimal())
    _map_hand_written(EntitySpec(Order, key="id", key_type=int), String(), ExactDecimal())


def test_a_value_object_field_on_a_narrower_column_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        _map_hand_written(EntitySpec(Order, key="id", key_type=int), Text(), ExactDecimal(), city=String(20))
    assert (caught.value.field, caught.value.column) == ("ship_to.city", "ship_to_city")


@pytest.mark.parametrize(
    ("declared", "column_type"),
    [
        (None, Numeric(12, 2)),
        (ColumnOptions(precision=13, scale=2), Numeric(12, 2)),
        (ColumnOptions(precision=12, scale=3), Numeric(12, 2)),
        (ColumnOptions(precision=12), Numeric(12, 2)),
        (None, ExactDecimal(12, 2)),
        (ColumnOptions(precision=12, scale=2), Numeric(12)),
    ],
    ids=["undeclared", "wider", "other scale", "scale 0", "ExactDecimal", "column scale 0"],
)
def test_a_numeric_column_needs_a_precision_within_it_and_the_same_scale(
    declared: ColumnOptions | None, column_type: Any
) -> None:
    columns = {} if declared is None else {"total": declared}
    with pytest.raises(MappingError) as caught:
        _map_hand_written(EntitySpec(Order, key="id", columns=columns, key_type=int), Text(), column_type)
    assert (caught.value.field, caught.value.column) == ("total", "total")
    assert "declare" in caught.value.reason


@pytest.mark.parametrize(
    "column_type", [Numeric(12, 2), ExactDecimal(12, 2)], ids=["Numeric", "ExactDecimal"]
)
def test_a_numeric_column_with_a_fitting_declaration_is_accepted(column_type: Any) -> None:
    for precision in (12, 5):
        spec = EntitySpec(
            Order, key="id", columns={"total": ColumnOptions(precision=precision, scale=2)}, key_type=int
        )
        _map_hand_written(spec, Text(), column_type)


@attrs.frozen
class Tagged:
    id: int
    shade: Shade


def test_an_enum_whose_values_do_not_fit_the_string_column_is_a_mapping_error() -> None:
    schema = Schema()
    table = Table(
        "tagged", schema.metadata, Column("id", BigInteger, primary_key=True), Column("shade", String(4))
    )
    with pytest.raises(MappingError, match="has a value of 5: widen the column"):
        schema.map(EntitySpec(Tagged, key="id", key_type=int), table=table)


# --- what a database cannot store ------------------------------------------------------------------


@attrs.frozen
class Sample:
    id: uuid.UUID
    reading: float = attrs.field(metadata=column(allow_non_finite=True))


@attrs.frozen
class Priced:
    id: uuid.UUID
    amount: Decimal = attrs.field(metadata=column(precision=10, scale=2))


@pytest.fixture
def sqlite() -> Iterator[SqlAlchemyTransactionManager]:
    engine = create_engine(DatabaseConfig(url="sqlite:///:memory:"))
    yield SqlAlchemyTransactionManager(engine)
    engine.dispose()


def test_sqlite_refuses_a_float_field_that_allows_nan_when_the_repository_is_built(
    sqlite: SqlAlchemyTransactionManager,
) -> None:
    mapping = Schema().map(EntitySpec(Sample, key="id", key_type=uuid.UUID), table="samples")
    with pytest.raises(MappingError) as caught:
        SqlAlchemyRepository(mapping, sqlite)
    assert (caught.value.field, caught.value.column) == ("reading", "reading")
    assert "NaN as NULL" in caught.value.reason


def test_sqlite_refuses_a_decimal_on_a_plain_numeric_column_when_the_repository_is_built(
    sqlite: SqlAlchemyTransactionManager,
) -> None:
    schema = Schema()
    table = Table(
        "priced", schema.metadata, Column("id", Uuid, primary_key=True), Column("amount", Numeric(10, 2))
    )
    mapping = schema.map(EntitySpec(Priced, key="id", key_type=uuid.UUID), table=table)
    with pytest.raises(MappingError) as caught:
        SqlAlchemyRepository(mapping, sqlite)
    assert (caught.value.field, caught.value.column) == ("amount", "amount")
    assert "ExactDecimal" in caught.value.reason


def test_sqlite_stores_a_derived_decimal_with_its_scale(sqlite: SqlAlchemyTransactionManager) -> None:
    schema = Schema()
    mapping = schema.map(EntitySpec(Priced, key="id", key_type=uuid.UUID), table="priced")
    with sqlite.begin():
        schema.metadata.create_all(sqlite.connection())
    repository = SqlAlchemyRepository(mapping, sqlite)
    priced = Priced(uuid.uuid4(), Decimal("1.5"))
    with sqlite.begin():
        repository.save(priced)
        assert str(repository.get(priced.id).amount) == "1.50"


@pytest.mark.postgresql
def test_postgresql_stores_nan_and_infinities_where_a_float_field_allows_them(
    postgresql_engine: sqlalchemy.Engine,
) -> None:
    schema = Schema()
    mapping = schema.map(EntitySpec(Sample, key="id", key_type=uuid.UUID), table="hx_test_samples")
    schema.drop_all(postgresql_engine)
    schema.create_all(postgresql_engine)
    transactions = SqlAlchemyTransactionManager(postgresql_engine)
    repository = SqlAlchemyRepository(mapping, transactions)
    samples = [Sample(uuid.uuid4(), value) for value in (math.nan, math.inf, -math.inf)]
    try:
        with transactions.begin():
            repository.save_all(samples)
        with transactions.begin(read_only=True):
            loaded = repository.range([sample.id for sample in samples])
        assert math.isnan(loaded[0].reading)
        assert [sample.reading for sample in loaded[1:]] == [math.inf, -math.inf]
    finally:
        schema.drop_all(postgresql_engine)


def test_mariadb_refuses_a_float_field_that_allows_nan_when_the_repository_is_built(
    mariadb_engine: sqlalchemy.Engine,
) -> None:
    mapping = Schema().map(EntitySpec(Sample, key="id", key_type=uuid.UUID), table="hx_test_samples")
    with pytest.raises(MappingError) as caught:
        SqlAlchemyRepository(mapping, SqlAlchemyTransactionManager(mariadb_engine))
    assert (caught.value.field, caught.value.column) == ("reading", "reading")
    assert "holds no NaN" in caught.value.reason


@attrs.frozen
class Labelled:
    id: uuid.UUID
    label: str = attrs.field(metadata=column(max_length=5))
    amount: Decimal = attrs.field(default=Decimal(0), metadata=column(precision=6, scale=2))


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"]
)
def test_a_derived_table_keeps_the_declared_scale_and_refuses_what_exceeds_its_options(
    database: str, request: pytest.FixtureRequest
) -> None:
    if database == "sqlite":
        engine = create_engine(DatabaseConfig(url="sqlite:///:memory:"))
        request.addfinalizer(engine.dispose)
    else:
        engine = request.getfixturevalue(f"{database}_engine")
    schema = Schema()
    mapping = schema.map(EntitySpec(Labelled, key="id", key_type=uuid.UUID), table="hx_test_labelled")
    schema.drop_all(engine)
    schema.create_all(engine)
    transactions = SqlAlchemyTransactionManager(engine)
    repository = SqlAlchemyRepository(mapping, transactions)
    try:
        stored = Labelled(uuid.uuid4(), "fünf!", Decimal("1234.5"))
        with transactions.begin():
            repository.save(stored)
        with transactions.begin(read_only=True):
            assert str(repository.get(stored.id).amount) == "1234.50"
            assert repository.get(stored.id).label == "fünf!"
        for too_much, field in (
            (Labelled(uuid.uuid4(), "sechs!"), "label"),
            (Labelled(uuid.uuid4(), "x", Decimal("12345.5")), "amount"),
            (Labelled(uuid.uuid4(), "x", Decimal("1.005")), "amount"),
        ):
            with pytest.raises(InvalidValueError) as caught, transactions.begin():
                repository.save(too_much)
            assert caught.value.field == field
        with transactions.begin(read_only=True):
            assert repository.find(Query(Labelled)) == [Labelled(stored.id, "fünf!", Decimal("1234.50"))]
    finally:
        schema.drop_all(engine)
