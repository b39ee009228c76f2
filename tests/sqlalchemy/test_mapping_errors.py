"""Build-time mapping errors: each one names the class, the field and the column it is about.

Plus the two things that are refused or accepted later: a naive datetime is refused when
written (``InvalidValueError``, nothing written) and a type taught with
``Schema.register_type`` works end to end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy
from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, MetaData, Numeric, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from hexalchemy.ports import ColumnOptions, ConfigError, EntitySpec, InvalidValueError, MappingError, column
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    ExactDecimal,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    UtcDateTime,
    create_engine,
)


class Status(enum.Enum):
    ACTIVE = "active"
    CLOSED = "closed"


@attrs.frozen
class Account:
    id: int
    owner: str = attrs.field(metadata=column(max_length=100))
    status: Status
    tags: list[str]
    version: int = 0


ACCOUNT = EntitySpec(Account, key="id", version="version", key_type=int)


def account_columns(**replace: Column[Any] | None) -> list[Column[Any]]:
    """The columns of a table that fits Account; ``name=None`` leaves one out, ``name=Column`` swaps it."""
    columns: dict[str, Column[Any] | None] = {
        "id": Column("id", BigInteger, primary_key=True),
        "owner": Column("owner", String(100), nullable=False),
        "status": Column("status", String(10), nullable=False),
        "tags": Column("tags", JSON, nullable=False),
        "version": Column("version", BigInteger, nullable=False),
    }
    columns.update(replace)
    return [column for column in columns.values() if column is not None]


def map_account(*extra: Column[Any], **replace: Column[Any] | None) -> Schema:
    schema = Schema()
    table = Table("accounts", schema.metadata, *account_columns(**replace), *extra)
    schema.map(ACCOUNT, table=table)
    return schema


def assert_names(
    error: MappingError, cls: type[object], *, field: str | None, column: str | None, says: str
) -> None:
    assert error.entity_type is cls
    assert error.field == field
    assert error.column == column
    message = str(error)
    assert cls.__qualname__ in message
    if field is not None:
        assert repr(field) in message
    if column is not None:
        assert repr(column) in message
    assert says in message


def test_a_fitting_table_is_accepted() -> None:
    schema = map_account()
    assert [mapping.entity_type for mapping in schema.mappings] == [Account]


# --- fields and columns -----------------------------------------------------------------------


def test_a_column_named_otherwise_maps_by_its_key() -> None:
    schema = map_account(owner=Column("Owner's name; --", String(100), nullable=False, key="owner"))
    (mapping,) = schema.mappings
    assert "Owner's name; --" in {column.name for column in mapping.columns}


def test_a_column_named_otherwise_without_the_fields_key_has_no_field() -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(owner=Column("Owner", String(100), nullable=False))
    assert_names(excinfo.value, Account, field="owner", column="owner", says="has no column")


def test_a_field_without_a_column() -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(owner=None)
    assert_names(
        excinfo.value, Account, field="owner", column="owner", says="has no column in table 'accounts'"
    )


@attrs.frozen
class Address:
    street: str
    city: str


@attrs.frozen
class Customer:
    id: int
    address: Address


def test_a_nested_field_without_a_column_names_the_dotted_path_and_the_prefixed_column() -> None:
    schema = Schema()
    table = Table(
        "customers",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("address_street", String, nullable=False),
    )
    with pytest.raises(MappingError) as excinfo:
        schema.map(EntitySpec(Customer, key="id", key_type=int), table=table)
    assert_names(excinfo.value, Customer, field="address.city", column="address_city", says="no column")


def test_a_column_without_a_field_and_without_a_default() -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(Column("created", String(32), nullable=False))
    assert_names(excinfo.value, Account, field=None, column="created", says="has no field and no default")


@pytest.mark.parametrize(
    "column",
    [
        Column("created", String(32), nullable=False, server_default="now"),
        Column("created", String(32), nullable=False, server_default=sqlalchemy.text("CURRENT_TIMESTAMP")),
        Column("created", String(32), nullable=False, default="now"),
    ],
    ids=["server_default", "server_default_sql", "default"],
)
def test_a_column_without_a_field_but_with_a_default_is_accepted(column: Column[Any]) -> None:
    schema = map_account(column)
    (mapping,) = schema.mappings
    assert "created" not in {c.name for c in mapping.columns}


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@attrs.frozen
class Place:
    id: int
    location: Point


def test_an_unsupported_type() -> None:
    with pytest.raises(MappingError) as excinfo:
        Schema().map(EntitySpec(Place, key="id", key_type=int), table="places")
    assert_names(excinfo.value, Place, field="location", column=None, says="unsupported type")
    assert "register_type" in str(excinfo.value)


@attrs.frozen
class Broken:
    id: int
    value: complex


def test_a_failed_derived_mapping_leaves_no_table_behind() -> None:
    schema = Schema()
    with pytest.raises(MappingError):
        schema.map(EntitySpec(Broken, key="id", key_type=int), table="broken")
    assert "broken" not in schema.metadata.tables
    assert schema.mappings == ()


# --- keys -------------------------------------------------------------------------------------


def test_a_table_without_a_primary_key() -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(id=Column("id", BigInteger, nullable=False))
    assert_names(excinfo.value, Account, field=None, column=None, says="table 'accounts' has no primary key")


def test_key_fields_that_do_not_match_the_primary_key() -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(
            id=Column("id", BigInteger, nullable=False),
            owner=Column("owner", String(100), primary_key=True),
        )
    assert_names(excinfo.value, Account, field=None, column=None, says="the key fields map to columns ['id']")
    assert "primary key of table 'accounts' is ['owner']" in str(excinfo.value)


@attrs.frozen
class Line:
    order_id: int
    line_no: int


def test_a_composite_key_against_a_single_column_primary_key() -> None:
    schema = Schema()
    table = Table(
        "lines",
        schema.metadata,
        Column("order_id", BigInteger, primary_key=True),
        Column("line_no", BigInteger, nullable=False),
    )
    with pytest.raises(MappingError) as excinfo:
        schema.map(EntitySpec(Line, key=("order_id", "line_no"), key_type=tuple[int, int]), table=table)
    assert "['order_id', 'line_no']" in str(excinfo.value)
    assert "is ['order_id']" in str(excinfo.value)


# --- the schema -------------------------------------------------------------------------------


def test_a_table_of_another_metadata() -> None:
    schema = Schema()
    table = Table("accounts", MetaData(), *account_columns())
    with pytest.raises(MappingError) as excinfo:
        schema.map(ACCOUNT, table=table)
    assert_names(
        excinfo.value, Account, field=None, column=None, says="table 'accounts' belongs to another MetaData"
    )
    assert "Schema(metadata=" in str(excinfo.value)


def test_mapping_a_class_twice() -> None:
    schema = Schema()
    schema.map(ACCOUNT, table="accounts")
    with pytest.raises(MappingError) as excinfo:
        schema.map(ACCOUNT, table="accounts_again")
    assert_names(excinfo.value, Account, field=None, column=None, says="already mapped to table 'accounts'")
    assert list(schema.metadata.tables) == ["accounts"]


@attrs.frozen
class Other:
    id: int


def test_a_table_name_taken_in_the_metadata() -> None:
    schema = Schema()
    schema.map(ACCOUNT, table="accounts")
    with pytest.raises(MappingError) as excinfo:
        schema.map(EntitySpec(Other, key="id", key_type=int), table="accounts")
    assert_names(excinfo.value, Other, field=None, column=None, says="table 'accounts' already exists")


# --- versions ---------------------------------------------------------------------------------


@attrs.frozen
class Document:
    id: int
    revision: str


def test_a_non_int_version_field() -> None:
    with pytest.raises(MappingError) as excinfo:
        EntitySpec(Document, key="id", version="revision", key_type=int)
    assert_names(
        excinfo.value, Document, field="revision", column=None, says="the version field must be an int"
    )


@pytest.mark.parametrize(
    "column_type", [String(10), Numeric(10, 2), Text()], ids=["String", "Numeric", "Text"]
)
def test_a_non_integer_version_column(column_type: sqlalchemy.types.TypeEngine[Any]) -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(version=Column("version", column_type, nullable=False))
    assert_names(
        excinfo.value, Account, field="version", column="version", says="int field cannot use a column"
    )


def test_a_32_bit_version_column_needs_the_field_to_declare_it() -> None:
    # the rules bound the version by the field's integers, so that every adapter refuses the same versions
    with pytest.raises(MappingError) as excinfo:
        map_account(version=Column("version", Integer, nullable=False))
    assert_names(excinfo.value, Account, field="version", column="version", says="bits=32")


# --- datetimes --------------------------------------------------------------------------------


@attrs.frozen
class Event:
    id: int
    at: dt.datetime


def test_a_naive_datetime_column_is_refused() -> None:
    schema = Schema()
    table = Table(
        "events",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("at", DateTime, nullable=False),
    )
    with pytest.raises(MappingError) as excinfo:
        schema.map(EntitySpec(Event, key="id", key_type=int), table=table)
    assert_names(excinfo.value, Event, field="at", column="at", says="DateTime(timezone=True)")


@pytest.mark.parametrize(
    "column_type", [DateTime(timezone=True), UtcDateTime()], ids=["timestamptz", "UtcDateTime"]
)
def test_aware_datetime_columns_are_accepted(column_type: sqlalchemy.types.TypeEngine[Any]) -> None:
    schema = Schema()
    table = Table(
        "events",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("at", column_type, nullable=False),
    )
    schema.map(EntitySpec(Event, key="id", key_type=int), table=table)


@attrs.frozen
class Price:
    id: int
    amount: Decimal


@pytest.mark.parametrize("column_type", [ExactDecimal(), Numeric(12, 2)], ids=["ExactDecimal", "Numeric"])
def test_decimal_columns_are_accepted(column_type: sqlalchemy.types.TypeEngine[Any]) -> None:
    # hexalchemy's own TypeDecorators report python_type ``object`` on SQLAlchemy 2.1
    schema = Schema()
    table = Table(
        "prices",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("amount", column_type, nullable=False),
    )
    schema.map(
        EntitySpec(Price, key="id", columns={"amount": ColumnOptions(precision=12, scale=2)}, key_type=int),
        table=table,
    )


def test_a_decimal_field_on_a_float_column_is_refused() -> None:
    schema = Schema()
    table = Table(
        "prices",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("amount", sqlalchemy.Double, nullable=False),
    )
    with pytest.raises(MappingError) as excinfo:
        schema.map(EntitySpec(Price, key="id", key_type=int), table=table)
    assert_names(
        excinfo.value, Price, field="amount", column="amount", says="Decimal field cannot use a column"
    )


@pytest.fixture
def sqlite_engine() -> Iterator[sqlalchemy.Engine]:
    engine = create_engine(DatabaseConfig(url="sqlite:///:memory:"))
    yield engine
    engine.dispose()


def test_a_naive_datetime_is_refused_at_write(sqlite_engine: sqlalchemy.Engine) -> None:
    schema = Schema()
    mapping = schema.map(EntitySpec(Event, key="id", key_type=int), table="events")
    naive = Event(1, dt.datetime(2024, 5, 1, 12, 0))

    with pytest.raises(InvalidValueError) as excinfo:
        mapping.to_row(naive)
    assert excinfo.value.entity_type is Event
    assert excinfo.value.field == "at"
    assert excinfo.value.value == naive.at
    assert "timezone-aware" in str(excinfo.value)

    schema.create_all(sqlite_engine)
    transactions = SqlAlchemyTransactionManager(sqlite_engine)
    events = SqlAlchemyRepository(mapping, transactions)
    with transactions.begin():
        with pytest.raises(InvalidValueError):
            events.save(naive)
        with pytest.raises(InvalidValueError):
            events.save_all([Event(2, dt.datetime(2024, 5, 1, tzinfo=dt.UTC)), Event(3, naive.at)])
    aware = Event(4, dt.datetime(2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    with transactions.begin():
        events.save(aware)
    with transactions.begin(read_only=True):
        assert events.range([1, 2, 3, 4]) == [aware]  # nothing of the refused writes
        assert events.get(4).at.tzinfo == dt.UTC


@attrs.frozen
class Window:
    start: dt.datetime


@attrs.frozen
class Booking:
    id: int
    window: Window


def test_a_naive_datetime_in_a_nested_value_object_names_the_dotted_path() -> None:
    mapping = Schema().map(EntitySpec(Booking, key="id", key_type=int), table="bookings")
    with pytest.raises(InvalidValueError) as excinfo:
        mapping.to_row(Booking(1, Window(dt.datetime(2024, 1, 1))))
    assert excinfo.value.field == "window.start"


# --- enums ------------------------------------------------------------------------------------


class Mixed(enum.Enum):
    NAME = "name"
    NUMBER = 1


@attrs.frozen
class Setting:
    id: int
    kind: Mixed


def test_an_enum_with_mixed_value_types() -> None:
    with pytest.raises(MappingError) as excinfo:
        Schema().map(EntitySpec(Setting, key="id", key_type=int), table="settings")
    assert_names(excinfo.value, Setting, field="kind", column=None, says="all-str or all-int values")


def test_an_sqlalchemy_enum_column_for_an_enum_field() -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(status=Column("status", sqlalchemy.Enum(Status), nullable=False))
    assert_names(excinfo.value, Account, field="status", column="status", says="not sqlalchemy.Enum")


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Alarm:
    id: int
    level: Level


def test_an_int_enum_field_on_a_string_column() -> None:
    schema = Schema()
    table = Table(
        "alarms",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("level", String(5), nullable=False),
    )
    with pytest.raises(MappingError) as excinfo:
        schema.map(EntitySpec(Alarm, key="id", key_type=int), table=table)
    assert_names(excinfo.value, Alarm, field="level", column="level", says="int field cannot use a column")


# --- collections ------------------------------------------------------------------------------


@pytest.mark.parametrize("column_type", [String(200), Text()], ids=["String", "Text"])
def test_a_collection_on_a_non_json_column(column_type: sqlalchemy.types.TypeEngine[Any]) -> None:
    with pytest.raises(MappingError) as excinfo:
        map_account(tags=Column("tags", column_type, nullable=False))
    assert_names(excinfo.value, Account, field="tags", column="tags", says="needs a JSON column")


def test_a_collection_on_a_jsonb_column_is_accepted() -> None:
    map_account(tags=Column("tags", JSONB, nullable=False))


@attrs.frozen
class Scores:
    id: int
    by_player: dict[int, int]


def test_a_collection_with_non_str_keys() -> None:
    with pytest.raises(MappingError) as excinfo:
        Schema().map(EntitySpec(Scores, key="id", key_type=int), table="scores")
    assert_names(excinfo.value, Scores, field="by_player", column=None, says="JSON object keys must be str")


# --- register_type: a custom type end to end on SQLite ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    @classmethod
    def parse(cls, text: str) -> Money:
        amount, currency = text.split(" ")
        return cls(Decimal(amount), currency)


@attrs.frozen
class Product:
    id: int
    name: str = attrs.field(metadata=column(max_length=50))
    price: Money
    discount: Money | None
    version: int = 0


PRODUCT = EntitySpec(Product, key="id", version="version", key_type=int)


def test_an_unregistered_custom_type_is_refused() -> None:
    with pytest.raises(MappingError) as excinfo:
        Schema().map(PRODUCT, table="products")
    assert_names(excinfo.value, Product, field="price", column=None, says="unsupported type")


def money_schema() -> Schema:
    schema = Schema()
    schema.register_type(Money, String(40), unstructure=str, structure=Money.parse)
    return schema


def test_register_type_makes_a_custom_type_work_end_to_end(sqlite_engine: sqlalchemy.Engine) -> None:
    schema = money_schema()
    mapping = schema.map(PRODUCT, table="products")
    price_column = mapping.table.c.price
    assert isinstance(price_column.type, String)
    assert price_column.type.length == 40
    assert mapping.table.c.discount.nullable
    assert not price_column.nullable

    schema.create_all(sqlite_engine)
    transactions = SqlAlchemyTransactionManager(sqlite_engine)
    products = SqlAlchemyRepository(mapping, transactions)
    tea = Product(1, "tea", Money(Decimal("12.50"), "EUR"), None)
    cake = Product(2, "cake", Money(Decimal("3.10"), "USD"), Money(Decimal("0.50"), "USD"))
    with transactions.begin():
        saved = products.save_all([tea, cake])
    with transactions.begin():
        raw = transactions.connection().execute(
            sqlalchemy.text("SELECT price, discount FROM products ORDER BY id")
        )
        assert [tuple(row) for row in raw] == [("12.50 EUR", None), ("3.10 USD", "0.50 USD")]
        assert products.get(1) == saved[0]
        assert products.range([2, 1]) == [saved[1], saved[0]]
        cheaper = products.save(attrs.evolve(saved[1], price=Money(Decimal("2.90"), "USD"), discount=None))
    with transactions.begin(read_only=True):
        assert products.get(2) == cheaper
        assert products.get(2).price == Money(Decimal("2.90"), "USD")
        assert products.get(2).discount is None


def test_register_type_works_with_a_hand_written_table(sqlite_engine: sqlalchemy.Engine) -> None:
    schema = money_schema()
    table = Table(
        "products",
        schema.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("name", String(50), nullable=False),
        Column("price", String(40), nullable=False),
        Column("discount", String(40)),
        Column("version", BigInteger, nullable=False),
    )
    mapping = schema.map(PRODUCT, table=table)
    schema.create_all(sqlite_engine)
    transactions = SqlAlchemyTransactionManager(sqlite_engine)
    products = SqlAlchemyRepository(mapping, transactions)
    with transactions.begin():
        saved = products.save(Product(7, "jam", Money(Decimal("4.00"), "GBP"), None))
    with transactions.begin(read_only=True):
        assert products.get(7) == saved


# -- registered types: held to the rule of their column's type ------------------------------------


@attrs.frozen
class Cents:
    amount: object


@attrs.frozen
class Wallet:
    id: int
    balance: Cents


def _wallet_schema(column_type: Any, unstructure: Callable[[Cents], object]) -> Any:
    schema = Schema()
    schema.register_type(Cents, column_type, unstructure=unstructure, structure=Cents)
    table = Table(
        "wallets", schema.metadata, Column("id", BigInteger, primary_key=True), Column("balance", column_type)
    )
    return schema.map(EntitySpec(Wallet, key="id", key_type=int), table=table)


@pytest.mark.parametrize(
    ("column_type", "amount", "words"),
    [
        (BigInteger(), 2**64, "64 bits"),
        (BigInteger(), "1", "expected an int"),
        (Numeric(10, 2), 1.5, "expected a Decimal"),
        (Numeric(10, 2), Decimal("sNaN"), "signalling NaN"),
        (Numeric(10, 2), Decimal("1.234"), "scale"),
        (String(3), "abcd", "longer than 3"),
        (DateTime(timezone=True), dt.datetime(2020, 1, 1), "aware"),
    ],
)
def test_a_registered_type_is_held_to_the_rule_of_its_column_type(
    column_type: Any, amount: object, words: str
) -> None:
    mapping = _wallet_schema(column_type, lambda cents: cents.amount)
    with pytest.raises(InvalidValueError, match=words) as caught:
        mapping.to_row(Wallet(1, Cents(amount)))
    assert caught.value.field == "balance"


def test_what_a_registered_hook_raises_is_an_invalid_value_naming_the_field() -> None:
    def broken(cents: Cents) -> object:
        raise ValueError("no cents")

    mapping = _wallet_schema(BigInteger(), broken)
    with pytest.raises(InvalidValueError, match="no cents") as caught:
        mapping.to_row(Wallet(1, Cents(1)))
    assert caught.value.field == "balance"


@pytest.mark.parametrize("name", ["", "a\x00b", "\ud800", "x" * 64, "é" * 32])
def test_a_table_name_no_database_keeps_as_written_is_refused(name: str) -> None:
    with pytest.raises(MappingError, match="table name"):
        Schema().map(EntitySpec(Wallet, key="id", key_type=int), table=name)


@pytest.mark.parametrize(("argument", "value"), [("metadata", 5), ("converter", object())])
def test_a_schema_refuses_what_is_not_a_metadata_or_a_converter(argument: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=argument):
        Schema(**{argument: value})


# -- hand-written columns narrower than the field's rule ------------------------------------------


@attrs.frozen
class Narrow:
    id: int
    value: int


@pytest.mark.parametrize(
    ("value_type", "column_type", "words"),
    [
        (int, Integer(), "bits=32"),
        (int, sqlalchemy.SmallInteger(), "bits=16"),
        (float, sqlalchemy.REAL(), "32-bit floats"),
        (float, sqlalchemy.Float(precision=24), "32-bit floats"),
        (str, sqlalchemy.CHAR(5), "pads"),
    ],
)
def test_a_column_narrower_than_the_field_rule_is_refused_with_the_fix(
    value_type: type[object], column_type: Any, words: str
) -> None:
    cls = attrs.make_class("Narrow", {"id": attrs.field(type=int), "value": attrs.field(type=value_type)})
    schema = Schema()
    table = Table(
        "narrow", schema.metadata, Column("id", BigInteger, primary_key=True), Column("value", column_type)
    )
    with pytest.raises(MappingError, match=words):
        schema.map(EntitySpec(cls, key="id"), table=table)


@pytest.mark.parametrize(("bits", "column_type"), [(32, Integer()), (16, sqlalchemy.SmallInteger())])
def test_declared_bits_map_onto_a_narrow_integer_column_and_bound_the_rule(
    bits: int, column_type: Any
) -> None:
    schema = Schema()
    table = Table(
        "narrow", schema.metadata, Column("id", BigInteger, primary_key=True), Column("value", column_type)
    )
    spec = EntitySpec(Narrow, key="id", columns={"value": ColumnOptions(bits=bits)}, key_type=int)
    mapping = schema.map(spec, table=table)
    assert mapping.to_row(Narrow(1, 2 ** (bits - 1) - 1))["value"] == 2 ** (bits - 1) - 1
    with pytest.raises(InvalidValueError, match=f"{bits} bits"):
        mapping.to_row(Narrow(1, 2 ** (bits - 1)))


def test_declared_bits_shape_a_derived_column() -> None:
    schema = Schema()
    spec = EntitySpec(Narrow, key="id", columns={"value": ColumnOptions(bits=16)}, key_type=int)
    mapping = schema.map(spec, table="narrow")
    assert isinstance(mapping.table.c.value.type, sqlalchemy.SmallInteger)


def test_bits_must_be_16_32_or_64_and_only_on_an_int() -> None:
    with pytest.raises(MappingError, match="16, 32 or 64"):
        Schema().map(
            EntitySpec(Narrow, key="id", columns={"value": ColumnOptions(bits=8)}, key_type=int), table="n"
        )
    with pytest.raises(MappingError, match="bits"):
        Schema().map(
            EntitySpec(Wallet, key="id", columns={"id": ColumnOptions(bits=32, max_length=3)}, key_type=int),
            table="w",
        )
