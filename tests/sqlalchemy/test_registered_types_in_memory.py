"""A type registered on a Schema: the in-memory repository given ``schema.type_rules`` refuses and reads back what the SQL one does.

Each value is saved and read back through the SQL repository (SQLite, PostgreSQL, MariaDB) and
through the in-memory one; the outcome (the value read back, or the error and its message)
must be the same. Without ``types=`` the in-memory repository keeps such a value as given.
"""

from __future__ import annotations

import decimal
import ipaddress
import uuid
from collections.abc import Callable
from typing import Any, Final

import attrs
import pytest
from sqlalchemy import JSON, Engine, Integer, Numeric, String
from sqlalchemy.types import TypeEngine

from hexalchemy.ports import EntitySpec, HexalchemyError
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_engine,
)
from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager
from tests.untyped import untyped


class Tag:
    """A type of the application's own, which the schema stores in one column."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tag) and type(other.value) is type(self.value) and other.value == self.value

    def __hash__(self) -> int:
        return hash(repr(self.value))

    def __repr__(self) -> str:
        return f"Tag({self.value!r})"


def _unstructure(tag: Tag) -> object:
    if tag.value == "boom":
        raise ValueError("no tag may say boom")
    return tag.value


@attrs.frozen
class Tagged:
    id: int
    tag: Tag
    other: Tag | None = None
    address: ipaddress.IPv4Address | None = None
    aliases: tuple[ipaddress.IPv4Address, ...] = ()


SPEC: Final = EntitySpec(Tagged, key="id", key_type=int)

CASES: Final[dict[str, tuple[TypeEngine[Any], list[object]]]] = {
    "String(5)": (String(5), ["abc", "toolong", "a\x00", 5, "boom"]),
    "Integer": (Integer(), [7, 2**70, "x", True]),
    "Numeric(5, 2)": (Numeric(5, 2), [decimal.Decimal("1.5"), decimal.Decimal("1E+5"), 1.5]),
    "JSON": (JSON(), [{"a": [1, 2]}, {"a": float("nan")}, "x\x00"]),
}


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except HexalchemyError as error:
        return (type(error).__name__, str(error))


def _save_and_load(repository: Any, transactions: Any, aggregate: Tagged) -> Callable[[], object]:
    def run() -> object:
        with transactions.begin():
            repository.save(aggregate)
        with transactions.begin():
            loaded = repository.get(aggregate.id)
        with transactions.begin():
            repository.delete(loaded)
        return loaded

    return run


ENGINES: Final = pytest.mark.parametrize(
    "engine_name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"]
)


@pytest.fixture
def sqlite_engine() -> Engine:
    return create_engine(DatabaseConfig(url="sqlite://"))


@ENGINES
@pytest.mark.parametrize("column", list(CASES))
def test_memory_refuses_and_reads_back_what_sql_does(
    request: pytest.FixtureRequest, engine_name: str, column: str
) -> None:
    engine: Engine = request.getfixturevalue(f"{engine_name}_engine")
    column_type, values = CASES[column]
    schema = Schema()
    schema.register_type(Tag, column_type, unstructure=_unstructure, structure=Tag)
    schema.register_type(ipaddress.IPv4Address, String(15), unstructure=str, structure=ipaddress.IPv4Address)
    table = f"tagged_{uuid.uuid4().hex[:8]}"
    mapping = schema.map(SPEC, table=table)
    schema.metadata.create_all(engine)
    try:
        sql_transactions = SqlAlchemyTransactionManager(engine)
        sql = SqlAlchemyRepository(mapping, sql_transactions)
        memory_transactions = InMemoryTransactionManager()
        memory = InMemoryRepository(SPEC, memory_transactions, types=schema.type_rules)
        address = ipaddress.IPv4Address("10.0.0.1")
        for index, value in enumerate(values):
            for aggregate in (
                Tagged(index, Tag(value)),
                Tagged(index, Tag("ok"), other=Tag(value), address=address, aliases=(address,)),
            ):
                expected = _outcome(_save_and_load(sql, sql_transactions, aggregate))
                assert _outcome(_save_and_load(memory, memory_transactions, aggregate)) == expected, aggregate
    finally:
        schema.metadata.drop_all(engine)
        engine.dispose()


def test_without_the_type_rules_memory_keeps_a_registered_type_as_given() -> None:
    transactions = InMemoryTransactionManager()
    memory = InMemoryRepository(SPEC, transactions)
    aggregate = Tagged(1, Tag("far too long for any column"))
    assert _outcome(_save_and_load(memory, transactions, aggregate)) == aggregate


def test_the_type_rules_must_be_value_rules() -> None:
    with pytest.raises(HexalchemyError, match=r"types\["):
        InMemoryRepository(SPEC, InMemoryTransactionManager(), types=untyped({Tag: len}))
    with pytest.raises(HexalchemyError, match="types"):
        InMemoryRepository(SPEC, InMemoryTransactionManager(), types=untyped([Tag]))
