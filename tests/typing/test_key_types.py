"""Key types as consumers write them, under mypy --strict and basedpyright strict.

The accepted patterns are this module's own code: ``make typecheck`` runs both checkers
over ``tests/typing`` (strict), and pytest runs the functions. The refused patterns are
sample programs checked in a subprocess by both checkers (tests/typing/checkers.py):
each line marked ``# refused`` must be an error, and nothing else may be.

How a spec gets its key type ``K`` (see :class:`~hexalchemy.ports.EntitySpec`):
``key_type=`` a class or a ``tuple[...]`` written out is read by both checkers; a
``NewType`` (pyright) or a type alias (mypy) is not, so those take the key type from the
variable's declared type; with neither, both checkers refuse rather than guess ``Any``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import NewType, assert_type

import attrs
import pytest

from hexalchemy.ports import EntitySpec, JsonValue, MappingError, Repository
from hexalchemy.sqlalchemy import DatabaseConfig, Schema, TableMapping, create_engine
from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager
from hexalchemy.testing.contracts import SPECS
from tests.typing.checkers import check_samples

CustomerId = NewType("CustomerId", uuid.UUID)
StockKey = tuple[str, str]


@attrs.frozen
class Address:
    street: str
    city: str


@attrs.frozen
class Customer:
    id: CustomerId
    name: str
    address: Address
    tags: tuple[str, ...] = ()
    version: int = 0


@attrs.frozen
class Stock:
    warehouse: str
    sku: str
    quantity: int


@attrs.frozen
class Line:
    order: str
    number: int
    note: str


CUSTOMERS: EntitySpec[Customer, CustomerId] = EntitySpec(
    Customer, key="id", version="version", key_type=CustomerId
)
STOCK: EntitySpec[Stock, StockKey] = EntitySpec(Stock, key=("warehouse", "sku"), key_type=StockKey)
LINES = EntitySpec(Line, key=("order", "number"), key_type=tuple[str, int])


def test_a_newtype_key_is_the_newtype() -> None:
    assert_type(CUSTOMERS, EntitySpec[Customer, CustomerId])
    customers = InMemoryRepository(CUSTOMERS, InMemoryTransactionManager())
    assert_type(customers, InMemoryRepository[Customer, CustomerId])
    ada = Customer(CustomerId(uuid.uuid4()), "Ada", Address("Main St 1", "Bern"))
    assert_type(CUSTOMERS.key_of(ada), CustomerId)
    assert CUSTOMERS.key_of(ada) == ada.id


def test_an_alias_of_a_tuple_key_and_a_written_out_tuple_key() -> None:
    assert_type(STOCK, EntitySpec[Stock, tuple[str, str]])
    assert_type(LINES, EntitySpec[Line, tuple[str, int]])
    assert_type(STOCK.key_of(Stock("north", "A-1", 3)), tuple[str, str])
    assert STOCK.key_of(Stock("north", "A-1", 3)) == ("north", "A-1")


def test_the_ports_see_the_key_type() -> None:
    transactions = InMemoryTransactionManager()
    customers: Repository[Customer, CustomerId] = InMemoryRepository(CUSTOMERS, transactions)
    stock: Repository[Stock, StockKey] = InMemoryRepository(STOCK, transactions)
    ada = Customer(CustomerId(uuid.uuid4()), "Ada", Address("Main St 1", "Bern"))
    with transactions.begin():
        assert_type(customers.save(ada), Customer)
        stock.save(Stock("north", "A-1", 3))
    with transactions.begin():
        assert_type(customers.get(ada.id), Customer)
        assert_type(stock.get(("north", "A-1")), Stock)
        assert stock.get(("north", "A-1")).quantity == 3


def test_the_harness_loop_maps_every_contract_spec() -> None:
    schema = Schema()
    mapped: list[type[object]] = []
    for spec in SPECS:
        mapped.append(schema.map(spec, table=spec.cls.__name__.lower()).entity_type)
    for ours in (CUSTOMERS, STOCK, LINES):
        mapping = schema.map(ours, table=ours.cls.__name__.lower())
        assert_type(
            mapping,
            TableMapping[Customer, CustomerId]
            | TableMapping[Stock, StockKey]
            | TableMapping[Line, tuple[str, int]],
        )
    engine = create_engine(DatabaseConfig(url="sqlite:///:memory:"))
    schema.create_all(engine)
    engine.dispose()
    assert mapped == [spec.cls for spec in SPECS]


def test_json_value_is_exported_by_the_ports() -> None:
    metadata: dict[str, JsonValue] = {"attempt": 1, "tags": ["a", "b"], "nested": {"ok": True}}
    assert metadata["attempt"] == 1


def test_a_key_type_that_is_not_the_key_fields_type_is_refused() -> None:
    with pytest.raises(MappingError, match=r"pass key_type=CustomerId"):
        EntitySpec(Customer, key="id", key_type=uuid.UUID)
    with pytest.raises(MappingError, match=r"pass key_type=tuple\[str, int\]"):
        EntitySpec(Line, key=("order", "number"), key_type=tuple[str, str])
    with pytest.raises(MappingError, match=r"pass key_type=tuple\[str, int\]"):
        EntitySpec(Line, key=("order", "number"), key_type=tuple)
    with pytest.raises(MappingError, match=r"pass key_type=str"):
        EntitySpec(Stock, key="sku", key_type=int)


REFUSED = {
    "keys.py": """
        from __future__ import annotations

        import uuid
        from typing import NewType

        import attrs

        from hexalchemy.ports import EntitySpec, Repository
        from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager

        CustomerId = NewType("CustomerId", uuid.UUID)
        StockKey = tuple[str, str]


        @attrs.frozen
        class Customer:
            id: CustomerId
            name: str


        @attrs.frozen
        class Stock:
            warehouse: str
            sku: str


        CUSTOMERS: EntitySpec[Customer, CustomerId] = EntitySpec(Customer, key="id", key_type=CustomerId)
        STOCK: EntitySpec[Stock, StockKey] = EntitySpec(Stock, key=("warehouse", "sku"), key_type=StockKey)
        NEWTYPE_UNANNOTATED = EntitySpec(Customer, key="id", key_type=CustomerId)  # refused: pyright
        ALIAS_UNANNOTATED = EntitySpec(Stock, key=("warehouse", "sku"), key_type=StockKey)  # refused: mypy
        NO_KEY_TYPE = EntitySpec(Customer, key="id")  # refused

        customers = InMemoryRepository(CUSTOMERS, InMemoryTransactionManager())
        stock = InMemoryRepository(STOCK, InMemoryTransactionManager())
        ada = Customer(CustomerId(uuid.uuid4()), "Ada")
        customers.get(ada.id)
        customers.get(uuid.uuid4())  # refused
        customers.get("ada")  # refused
        customers.save(Stock("north", "A-1"))  # refused
        stock.get(("north", "A-1"))
        stock.get(("north", 1))  # refused
        stock.get("A-1")  # refused
        by_int: Repository[Customer, int] = customers  # refused
    """,
    "values.py": """
        from __future__ import annotations

        import uuid

        import attrs

        from hexalchemy.ports import EntitySpec
        from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager


        @attrs.frozen
        class Account:
            id: uuid.UUID
            owner: str
            points: int = 0


        ACCOUNTS = EntitySpec(Account, key="id", key_type=uuid.UUID)
        accounts = InMemoryRepository(ACCOUNTS, InMemoryTransactionManager())
        Account(uuid.uuid4(), "ann", points=3)
        Account(uuid.uuid4(), "ann", points="3")  # refused
        Account(uuid.uuid4(), owner=None)  # refused
        Account("not-a-uuid", "ann")  # refused
        accounts.save(attrs.evolve(Account(uuid.uuid4(), "ann"), points=4))
    """,
}


def test_both_checkers_refuse_wrong_keys_and_wrong_field_values(tmp_path: Path) -> None:
    problems = check_samples(tmp_path, REFUSED)
    assert not problems, "\n".join(problems)
