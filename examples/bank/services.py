"""The application service: use cases written against hexalchemy's ports only.

Nothing here knows whether the accounts live in PostgreSQL, SQLite or a dict: the
composition root (:mod:`bank.bootstrap`) decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from bank.domain import Account, AccountId, BankError, Money
from hexalchemy.ports import Repository, TransactionManager

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The real clock: the current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class Tellers:
    """The bank's use cases. Each runs in a transaction of its own, or in a savepoint when
    the caller already has one open, so use cases compose."""

    def __init__(
        self,
        accounts: Repository[Account, AccountId],
        transactions: TransactionManager,
        clock: Clock,
    ) -> None:
        self._accounts = accounts
        self._transactions = transactions
        self._clock = clock

    def open_account(self, owner: str, deposit: Money) -> Account:
        """Open an account with a first deposit and return it as saved."""
        with self._transactions.begin():
            return self._accounts.save(Account.open(owner, deposit, self._clock()))

    def balance(self, account_id: AccountId) -> Money:
        """Return the balance of an account."""
        with self._transactions.begin(read_only=True):
            return self._accounts.get(account_id).balance

    def deposit(self, account_id: AccountId, amount: Money) -> Account:
        """Add money to an account."""
        with self._transactions.begin():
            account = self._accounts.get(account_id)
            return self._accounts.save(account.deposit(amount))

    def withdraw(self, account_id: AccountId, amount: Money) -> Account:
        """Take money out of an account."""
        with self._transactions.begin():
            account = self._accounts.get(account_id)
            return self._accounts.save(account.withdraw(amount))

    def transfer(self, source_id: AccountId, target_id: AccountId, amount: Money) -> None:
        """Move money between two accounts: both change, or neither."""
        with self._transactions.begin():
            source = self._accounts.get(source_id)
            target = self._accounts.get(target_id)
            self._accounts.save_all([source.withdraw(amount), target.deposit(amount)])

    def close_account(self, account_id: AccountId) -> None:
        """Close (delete) an empty account."""
        with self._transactions.begin():
            account = self._accounts.get(account_id)
            if account.balance.amount != 0:
                raise BankError(f"account of {account.owner} still holds {account.balance}")
            self._accounts.delete(account)
