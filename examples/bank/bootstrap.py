"""The composition root: the one place that chooses and wires the adapters.

Nothing is built at import time and nothing is global: every call builds a new, independent
bank. Production code calls :func:`sql_bank`; unit tests call :func:`in_memory_bank`, which
wires the very same application service to hexalchemy's in-memory adapters.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Generic, TypeVar

import attrs

from bank.domain import Account, AccountId
from bank.services import Clock, Tellers, utc_now
from hexalchemy.ports import EntitySpec, Repository, TransactionManager
from hexalchemy.sqlalchemy import (
    DatabaseConfig,
    Schema,
    SqlAlchemyRepository,
    SqlAlchemyTransactionManager,
    TableMapping,
    create_engine,
)
from hexalchemy.testing import InMemoryRepository, InMemoryTransactionManager

TM = TypeVar("TM", bound=TransactionManager)

ACCOUNT: EntitySpec[Account, AccountId] = EntitySpec(Account, key="id", version="version", key_type=AccountId)
"""How hexalchemy identifies an account: by ``id``, optimistically locked by ``version``.
Both the SQL and the in-memory adapters are built from it."""


@attrs.frozen
class Bank(Generic[TM]):
    """The wired application: its use cases and the ports they run on.

    Generic in the transaction manager so that tests keep the in-memory manager's extras
    (``fail_next_commit``) with their types.
    """

    transactions: TM
    accounts: Repository[Account, AccountId]
    tellers: Tellers


def bootstrap(
    transactions: TM, accounts: Repository[Account, AccountId], *, clock: Clock = utc_now
) -> Bank[TM]:
    """Wire the application onto whichever adapters the caller built."""
    return Bank(transactions=transactions, accounts=accounts, tellers=Tellers(accounts, transactions, clock))


@attrs.frozen
class BankTables:
    """The bank's schema: the ``MetaData`` (for Alembic) and the table mappings."""

    schema: Schema
    accounts: TableMapping[Account, AccountId]


def map_tables() -> BankTables:
    """Map the domain classes to tables; any mismatch raises ``MappingError`` here."""
    schema = Schema()
    accounts = schema.map(ACCOUNT, table="accounts")
    return BankTables(schema=schema, accounts=accounts)


@contextmanager
def sql_bank(
    config: DatabaseConfig, *, clock: Clock = utc_now, create_tables: bool = False
) -> Generator[Bank[SqlAlchemyTransactionManager], None, None]:
    """Wire the bank to a SQL database; the engine is disposed of when the block ends.

    ``create_tables`` creates missing tables (for demos and tests; use Alembic in production).
    """
    tables = map_tables()
    engine = create_engine(config)
    try:
        if create_tables:
            tables.schema.create_all(engine)
        transactions = SqlAlchemyTransactionManager(engine)
        accounts = SqlAlchemyRepository(tables.accounts, transactions)
        yield bootstrap(transactions, accounts, clock=clock)
    finally:
        engine.dispose()


def in_memory_bank(*, clock: Clock = utc_now) -> Bank[InMemoryTransactionManager]:
    """Wire the bank to in-memory adapters, for fast unit tests."""
    transactions = InMemoryTransactionManager()
    accounts = InMemoryRepository(ACCOUNT, transactions)
    return bootstrap(transactions, accounts, clock=clock)
