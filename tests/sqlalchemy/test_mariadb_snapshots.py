"""MariaDB's REPEATABLE READ: the read after a failed write sees what the write saw, not the snapshot.

Under InnoDB's default isolation a plain ``SELECT`` reads the snapshot taken at the
transaction's first read, while an ``UPDATE`` or ``INSERT`` meets the rows as last committed.
The read that tells why a write found no row is a locking read there
(``Backend.read_latest``): the error names the version stored now, and a row deleted meanwhile
is not found, as on PostgreSQL. The agent stores' cases are in
``tests/agents_sql/test_snapshots.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import attrs
import pytest
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table

from hexalchemy.ports import (
    EntityNotFoundError,
    EntitySpec,
    VersionConflictError,
    column,
)
from hexalchemy.sqlalchemy import Schema, SqlAlchemyRepository, SqlAlchemyTransactionManager
from hexalchemy.sqlalchemy.mariadb.backend import BACKEND
from tests.mariadb import mariadb_with_tables, without_mariadb


@attrs.frozen
class Note:
    id: int
    text: str = attrs.field(metadata=column(max_length=40))
    version: int = 0


METADATA = MetaData()
NOTES = Table(
    "hx_test_snapshot_notes",
    METADATA,
    Column("id", BigInteger, primary_key=True),
    Column("text", String(40), nullable=False),
    Column("version", BigInteger, nullable=False),
    **BACKEND.table_options(),
)
MAPPING = Schema(metadata=METADATA).map(
    EntitySpec(Note, key="id", version="version", key_type=int), table=NOTES
)


def elsewhere(work: Callable[[], object]) -> None:
    """Run ``work`` in a thread of its own (another transaction), to its end."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and failures == []


@pytest.fixture(scope="module")
def mariadb_session() -> Iterator[Engine | str]:
    yield from mariadb_with_tables(METADATA)


@pytest.fixture
def notes(
    mariadb_session: Engine | str,
) -> tuple[SqlAlchemyRepository[Note, int], SqlAlchemyTransactionManager]:
    if isinstance(mariadb_session, str):
        without_mariadb(mariadb_session)
    with mariadb_session.begin() as connection:
        connection.execute(NOTES.delete())
    transactions = SqlAlchemyTransactionManager(mariadb_session)
    return SqlAlchemyRepository(MAPPING, transactions), transactions


def test_a_version_conflict_names_the_version_committed_after_the_snapshot(
    notes: tuple[SqlAlchemyRepository[Note, int], SqlAlchemyTransactionManager],
) -> None:
    repository, transactions = notes
    with transactions.begin():
        stale = repository.save(Note(1, "first"))
    with transactions.begin():
        assert repository.get(1) == stale  # the snapshot is taken here

        def update() -> None:
            with transactions.begin():
                repository.save(attrs.evolve(repository.get(1), text="second"))

        elsewhere(update)
        with pytest.raises(VersionConflictError) as raised:
            repository.save(attrs.evolve(stale, text="third"))
    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)


def test_a_row_deleted_after_the_snapshot_is_not_found(
    notes: tuple[SqlAlchemyRepository[Note, int], SqlAlchemyTransactionManager],
) -> None:
    repository, transactions = notes
    with transactions.begin():
        stale = repository.save(Note(1, "first"))
    with transactions.begin():
        assert repository.get(1) == stale

        def delete() -> None:
            with transactions.begin():
                repository.delete(stale)

        elsewhere(delete)
        with pytest.raises(EntityNotFoundError):
            repository.save_all([attrs.evolve(stale, text="third")])
