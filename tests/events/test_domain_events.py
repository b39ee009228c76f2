"""Domain events carried by an aggregate are written to the outbox with it, or not at all."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import sqlalchemy

from hexalchemy.outbox.events import EventRecordingRepository, EventSerializer
from hexalchemy.ports import (
    EntitySpec,
    InvalidMessageError,
    InvalidValueError,
    MappingError,
    OutboxRelayStore,
    OutboxWriter,
    Repository,
    TransactionManager,
    VersionConflictError,
)
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    create_engine,
)
from hexalchemy.sqlalchemy.outbox import SqlAlchemyOutboxRelayStore, SqlAlchemyOutboxWriter, outbox_tables
from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager
from hexalchemy.testing.outbox import InMemoryOutboxRelayStore, InMemoryOutboxWriter


@attrs.frozen
class OrderPlaced:
    order_id: uuid.UUID
    total: Decimal


@attrs.frozen
class OrderShipped:
    order_id: uuid.UUID
    at: dt.datetime


@attrs.frozen
class Order:
    id: uuid.UUID
    total: Decimal
    shipped: bool = False
    version: int = 0
    events: tuple[object, ...] = attrs.field(default=(), eq=False)

    @classmethod
    def place(cls, total: Decimal) -> Order:
        order_id = uuid.uuid4()
        return cls(order_id, total, events=(OrderPlaced(order_id, total),))

    def ship(self) -> Order:
        return attrs.evolve(
            self, shipped=True, events=(*self.events, OrderShipped(self.id, dt.datetime.now(dt.UTC)))
        )


ORDERS = EntitySpec(Order, key="id", version="version", events="events", key_type=uuid.UUID)


@attrs.frozen
class Wiring:
    transactions: TransactionManager
    orders: EventRecordingRepository[Order, uuid.UUID]
    plain_orders: Repository[Order, uuid.UUID]
    writer: OutboxWriter
    store: OutboxRelayStore


def memory_wiring() -> Wiring:
    transactions = InMemoryTransactionManager()
    plain = InMemoryRepository(ORDERS, transactions)
    writer = InMemoryOutboxWriter(transactions)
    store = InMemoryOutboxRelayStore(transactions)
    return Wiring(transactions, EventRecordingRepository(plain, writer, ORDERS), plain, writer, store)


def sql_wiring(engine: sqlalchemy.Engine) -> Wiring:
    schema = Schema()
    mapping = schema.map(ORDERS, table="event_orders")
    tables = outbox_tables(schema, prefix="event_outbox")
    schema.drop_all(engine)
    schema.create_all(engine)
    transactions = SqlAlchemyTransactionManager(engine)
    plain = SqlAlchemyRepository(mapping, transactions)
    writer = SqlAlchemyOutboxWriter(tables, transactions)
    store = SqlAlchemyOutboxRelayStore(tables, transactions)
    return Wiring(transactions, EventRecordingRepository(plain, writer, ORDERS), plain, writer, store)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def wiring(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Wiring]:
    if request.param == "memory":
        yield memory_wiring()
        return
    if request.param == "sqlite":
        engine = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'events.db'}"))
    else:
        engine = request.getfixturevalue("postgresql_engine")
    try:
        yield sql_wiring(engine)
    finally:
        engine.dispose()


def claim_payloads(wiring: Wiring) -> list[tuple[str, dict[str, object]]]:
    lease = wiring.store.claim(limit=100, lease_for=dt.timedelta(seconds=30))
    return [(message.topic, json.loads(message.payload)) for message in lease.messages]


def test_saving_an_aggregate_writes_its_events_to_the_outbox(wiring: Wiring) -> None:
    order = Order.place(Decimal("12.50"))
    with wiring.transactions.begin():
        saved = wiring.orders.save(order)
    assert saved.events == ()
    assert claim_payloads(wiring) == [("OrderPlaced", {"order_id": str(order.id), "total": "12.50"})]


def test_a_rolled_back_save_leaves_no_event(wiring: Wiring) -> None:
    with pytest.raises(RuntimeError), wiring.transactions.begin():
        wiring.orders.save(Order.place(Decimal("1")))
        raise RuntimeError("the business transaction fails")
    assert claim_payloads(wiring) == []


def test_a_version_conflict_writes_no_event(wiring: Wiring) -> None:
    with wiring.transactions.begin():
        saved = wiring.orders.save(Order.place(Decimal("5")))
    claim_payloads(wiring)
    with wiring.transactions.begin():
        wiring.orders.save(saved.ship())
    with pytest.raises(VersionConflictError), wiring.transactions.begin():
        wiring.orders.save(saved.ship())
    lease = wiring.store.claim(limit=100, lease_for=dt.timedelta(seconds=30))
    assert [message.topic for message in lease.messages] == []  # the head of the key is still leased


def test_events_of_one_aggregate_share_an_ordering_key_and_headers(wiring: Wiring) -> None:
    order = Order.place(Decimal("3")).ship()
    with wiring.transactions.begin():
        wiring.orders.save(order)
    lease = wiring.store.claim(limit=100, lease_for=dt.timedelta(seconds=30))
    assert [message.topic for message in lease.messages] == ["OrderPlaced"]  # one per key at a time
    message = lease.messages[0]
    assert message.ordering_key == f"Order:{order.id}"
    assert message.headers["aggregate-id"] == str(order.id)
    assert message.headers["event-type"].endswith("OrderPlaced")
    wiring.store.acknowledge(lease, [message.id])
    assert claim_payloads(wiring)[0][0] == "OrderShipped"


def test_loaded_aggregates_carry_no_events(wiring: Wiring) -> None:
    order = Order.place(Decimal("9"))
    with wiring.transactions.begin():
        wiring.orders.save(order)
    with wiring.transactions.begin(read_only=True):
        assert wiring.orders.get(order.id).events == ()


def test_a_plain_repository_refuses_an_aggregate_with_pending_events(wiring: Wiring) -> None:
    with pytest.raises(InvalidValueError, match="pending events"), wiring.transactions.begin():
        wiring.plain_orders.save(Order.place(Decimal("1")))


def test_save_all_records_the_events_of_every_aggregate(wiring: Wiring) -> None:
    orders = [Order.place(Decimal(n)) for n in range(3)]
    with wiring.transactions.begin():
        saved = wiring.orders.save_all(orders)
    assert all(order.events == () for order in saved)
    assert sorted(str(payload["order_id"]) for _, payload in claim_payloads(wiring)) == sorted(
        str(o.id) for o in orders
    )


def test_an_event_that_cannot_be_a_message_writes_nothing(wiring: Wiring) -> None:
    serializer = EventSerializer(topic_for=lambda event: " ")
    orders = EventRecordingRepository(wiring.plain_orders, wiring.writer, ORDERS, serializer=serializer)
    order = Order.place(Decimal("1"))
    with pytest.raises(InvalidMessageError), wiring.transactions.begin():
        orders.save(order)
    with wiring.transactions.begin(read_only=True):
        assert not wiring.orders.contains(order.id)


def test_a_spec_without_an_events_field_is_refused() -> None:
    transactions = InMemoryTransactionManager()
    spec = EntitySpec(Order, key="id", version="version", key_type=uuid.UUID)
    with pytest.raises(MappingError, match="events field"):
        EventRecordingRepository(
            InMemoryRepository(spec, transactions), InMemoryOutboxWriter(transactions), spec
        )


def test_an_events_field_without_a_default_is_refused() -> None:
    @attrs.frozen
    class Bare:
        id: int
        events: tuple[object, ...]

    with pytest.raises(MappingError, match="needs a default"):
        EntitySpec(Bare, key="id", events="events", key_type=int)
