"""Unit tests of the example bank, wired by its composition root to the in-memory adapters.

They show the habit the example teaches: the application service is tested against
``in_memory_bank()`` (fast, no database), and the very same wiring runs on SQL in
``examples/demo.py``. The last test runs the demo itself on SQLite.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import pytest

from bank.bootstrap import ACCOUNT, Bank, in_memory_bank, map_tables, sql_bank
from bank.domain import Account, AccountId, AccountStatus, BankError, InsufficientFundsError, Money, eur
from hexalchemy.ports import CommitError, Repository, TransactionManager, VersionConflictError
from hexalchemy.sqlalchemy import DatabaseConfig
from hexalchemy.testing import InMemoryTransactionManager

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def fixed_clock() -> dt.datetime:
    return NOW


@pytest.fixture
def bank() -> Bank[InMemoryTransactionManager]:
    return in_memory_bank(clock=fixed_clock)


def test_open_account_saves_it_with_version_1(bank: Bank[InMemoryTransactionManager]) -> None:
    opened = bank.tellers.open_account("Alice", eur("10.00"))

    assert opened.version == 1
    assert opened.opened_at == NOW
    with bank.transactions.begin():
        assert bank.accounts.get(opened.id) == opened


def test_transfer_moves_money_between_accounts(bank: Bank[InMemoryTransactionManager]) -> None:
    alice = bank.tellers.open_account("Alice", eur("10.00"))
    bob = bank.tellers.open_account("Bob", eur("0.00"))

    bank.tellers.transfer(alice.id, bob.id, eur("4.00"))

    assert bank.tellers.balance(alice.id) == eur("6.00")
    assert bank.tellers.balance(bob.id) == eur("4.00")


def test_a_refused_transfer_changes_nothing(bank: Bank[InMemoryTransactionManager]) -> None:
    alice = bank.tellers.open_account("Alice", eur("1.00"))
    bob = bank.tellers.open_account("Bob", eur("0.00"))

    with pytest.raises(InsufficientFundsError):
        bank.tellers.transfer(alice.id, bob.id, eur("4.00"))

    assert bank.tellers.balance(alice.id) == eur("1.00")
    assert bank.tellers.balance(bob.id) == eur("0.00")


def test_a_frozen_account_refuses_withdrawals(bank: Bank[InMemoryTransactionManager]) -> None:
    alice = bank.tellers.open_account("Alice", eur("5.00"))
    with bank.transactions.begin():
        frozen = bank.accounts.save(bank.accounts.get(alice.id).freeze())

    assert frozen.status is AccountStatus.FROZEN
    with pytest.raises(BankError):
        bank.tellers.withdraw(alice.id, eur("1.00"))


def test_a_stale_copy_is_refused(bank: Bank[InMemoryTransactionManager]) -> None:
    alice = bank.tellers.open_account("Alice", eur("5.00"))
    bank.tellers.deposit(alice.id, eur("1.00"))

    with pytest.raises(VersionConflictError), bank.transactions.begin():
        bank.accounts.save(alice.deposit(eur("2.00")))

    assert bank.tellers.balance(alice.id) == eur("6.00")


def test_a_failed_commit_loses_the_whole_use_case(bank: Bank[InMemoryTransactionManager]) -> None:
    alice = bank.tellers.open_account("Alice", eur("5.00"))
    bob = bank.tellers.open_account("Bob", eur("0.00"))

    bank.transactions.fail_next_commit()
    with pytest.raises(CommitError):
        bank.tellers.transfer(alice.id, bob.id, eur("5.00"))

    assert bank.tellers.balance(alice.id) == eur("5.00")
    assert bank.tellers.balance(bob.id) == eur("0.00")


def test_use_cases_nest_inside_a_caller_transaction(bank: Bank[InMemoryTransactionManager]) -> None:
    alice = bank.tellers.open_account("Alice", eur("5.00"))

    with bank.transactions.begin():
        bank.tellers.deposit(alice.id, eur("1.00"))
        with pytest.raises(InsufficientFundsError):
            bank.tellers.withdraw(alice.id, eur("100.00"))

    assert bank.tellers.balance(alice.id) == eur("6.00")


def test_closing_an_account_deletes_it(bank: Bank[InMemoryTransactionManager]) -> None:
    alice = bank.tellers.open_account("Alice", eur("0.00"))

    bank.tellers.close_account(alice.id)

    with bank.transactions.begin():
        assert not bank.accounts.contains(alice.id)


def test_money_of_different_currencies_does_not_mix() -> None:
    with pytest.raises(BankError):
        _ = eur("1.00") + Money(eur("1.00").amount, "USD")


def test_the_in_memory_adapters_fill_the_same_ports(bank: Bank[InMemoryTransactionManager]) -> None:
    # mypy checks these assignments: the adapters implement the ports structurally.
    transactions: TransactionManager = bank.transactions
    accounts: Repository[Account, AccountId] = bank.accounts
    assert transactions is bank.transactions
    assert accounts is bank.accounts


def test_the_mapping_is_built_from_the_same_spec() -> None:
    tables = map_tables()

    assert tables.accounts.spec is ACCOUNT
    assert [column.name for column in tables.accounts.columns] == [
        "id",
        "owner",
        "balance_amount",
        "balance_currency",
        "opened_at",
        "status",
        "version",
    ]


def test_the_same_use_cases_run_on_sqlite(tmp_path: Path) -> None:
    config = DatabaseConfig(url=f"sqlite:///{tmp_path / 'bank.db'}")
    with sql_bank(config, clock=fixed_clock, create_tables=True) as bank:
        alice = bank.tellers.open_account("Alice", eur("10.00"))
        bob = bank.tellers.open_account("Bob", eur("0.00"))
        bank.tellers.transfer(alice.id, bob.id, eur("2.50"))
        with bank.transactions.begin(read_only=True):
            stored = bank.accounts.get(bob.id)
    assert stored == attrs.evolve(bob, balance=eur("2.50"), version=2)


def test_the_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import demo

    demo.main()

    output = capsys.readouterr().out
    assert "version conflict" in output
    assert "the savepoint was" in output
    assert "9. Durable agent" in output
    assert "verify() -> ok=True" in output
    assert "Done." in output
