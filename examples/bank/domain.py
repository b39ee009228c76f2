"""The bank's domain model: frozen, slotted attrs classes that know nothing of storage."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import NewType

import attrs

AccountId = NewType("AccountId", uuid.UUID)


def new_account_id() -> AccountId:
    """Return a fresh, random account id."""
    return AccountId(uuid.uuid4())


class AccountStatus(enum.Enum):
    """Whether an account accepts withdrawals."""

    OPEN = "open"
    FROZEN = "frozen"


class BankError(Exception):
    """A business rule refused an operation."""


class InsufficientFundsError(BankError):
    """A withdrawal larger than the balance."""


class AccountFrozenError(BankError):
    """A withdrawal from a frozen account."""


class CurrencyMismatchError(BankError):
    """Amounts in two different currencies were combined."""


@attrs.frozen
class Money:
    """An exact amount in one currency (a value object)."""

    amount: Decimal
    currency: str

    def __add__(self, other: Money) -> Money:
        self._check_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def _check_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self} and {other}")


def eur(amount: str) -> Money:
    """Return an amount in euros: ``eur("12.50")``."""
    return Money(Decimal(amount), "EUR")


@attrs.frozen
class Account:
    """A bank account: the aggregate. Every change returns a new, changed copy.

    ``version`` is the optimistic-locking version that hexalchemy maintains: 0 for an
    account that was never saved, incremented by every save.
    """

    id: AccountId
    owner: str
    balance: Money
    opened_at: dt.datetime
    status: AccountStatus = AccountStatus.OPEN
    version: int = 0

    @classmethod
    def open(cls, owner: str, deposit: Money, now: dt.datetime) -> Account:
        """Open a new account with a first deposit."""
        return cls(id=new_account_id(), owner=owner, balance=deposit, opened_at=now)

    def deposit(self, amount: Money) -> Account:
        """Return this account with ``amount`` added."""
        return attrs.evolve(self, balance=self.balance + amount)

    def withdraw(self, amount: Money) -> Account:
        """Return this account with ``amount`` taken out; refuse overdrafts and frozen accounts."""
        if self.status is AccountStatus.FROZEN:
            raise AccountFrozenError(f"account of {self.owner} is frozen")
        balance = self.balance - amount
        if balance.amount < 0:
            raise InsufficientFundsError(f"{self.owner} has {self.balance}, cannot withdraw {amount}")
        return attrs.evolve(self, balance=balance)

    def freeze(self) -> Account:
        """Return this account frozen."""
        return attrs.evolve(self, status=AccountStatus.FROZEN)
