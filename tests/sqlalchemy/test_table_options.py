"""Column options that shape a derived table (name, index, unique, server default, comment), on SQLite, PostgreSQL and MariaDB.

The DDL is created for real and read back through SQLAlchemy's inspector; unique sets are
enforced by every adapter alike (the in-memory one included); bad options are a
``MappingError`` naming the field when the spec or the mapping is built.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy
from sqlalchemy import BigInteger, Column, String, Table, UniqueConstraint

from hexalchemy.ports import (
    ColumnOptions,
    ConstraintViolationError,
    EntitySpec,
    InvalidValueError,
    MappingError,
    column,
)
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_engine,
)
from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager
from tests.untyped import untyped


class Status(enum.Enum):
    OPEN = "open"
    PAID = "paid"


@attrs.frozen
class Address:
    city: str = attrs.field(metadata=column(name="town", index=True, server_default="Zürich"))


@attrs.frozen
class Invoice:
    id: int
    customer: str = attrs.field(metadata=column(max_length=40, comment="who pays"))
    number: int = attrs.field(metadata=column(bits=32))
    email: str | None = attrs.field(default=None, metadata=column(unique=True))
    status: Status = attrs.field(default=Status.OPEN, metadata=column(server_default=Status.PAID))
    total: Decimal = attrs.field(
        default=Decimal(0), metadata=column(precision=10, scale=2, server_default=Decimal("1.5"))
    )
    issued: dt.datetime = attrs.field(
        default=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        metadata=column(server_default=dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)),
    )
    due: dt.date = attrs.field(
        default=dt.date(2000, 1, 1), metadata=column(server_default=dt.date(2024, 6, 1))
    )
    ref: uuid.UUID = attrs.field(default=uuid.UUID(int=0), metadata=column(server_default=uuid.UUID(int=7)))
    printed: bool = attrs.field(default=False, metadata=column(server_default=True))
    rate: float = attrs.field(default=0.0, metadata=column(server_default=2.5))
    note: str = attrs.field(default="", metadata=column(name="remark", server_default="it's 'quoted'"))
    bill_to: Address = Address("Berlin")


INVOICES = EntitySpec(
    Invoice, key="id", unique=[("customer", "number")], indexes=[("customer", "issued")], key_type=int
)

DEFAULTS: dict[str, Any] = {
    "status": Status.PAID,
    "total": Decimal("1.50"),
    "issued": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
    "due": dt.date(2024, 6, 1),
    "ref": uuid.UUID(int=7),
    "printed": True,
    "rate": 2.5,
    "note": "it's 'quoted'",
    "bill_to": Address("Zürich"),
}


def _engines() -> list[Any]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"]


@pytest.fixture(params=_engines())
def engine(request: pytest.FixtureRequest) -> Iterator[sqlalchemy.Engine]:
    if request.param == "sqlite":
        sqlite = create_engine(DatabaseConfig(url="sqlite:///:memory:"))
        yield sqlite
        sqlite.dispose()
    else:
        yield request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def invoices(
    engine: sqlalchemy.Engine,
) -> Iterator[tuple[SqlAlchemyRepository[Invoice, Any], SqlAlchemyTransactionManager]]:
    schema = Schema()
    mapping = schema.map(INVOICES, table="hx_test_invoices")
    schema.drop_all(engine)
    schema.create_all(engine)
    transactions = SqlAlchemyTransactionManager(engine)
    yield SqlAlchemyRepository(mapping, transactions), transactions
    schema.drop_all(engine)


# --- the DDL, created for real --------------------------------------------------------------


def test_a_derived_table_has_the_declared_names_indexes_and_unique_constraints(
    engine: sqlalchemy.Engine,
    invoices: tuple[SqlAlchemyRepository[Invoice, Any], SqlAlchemyTransactionManager],
) -> None:
    inspector = sqlalchemy.inspect(engine)
    columns = {column["name"]: column for column in inspector.get_columns("hx_test_invoices")}
    assert {"town", "remark"} <= set(columns)
    assert not {"bill_to_city", "note"} & set(columns)
    indexes = {index["name"]: index for index in inspector.get_indexes("hx_test_invoices")}
    assert indexes["hx_test_invoices_town_idx"]["column_names"] == ["town"]
    assert indexes["hx_test_invoices_customer_issued_idx"]["column_names"] == ["customer", "issued"]
    assert not any(index["unique"] for index in indexes.values() if str(index["name"]).endswith("_idx"))
    unique = {
        constraint["name"]: constraint["column_names"]
        for constraint in inspector.get_unique_constraints("hx_test_invoices")
    }
    assert unique == {
        "hx_test_invoices_customer_number_key": ["customer", "number"],
        "hx_test_invoices_email_key": ["email"],
    }
    if engine.dialect.name != "sqlite":  # SQLite keeps no comments
        assert columns["customer"].get("comment") == "who pays"
        assert columns["number"].get("comment") is None
    if engine.dialect.name == "mariadb":  # indexed text of no max_length: VARCHAR(255), which an index holds
        assert [str(columns[name]["type"]).split()[0] for name in ("email", "town", "remark")] == [
            "VARCHAR(255)",
            "VARCHAR(255)",
            "LONGTEXT",
        ]


def test_mariadb_refuses_indexed_text_longer_than_its_column(
    mariadb_engine: sqlalchemy.Engine,
) -> None:
    schema = Schema()
    mapping = schema.map(INVOICES, table="hx_test_invoices")
    schema.drop_all(mariadb_engine)
    schema.create_all(mariadb_engine)
    transactions = SqlAlchemyTransactionManager(mariadb_engine)
    repository = SqlAlchemyRepository(mapping, transactions)
    try:
        with pytest.raises(InvalidValueError, match="email"), transactions.begin():
            repository.save(Invoice(1, "ada", 7, email="a" * 256))
        with transactions.begin():
            repository.save(Invoice(1, "ada", 7, email="a" * 255))
            assert repository.get(1).email == "a" * 255
    finally:
        schema.drop_all(mariadb_engine)


def test_a_row_inserted_without_the_defaulted_columns_reads_back_with_the_defaults(
    engine: sqlalchemy.Engine,
    invoices: tuple[SqlAlchemyRepository[Invoice, Any], SqlAlchemyTransactionManager],
) -> None:
    repository, transactions = invoices
    with engine.begin() as connection:  # another program's row: only the columns without a default
        connection.execute(
            sqlalchemy.text("INSERT INTO hx_test_invoices (id, customer, number) VALUES (1, 'ada', 7)")
        )
    with transactions.begin(read_only=True):
        loaded = repository.get(1)
    assert loaded == Invoice(1, "ada", 7, **DEFAULTS)


def test_a_long_table_name_gets_index_and_constraint_names_fitted_to_the_limit(
    engine: sqlalchemy.Engine,
) -> None:
    schema = Schema()
    name = "hx_" + "t" * 56
    schema.map(INVOICES, table=name)
    schema.drop_all(engine)
    schema.create_all(engine)
    try:
        inspector = sqlalchemy.inspect(engine)
        names = {index["name"] for index in inspector.get_indexes(name) if not index["unique"]}
        names |= {constraint["name"] for constraint in inspector.get_unique_constraints(name)}
        assert len(names) == 4
        assert all(len(str(found).encode()) <= 63 for found in names)
    finally:
        schema.drop_all(engine)


# --- unique sets, enforced by every adapter -------------------------------------------------


Repository = InMemoryRepository[Invoice, Any] | SqlAlchemyRepository[Invoice, Any]
Transactions = InMemoryTransactionManager | SqlAlchemyTransactionManager


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"]
)
def adapter(request: pytest.FixtureRequest) -> Iterator[tuple[Repository, Transactions]]:
    if request.param == "memory":
        memory = InMemoryTransactionManager()
        yield InMemoryRepository(INVOICES, memory), memory
        return
    engine = (
        create_engine(DatabaseConfig(url="sqlite:///:memory:"))
        if request.param == "sqlite"
        else request.getfixturevalue(f"{request.param}_engine")
    )
    schema = Schema()
    mapping = schema.map(INVOICES, table="hx_test_invoices")
    schema.drop_all(engine)
    schema.create_all(engine)
    transactions = SqlAlchemyTransactionManager(engine)
    yield SqlAlchemyRepository(mapping, transactions, copy_threshold=3), transactions
    schema.drop_all(engine)
    engine.dispose()


def test_a_second_aggregate_holding_a_unique_set_is_refused(
    adapter: tuple[Repository, Transactions],
) -> None:
    repository, transactions = adapter
    with transactions.begin():
        repository.save(Invoice(1, "ada", 7, email="ada@example.com"))
    for clash in (Invoice(2, "ada", 7), Invoice(3, "bob", 1, email="ada@example.com")):
        with pytest.raises(ConstraintViolationError), transactions.begin():
            repository.save(clash)
    with transactions.begin(read_only=True):
        assert [invoice.id for invoice in repository.range([1, 2, 3])] == [1]


@pytest.mark.parametrize("size", [2, 4])  # 4: the COPY path on PostgreSQL (copy_threshold=3)
def test_a_batch_colliding_with_itself_or_a_stored_row_is_refused_whole(
    adapter: tuple[Repository, Transactions], size: int
) -> None:
    repository, transactions = adapter
    with transactions.begin():
        repository.save(Invoice(1, "ada", 1))
    batches = [
        [Invoice(10 + n, "bob", n) for n in range(size - 1)] + [Invoice(99, "bob", 0)],
        [Invoice(10 + n, "bob", n) for n in range(size - 1)] + [Invoice(99, "ada", 1)],
    ]
    for batch in batches:
        with pytest.raises(ConstraintViolationError), transactions.begin():
            repository.save_all(batch)
    with transactions.begin(read_only=True):
        assert [invoice.id for invoice in repository.range([1, 10, 11, 12, 99])] == [1]


def test_none_never_collides_and_an_aggregate_keeps_its_own_values(
    adapter: tuple[Repository, Transactions],
) -> None:
    repository, transactions = adapter
    with transactions.begin():
        first = repository.save(Invoice(1, "ada", 1))
        repository.save_all([Invoice(2, "ada", 2), Invoice(3, "ada", 3)])  # email None: no collision
        repository.save(attrs.evolve(first, email="ada@example.com"))  # its own customer and number
    with transactions.begin():
        repository.delete(repository.get(2))
        repository.save(Invoice(4, "ada", 2))  # the value a deleted aggregate held


def test_the_in_memory_adapter_refuses_a_commit_colliding_with_another_transactions() -> None:
    transactions = InMemoryTransactionManager()
    repository = InMemoryRepository(INVOICES, transactions)
    with pytest.raises(ConstraintViolationError):  # noqa: SIM117 - the inner commit comes first
        with transactions.begin():
            repository.save(Invoice(1, "ada", 1))
            _other_thread_commits(repository, transactions, Invoice(2, "ada", 1))
    with transactions.begin(read_only=True):
        assert [invoice.id for invoice in repository.range([1, 2])] == [2]


def _other_thread_commits(
    repository: InMemoryRepository[Invoice, Any], transactions: InMemoryTransactionManager, invoice: Invoice
) -> None:
    def commit() -> None:
        with transactions.begin():
            repository.save(invoice)

    thread = threading.Thread(target=commit)
    thread.start()
    thread.join(timeout=10)


# --- a table you wrote ----------------------------------------------------------------------


@attrs.frozen
class Contact:
    id: int
    email: str = attrs.field(metadata=column(name="mail", unique=True))


def _contacts(*constraints: Any) -> tuple[Schema, Table]:
    schema = Schema()
    table = Table(
        "contacts",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("mail", String),
        *constraints,
    )
    return schema, table


def test_a_table_you_wrote_maps_the_field_to_the_named_column_and_must_enforce_its_unique_set() -> None:
    schema, table = _contacts()
    with pytest.raises(MappingError) as caught:
        schema.map(EntitySpec(Contact, key="id", key_type=int), table=table)
    assert caught.value.field == "email"
    assert "UniqueConstraint('mail')" in caught.value.reason
    schema, table = _contacts(UniqueConstraint("mail"))
    mapping = schema.map(EntitySpec(Contact, key="id", key_type=int), table=table)
    assert [column.name for column in mapping.columns] == ["id", "mail"]


@pytest.mark.parametrize(
    ("options", "ignored"),
    [
        (ColumnOptions(index=True), "index"),
        (ColumnOptions(comment="the mail"), "comment"),
        (ColumnOptions(server_default="x@example.com"), "server_default"),
    ],
)
def test_options_that_shape_ddl_are_refused_on_a_table_you_wrote(
    options: ColumnOptions, ignored: str
) -> None:
    @attrs.frozen
    class Plain:
        id: int
        mail: str

    schema = Schema()
    table = Table(
        "plain", schema.metadata, Column("id", BigInteger, primary_key=True), Column("mail", String)
    )
    with pytest.raises(MappingError) as caught:
        schema.map(EntitySpec(Plain, key="id", columns={"mail": options}, key_type=int), table=table)
    assert caught.value.field == "mail"
    assert ignored in caught.value.reason and "derived table" in caught.value.reason


# --- bad options: MappingError naming the field ---------------------------------------------


@attrs.frozen
class Row:
    id: int
    name: str
    tags: list[str] = attrs.field(factory=list)
    data: bytes = b""
    bill_to: Address = Address("Berlin")
    placed: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("arguments", "field", "reason"),
    [
        ({"indexes": [("bill_to",)]}, "bill_to", "not stored in a column of its own"),
        ({"unique": [("tags",)]}, "tags", "not stored in a column of its own"),
        ({"unique": ["nope"]}, "nope", "does not have"),
        ({"indexes": [("name", "name")]}, "name", "twice"),
        ({"indexes": [("name",), "name"]}, "name", "twice"),
        ({"indexes": [()]}, None, "non-empty tuple"),
        ({"unique": "name"}, None, "list of field sets"),
        ({"columns": {"name": ColumnOptions(server_default=5)}}, "name", "server_default=5"),
        ({"columns": {"data": ColumnOptions(server_default="x")}}, "data", "server_default"),
        ({"columns": {"tags": ColumnOptions(server_default="x")}}, "tags", "server_default"),
        ({"columns": {"name": ColumnOptions(name="")}}, "name", "name=''"),
        ({"columns": {"name": ColumnOptions(name="a\x00b")}}, "name", "NUL"),
        ({"columns": {"name": ColumnOptions(comment=untyped(3))}}, "name", "comment=3"),
        ({"columns": {"name": ColumnOptions(unique=untyped("yes"))}}, "name", "unique='yes'"),
        ({"columns": {"name": ColumnOptions(name="x" * 64)}}, "name", "64 bytes"),
        ({"columns": {"name": ColumnOptions(name="id")}}, None, "both map to one column"),
        ({"columns": {"name": ColumnOptions(max_length=3, server_default="long")}}, "name", "server_default"),
        (  # SQL is no value: an expression default belongs on a table you write
            {"columns": {"placed": ColumnOptions(server_default=untyped(sqlalchemy.func.now()))}},
            "placed",
            "not SQL",
        ),
        ({"columns": {"placed": ColumnOptions(server_default="now()")}}, "placed", "not SQL"),
    ],
)
def test_a_bad_option_is_a_mapping_error_naming_the_field(
    arguments: dict[str, Any], field: str | None, reason: str
) -> None:
    with pytest.raises(MappingError) as caught:
        Schema().map(EntitySpec(Row, key="id", **arguments, key_type=int), table="rows")
    if field is not None:
        assert caught.value.field == field
    assert reason in str(caught.value)
    if "64 bytes" in reason or "both map" in reason:
        return  # a column name: the in-memory adapter has no columns
    with pytest.raises(MappingError):
        InMemoryRepository(EntitySpec(Row, key="id", **arguments, key_type=int), InMemoryTransactionManager())
