"""The benchmark aggregate, its hexalchemy mapping, and the raw psycopg equivalents written by hand."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import Schema, TableMapping

TABLE: Final = "bench_orders"

COLUMNS: Final = (
    "id",
    "customer",
    "sku",
    "quantity",
    "price",
    "status",
    "address_street",
    "address_city",
    "address_postcode",
    "version",
)
"""The table's columns, in the mapping's order; the raw SQL below is written against it."""

_COLUMN_LIST: Final = ", ".join(COLUMNS)
_PLACEHOLDERS: Final = ", ".join("%s" for _ in COLUMNS)
_SET_LIST: Final = ", ".join(f"{column} = %s" for column in COLUMNS[1:])

RAW_GET_SQL: Final = f"SELECT {_COLUMN_LIST} FROM {TABLE} WHERE id = %s"
RAW_RANGE_SQL: Final = f"SELECT {_COLUMN_LIST} FROM {TABLE} WHERE id = ANY(%s)"
RAW_INSERT_SQL: Final = f"INSERT INTO {TABLE} ({_COLUMN_LIST}) VALUES ({_PLACEHOLDERS})"
RAW_UPDATE_SQL: Final = f"UPDATE {TABLE} SET {_SET_LIST} WHERE id = %s AND version = %s"
COPY_SQL: Final = f"COPY {TABLE} ({_COLUMN_LIST}) FROM STDIN"


class Status(enum.Enum):
    """Where an order is."""

    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@attrs.frozen
class Address:
    """A value object, flattened into ``address_*`` columns."""

    street: str
    city: str
    postcode: str


@attrs.frozen
class Order:
    """The benchmark aggregate."""

    id: uuid.UUID
    customer: str
    sku: str
    quantity: int
    price: Decimal
    status: Status
    address: Address
    version: int = 0


_STATUSES: Final = tuple(Status)
_CITIES: Final = ("Lisbon", "Porto", "Braga", "Coimbra", "Faro")


def make_orders(count: int, *, version: int = 0, seed: int = 0) -> list[Order]:
    """``count`` distinct orders with new random ids, all at ``version``."""
    return [
        Order(
            id=uuid.uuid4(),
            customer=f"customer-{seed}-{index:06d}",
            sku=f"SKU-{index % 977:04d}",
            quantity=1 + index % 17,
            price=Decimal(f"{index % 1000}.{index % 100:02d}"),
            status=_STATUSES[index % len(_STATUSES)],
            address=Address(
                street=f"Rua {index % 331} n.{index % 97}",
                city=_CITIES[index % len(_CITIES)],
                postcode=f"{1000 + index % 8999}-{index % 999:03d}",
            ),
            version=version,
        )
        for index in range(count)
    ]


def changed(orders: Sequence[Order]) -> list[Order]:
    """The same orders, each with a changed quantity and status (versions unchanged)."""
    return [
        attrs.evolve(order, quantity=order.quantity + 1, status=Status.PAID, sku=order.sku + "-b")
        for order in orders
    ]


def build_schema() -> tuple[Schema, TableMapping[Order, uuid.UUID]]:
    """A schema deriving the ``bench_orders`` table from :class:`Order`."""
    schema = Schema()
    mapping = schema.map(EntitySpec(Order, key="id", version="version", key_type=uuid.UUID), table=TABLE)
    names = tuple(column.name for column in mapping.columns)
    if names != COLUMNS:
        raise AssertionError(f"the mapping's columns {names} are not the raw SQL's {COLUMNS}")
    return schema, mapping


# ------------------------------------------------------------------ raw, written by hand
def order_from_row(r: Sequence[Any]) -> Order:
    """What raw psycopg code writes to turn a row into an aggregate."""
    return Order(
        id=r[0],
        customer=r[1],
        sku=r[2],
        quantity=r[3],
        price=r[4],
        status=Status(r[5]),
        address=Address(street=r[6], city=r[7], postcode=r[8]),
        version=r[9],
    )


def insert_params(o: Order, version: int) -> tuple[Any, ...]:
    """The parameters of :data:`RAW_INSERT_SQL` (and a COPY row) for ``o`` stored at ``version``."""
    a = o.address
    return (
        o.id,
        o.customer,
        o.sku,
        o.quantity,
        o.price,
        o.status.value,
        a.street,
        a.city,
        a.postcode,
        version,
    )


def update_params(o: Order) -> tuple[Any, ...]:
    """The parameters of :data:`RAW_UPDATE_SQL`: every column, version + 1, then id and expected version."""
    a = o.address
    return (
        o.customer,
        o.sku,
        o.quantity,
        o.price,
        o.status.value,
        a.street,
        a.city,
        a.postcode,
        o.version + 1,
        o.id,
        o.version,
    )
