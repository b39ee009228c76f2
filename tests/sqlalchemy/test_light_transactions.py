"""A light transaction (PostgreSQL with psycopg, opted in): a pool connection alone, SQLAlchemy's connection made on first use.

Off by default: every transaction then fires SQLAlchemy's connection events.

What it keeps: the pool's events fire for every transaction; SQLAlchemy's connection events
(``engine_connect``, ``begin``, ``commit``, ``rollback``) fire for every transaction that runs
anything through SQLAlchemy; with the fast paths off, every transaction goes through
SQLAlchemy's connection as before. What it guarantees as any transaction does: committed on
success; rolled back on an error in the body or at the commit (``CommitError``), the
connection given back to the pool with no transaction open.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy
from sqlalchemy import event, text

from hexalchemy.ports import CommitError, EntitySpec
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    TableMapping,
    create_engine,
)
from hexalchemy.sqlalchemy.backend import FAST_PATHS_EXECUTION_OPTION, LIGHT_TRANSACTIONS_EXECUTION_OPTION
from tests.postgresql import POSTGRESQL_URL, without_postgresql

TABLE = "hx_light_reservations"

_POOL_EVENTS = ("checkout", "checkin")
_CONNECTION_EVENTS = ("engine_connect", "begin", "commit", "rollback")


@attrs.frozen
class Reservation:
    id: uuid.UUID
    sku: str
    version: int = 0


@attrs.define
class World:
    engine: sqlalchemy.Engine
    transactions: SqlAlchemyTransactionManager
    reservations: SqlAlchemyRepository[Reservation, uuid.UUID]
    events: Counter[str]

    def stored(self) -> list[str]:
        """The skus stored (read on a connection of its own: its events are not counted)."""
        with self.engine.connect() as connection:
            skus = list(connection.execute(text(f"SELECT sku FROM {TABLE} ORDER BY sku")).scalars())
        self.events.subtract(["engine_connect", "checkout", "checkin", "begin", "rollback"])
        for name in [name for name, count in self.events.items() if count <= 0]:
            del self.events[name]
        return skus

    def checked_out(self) -> int:
        pool: Any = self.engine.pool
        count: int = pool.checkedout()
        return count


def _world(
    fast_paths: bool,
    postgresql_problem: str | None,
    *,
    light: bool = True,
    options: dict[str, Any] | None = None,
) -> Iterator[World]:
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    engine = create_engine(DatabaseConfig(url=POSTGRESQL_URL))
    if light:
        engine = engine.execution_options(**{LIGHT_TRANSACTIONS_EXECUTION_OPTION: True})
    if options:
        engine = engine.execution_options(**options)
    if not fast_paths:
        engine = engine.execution_options(**{FAST_PATHS_EXECUTION_OPTION: False})
    schema = Schema()
    mapping: TableMapping[Reservation, uuid.UUID] = schema.map(
        EntitySpec(Reservation, key="id", version="version", key_type=uuid.UUID), table=TABLE
    )
    schema.metadata.drop_all(engine)
    schema.metadata.create_all(engine)
    events: Counter[str] = Counter()
    for name in (*_POOL_EVENTS, *_CONNECTION_EVENTS):
        event.listen(engine, name, lambda *_args, name=name: events.update([name]))
    transactions = SqlAlchemyTransactionManager(engine)
    yield World(engine, transactions, SqlAlchemyRepository(mapping, transactions), events)
    schema.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def world(postgresql_problem: str | None) -> Iterator[World]:
    yield from _world(True, postgresql_problem)


@pytest.fixture
def default_world(postgresql_problem: str | None) -> Iterator[World]:
    yield from _world(True, postgresql_problem, light=False)


@pytest.fixture
def slow_world(postgresql_problem: str | None) -> Iterator[World]:
    yield from _world(False, postgresql_problem)


def _new(sku: str) -> Reservation:
    return Reservation(uuid.uuid4(), sku)


def test_a_transaction_on_the_fast_paths_alone_fires_the_pool_events_and_commits(world: World) -> None:
    for sku in ("a", "b", "c"):
        with world.transactions.begin():
            world.reservations.save(_new(sku))
    assert world.stored() == ["a", "b", "c"]
    assert world.events == Counter(checkout=3, checkin=3)  # no SQLAlchemy connection was needed
    assert world.checked_out() == 0


def test_a_transaction_that_uses_sqlalchemy_fires_its_connection_events(world: World) -> None:
    with world.transactions.begin():
        world.reservations.save(_new("a"))
        world.transactions.connection().execute(text(f"UPDATE {TABLE} SET sku = 'b'"))
    assert world.stored() == ["b"]
    assert world.events == Counter(checkout=1, checkin=1, engine_connect=1, begin=1, commit=1)
    world.events.clear()
    with pytest.raises(ZeroDivisionError), world.transactions.begin():
        world.transactions.connection().execute(text(f"UPDATE {TABLE} SET sku = 'c'"))
        raise ZeroDivisionError
    assert world.stored() == ["b"]
    assert world.events == Counter(checkout=1, checkin=1, engine_connect=1, begin=1, rollback=1)


def test_a_savepoint_inside_a_light_transaction_keeps_its_rules(world: World) -> None:
    with world.transactions.begin():
        world.reservations.save(_new("a"))
        with pytest.raises(ZeroDivisionError), world.transactions.begin():
            world.reservations.save(_new("b"))
            raise ZeroDivisionError
        world.reservations.save(_new("c"))
    assert world.stored() == ["a", "c"]
    assert world.checked_out() == 0


def test_an_error_in_the_body_rolls_back_and_frees_the_connection(world: World) -> None:
    with pytest.raises(ZeroDivisionError), world.transactions.begin():
        world.reservations.save(_new("a"))
        raise ZeroDivisionError
    assert world.stored() == []
    assert world.checked_out() == 0
    assert not world.transactions.in_transaction
    with world.transactions.begin():  # the pool connection came back clean
        world.reservations.save(_new("b"))
    assert world.stored() == ["b"]


def test_a_commit_that_fails_is_a_commit_error_and_rolls_back(world: World) -> None:
    with world.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION hx_light_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
            )
        )
        connection.execute(
            text(
                f"CREATE CONSTRAINT TRIGGER hx_light_refuse AFTER INSERT ON {TABLE} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hx_light_refuse()"
            )
        )
    world.events.clear()
    try:
        with pytest.raises(CommitError, match="refused at commit"), world.transactions.begin():
            world.reservations.save(_new("a"))
        assert world.events == Counter(checkout=1, checkin=1)
        assert world.checked_out() == 0
    finally:
        with world.engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER hx_light_refuse ON {TABLE}"))
            connection.execute(text("DROP FUNCTION hx_light_refuse()"))
    assert world.stored() == []


def test_by_default_every_transaction_goes_through_sqlalchemy(default_world: World) -> None:
    with default_world.transactions.begin():
        default_world.reservations.save(_new("a"))
    assert default_world.stored() == ["a"]
    assert default_world.events == Counter(checkout=1, checkin=1, engine_connect=1, begin=1, commit=1)


@pytest.mark.parametrize(
    "options",
    [{"isolation_level": "SERIALIZABLE"}, {"postgresql_readonly": False}, {"postgresql_deferrable": False}],
)
def test_an_engine_level_connection_characteristic_keeps_transactions_on_sqlalchemy(
    postgresql_problem: str | None, options: dict[str, Any]
) -> None:
    for world in _world(True, postgresql_problem, options=options):  # one world, cleaned up after
        with world.transactions.begin():
            world.reservations.save(_new("a"))
            level = world.transactions.connection().execute(text("SHOW transaction_isolation")).scalar_one()
        assert level == options.get("isolation_level", "READ COMMITTED").lower()
        assert world.stored() == ["a"]
        assert world.events["begin"] == 1 and world.events["engine_connect"] == 1


def test_with_the_fast_paths_off_every_transaction_goes_through_sqlalchemy(slow_world: World) -> None:
    with slow_world.transactions.begin():
        slow_world.reservations.save(_new("a"))
    assert slow_world.stored() == ["a"]
    assert slow_world.events == Counter(checkout=1, checkin=1, engine_connect=1, begin=1, commit=1)


def test_a_read_only_transaction_goes_through_sqlalchemy(world: World) -> None:
    with world.transactions.begin(read_only=True):
        assert world.reservations.get_or_none(uuid.uuid4()) is None
    assert world.events == Counter(checkout=1, checkin=1, engine_connect=1, begin=1, commit=1)
