"""The mapping's general options that the library's own tables use too: bytes fields, ``json=True``
fields, columns left ``unmapped``, ``to_row_trusted`` and ``row_reader``.

Each is a feature for users' aggregates first; the outbox and agent tables are mapped with them
(see docs/architecture.md, "The library's own tables").
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias, cast

import attrs
import pytest
from sqlalchemy import JSON, BigInteger, Column, LargeBinary, String, Table, Text, Uuid

from hexalchemy.ports import ColumnOptions, EntitySpec, InvalidArgumentError, InvalidValueError, MappingError
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    UtcDateTime,
    create_engine,
)
from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager

Json: TypeAlias = "bool | int | float | str | Sequence[Json] | Mapping[str, Json] | None"


@attrs.frozen
class Blob:
    id: uuid.UUID
    data: bytes
    note: bytes | None = None


@attrs.frozen
class Document:
    id: uuid.UUID
    body: Json = None
    tags: Mapping[str, Json] = attrs.field(factory=dict)


DOCUMENT = EntitySpec(
    Document,
    key="id",
    columns={"body": ColumnOptions(json=True), "tags": ColumnOptions(json=True)},
    key_type=uuid.UUID,
)


@attrs.frozen
class Job:
    id: uuid.UUID
    name: str


@pytest.fixture
def sqlite() -> Iterator[SqlAlchemyTransactionManager]:
    engine = create_engine(DatabaseConfig(url="sqlite:///:memory:"))
    yield SqlAlchemyTransactionManager(engine)
    engine.dispose()


def _repository(schema: Schema, mapping: Any, transactions: SqlAlchemyTransactionManager) -> Any:
    with transactions.begin():
        schema.metadata.create_all(transactions.connection())
    return SqlAlchemyRepository(mapping, transactions)


# --- bytes ---------------------------------------------------------------------------------------


def test_a_bytes_field_derives_a_binary_column_and_round_trips(sqlite: SqlAlchemyTransactionManager) -> None:
    schema = Schema()
    mapping = schema.map(EntitySpec(Blob, key="id", key_type=uuid.UUID), table="blobs")
    assert isinstance(mapping.table.c.data.type, LargeBinary)
    assert mapping.table.c.note.nullable
    repository = _repository(schema, mapping, sqlite)
    blob = Blob(uuid.uuid4(), b"\x00\xffpayload", None)
    with sqlite.begin():
        repository.save(blob)
        assert repository.get(blob.id) == blob


def test_a_bytearray_is_stored_as_bytes_and_a_str_is_refused_on_every_adapter(
    sqlite: SqlAlchemyTransactionManager,
) -> None:
    schema = Schema()
    mapping = schema.map(EntitySpec(Blob, key="id", key_type=uuid.UUID), table="blobs")
    assert mapping.to_row(Blob(uuid.uuid4(), cast(Any, bytearray(b"ab"))))["data"] == b"ab"
    memory_transactions = InMemoryTransactionManager()
    memory = InMemoryRepository(EntitySpec(Blob, key="id", key_type=uuid.UUID), memory_transactions)
    adapters: list[tuple[Any, Any]] = [
        (_repository(schema, mapping, sqlite), sqlite),
        (memory, memory_transactions),
    ]
    for repository, transactions in adapters:
        with pytest.raises(InvalidValueError) as caught, transactions.begin():
            repository.save(Blob(uuid.uuid4(), cast(Any, "text")))
        assert caught.value.field == "data"


def test_bytes_inside_a_json_collection_are_a_mapping_error() -> None:
    @attrs.frozen
    class Chunks:
        id: uuid.UUID
        parts: list[bytes]

    with pytest.raises(MappingError, match="JSON has no bytes"):
        Schema().map(EntitySpec(Chunks, key="id", key_type=uuid.UUID), table="chunks")


# --- json=True -----------------------------------------------------------------------------------


def test_a_json_field_stores_any_json_value_as_it_is(sqlite: SqlAlchemyTransactionManager) -> None:
    schema = Schema()
    mapping = schema.map(DOCUMENT, table="documents")
    assert isinstance(mapping.table.c.body.type, JSON)
    assert mapping.table.c.body.nullable and not mapping.table.c.tags.nullable
    repository = _repository(schema, mapping, sqlite)
    documents = [
        Document(uuid.uuid4(), {"a": [1, 2.5, None, True]}, {"k": "v"}),
        Document(uuid.uuid4(), [1, "two"]),
        Document(uuid.uuid4(), "text"),
        Document(uuid.uuid4(), None),
    ]
    with sqlite.begin():
        repository.save_all(documents)
        assert repository.range([document.id for document in documents]) == documents


def test_a_json_field_refuses_what_json_cannot_hold_naming_the_path() -> None:
    mapping = Schema().map(DOCUMENT, table="documents")
    with pytest.raises(InvalidValueError) as caught:
        mapping.to_row(Document(uuid.uuid4(), {"x": [math.nan]}))
    assert caught.value.field == 'body["x"][0]'
    with pytest.raises(InvalidValueError) as refused_none:
        mapping.to_row(Document(uuid.uuid4(), None, cast(Any, None)))
    assert refused_none.value.field == "tags"


def test_the_in_memory_adapter_applies_the_same_json_rule() -> None:
    transactions = InMemoryTransactionManager()
    repository = InMemoryRepository(DOCUMENT, transactions)
    with transactions.begin():
        repository.save(Document(uuid.uuid4(), None))
        with pytest.raises(InvalidValueError) as caught:
            repository.save(Document(uuid.uuid4(), {"x": "\x00"}))
    assert caught.value.field == 'body["x"]'


def test_json_on_a_column_that_is_not_json_is_a_mapping_error() -> None:
    schema = Schema()
    table = Table("documents", schema.metadata, Column("id", Uuid, primary_key=True), Column("body", Text))
    table.append_column(Column("tags", JSON, nullable=False))
    with pytest.raises(MappingError, match="JSON column"):
        schema.map(DOCUMENT, table=table)


def test_json_with_another_option_is_a_mapping_error() -> None:
    spec = EntitySpec(
        Job, key="id", columns={"name": ColumnOptions(json=True, max_length=3)}, key_type=uuid.UUID
    )
    with pytest.raises(MappingError, match="max_length cannot apply"):
        Schema().map(spec, table="jobs")


# --- unmapped columns ----------------------------------------------------------------------------


def _jobs_table(schema: Schema) -> Table:
    return Table(
        "jobs",
        schema.metadata,
        Column("id", Uuid, primary_key=True),
        Column("name", Text, nullable=False),
        Column("lease_owner", String(40), nullable=True),
        Column("attempts", BigInteger, nullable=False),
        Column("leased_until", UtcDateTime, nullable=True),
    )


def test_a_column_with_no_field_is_a_mapping_error_unless_declared_unmapped() -> None:
    schema = Schema()
    table = _jobs_table(schema)
    with pytest.raises(MappingError, match="has no field"):
        schema.map(EntitySpec(Job, key="id", key_type=uuid.UUID), table=table)
    mapping = schema.map(
        EntitySpec(Job, key="id", key_type=uuid.UUID),
        table=table,
        unmapped=("lease_owner", "attempts", "leased_until"),
    )
    assert [column.name for column in mapping.unmapped] == ["lease_owner", "attempts", "leased_until"]
    assert set(mapping.to_row(Job(uuid.uuid4(), "a"))) == {"id", "name"}


def test_unmapped_columns_are_left_to_the_statements_that_write_them(
    sqlite: SqlAlchemyTransactionManager,
) -> None:
    schema = Schema()
    table = _jobs_table(schema)
    mapping = schema.map(
        EntitySpec(Job, key="id", key_type=uuid.UUID),
        table=table,
        unmapped=("lease_owner", "attempts", "leased_until"),
    )
    with sqlite.begin():
        schema.metadata.create_all(sqlite.connection())
    job = Job(uuid.uuid4(), "a")
    with sqlite.begin():
        sqlite.connection().execute(table.insert().values(attempts=3), [mapping.to_row(job)])
        row = sqlite.connection().execute(mapping.select().add_columns(table.c.attempts)).one()
    assert mapping.from_row(row) == job  # the extra column after the mapped ones is not read
    assert row[-1] == 3


@pytest.mark.parametrize(
    ("unmapped", "reason"),
    [
        (("nope",), "no column"),
        (("id",), "primary key"),
        (("name", "lease_owner", "attempts", "leased_until"), "a field maps it"),
        ("lease_owner", "not the str"),
    ],
)
def test_a_wrong_unmapped_name_is_a_mapping_error(unmapped: Any, reason: str) -> None:
    schema = Schema()
    with pytest.raises(MappingError, match=reason):
        schema.map(
            EntitySpec(Job, key="id", key_type=uuid.UUID), table=_jobs_table(schema), unmapped=unmapped
        )


def test_unmapped_applies_to_a_table_you_wrote_only() -> None:
    with pytest.raises(MappingError, match="a Table you wrote"):
        Schema().map(EntitySpec(Job, key="id", key_type=uuid.UUID), table="jobs", unmapped=("x",))


# --- to_row_trusted and row_reader ---------------------------------------------------------------


@attrs.frozen
class Timed:
    id: uuid.UUID
    at: dt.datetime
    label: str


def test_to_row_trusted_converts_without_the_value_rules() -> None:
    mapping = Schema().map(EntitySpec(Timed, key="id", key_type=uuid.UUID), table="timed")
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    good = Timed(uuid.uuid4(), at, "x")
    assert mapping.to_row_trusted(good) == mapping.to_row(good)
    unchecked = Timed(uuid.uuid4(), at, "\x00")
    assert mapping.to_row_trusted(unchecked)["label"] == "\x00"
    with pytest.raises(InvalidValueError):
        mapping.to_row(unchecked)


def test_row_reader_applies_each_processor_once_before_converting() -> None:
    mapping = Schema().map(EntitySpec(Timed, key="id", key_type=uuid.UUID), table="timed")
    calls: list[object] = []

    def to_utc(value: dt.datetime) -> dt.datetime:
        calls.append(value)
        return value.astimezone(dt.UTC)

    read = mapping.row_reader([None, to_utc, None])
    local = dt.datetime(2024, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    key = uuid.uuid4()
    timed = read((key, local, "x", "ignored extra value"))
    assert timed == Timed(key, local, "x")
    assert timed.at.tzinfo is dt.UTC
    assert calls == [local]


def test_row_reader_wants_one_processor_or_none_per_column() -> None:
    mapping = Schema().map(EntitySpec(Timed, key="id", key_type=uuid.UUID), table="timed")
    with pytest.raises(InvalidArgumentError):
        mapping.row_reader([None])
    with pytest.raises(InvalidArgumentError):
        mapping.row_reader(cast(Any, [None, 3, None]))


def test_a_json_field_changed_in_place_is_saved(sqlite: SqlAlchemyTransactionManager) -> None:
    @attrs.frozen  # frozen: only fields whose object changed are set, so in place must count
    class Note:
        id: uuid.UUID
        body: Json = None
        version: int = 0

    schema = Schema()
    spec = EntitySpec(
        Note, key="id", version="version", columns={"body": ColumnOptions(json=True)}, key_type=uuid.UUID
    )
    repository = _repository(schema, schema.map(spec, table="notes"), sqlite)
    note = Note(uuid.uuid4(), {"items": [1]})
    with sqlite.begin():
        repository.save(note)
    with sqlite.begin():
        loaded = repository.get(note.id)
        loaded.body["items"].append(2)
        repository.save(loaded)
    with sqlite.begin():
        assert repository.get(note.id).body == {"items": [1, 2]}
