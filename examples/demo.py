"""hexalchemy demo: a small bank on an embedded SQLite database (``make demo``).

It needs no server: the database is a file in a temporary directory, removed at the end.
Each step prints what it does and what hexalchemy answered.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import agent_demo
import outbox_demo
from bank.bootstrap import Bank, map_tables, sql_bank
from bank.domain import Account, InsufficientFundsError, eur, new_account_id
from hexalchemy.ports import (
    EntityNotFoundError,
    NoActiveTransactionError,
    ReadOnlyTransactionError,
    VersionConflictError,
)
from hexalchemy.sqlalchemy import DatabaseConfig, SqlAlchemyTransactionManager


def step(number: int, title: str) -> None:
    print(f"\n{number}. {title}")
    print("   " + "-" * (len(title) + 3))


def say(text: str) -> None:
    print(textwrap.indent(textwrap.fill(text, width=88, break_on_hyphens=False), "   "))


def show(account: Account) -> str:
    return f"{account.owner}: {account.balance} ({account.status.value}, version {account.version})"


def run(bank: Bank[SqlAlchemyTransactionManager]) -> None:
    transactions, accounts, tellers = bank.transactions, bank.accounts, bank.tellers

    step(1, "Save: open accounts")
    alice = tellers.open_account("Alice", eur("100.00"))
    say(f"saved   {show(alice)}")
    say("A new aggregate has version 0; the INSERT made it version 1.")
    with transactions.begin():
        bob, carol = accounts.save_all(
            [
                Account.open("Bob", eur("20.00"), alice.opened_at),
                Account.open("Carol", eur("0.00"), alice.opened_at),
            ]
        )
    say(f"saved   {show(bob)}")
    say(f"saved   {show(carol)}  (both in one save_all: one statement, all or nothing)")

    step(2, "Load: get an account by id")
    with transactions.begin(read_only=True):
        loaded = accounts.get(alice.id)
    say(f"loaded  {show(loaded)}")
    say(f"equal to what was saved: {loaded == alice}")
    say(f"opened_at came back timezone-aware, in UTC: {loaded.opened_at.isoformat()}")
    say(f"balance.amount is an exact Decimal again: {loaded.balance.amount!r}")

    step(3, "Range: load many accounts in one query")
    nobody = new_account_id()
    with transactions.begin(read_only=True):
        found = accounts.range([carol.id, nobody, alice.id])
    say("asked for [Carol, an unknown id, Alice]")
    say(f"got     {[account.owner for account in found]}  (in the order asked, missing ids left out)")

    step(4, "Optimistic locking: two clerks change the same account")
    with transactions.begin(read_only=True):
        clerk_a = accounts.get(alice.id)
        clerk_b = accounts.get(alice.id)
    say(f"clerk A and clerk B both loaded Alice at version {clerk_a.version}")
    with transactions.begin():
        saved_by_a = accounts.save(clerk_a.deposit(eur("50.00")))
    say(f"clerk A deposited 50.00 EUR and saved first -> {show(saved_by_a)}")
    try:
        with transactions.begin():
            accounts.save(clerk_b.withdraw(eur("30.00")))
    except VersionConflictError as conflict:
        say(f"clerk B tried to save a withdrawal of 30.00 EUR and was refused: {conflict}")
        say(
            f"(expected_version={conflict.expected_version}, "
            f"actual_version={conflict.actual_version}; nothing was written)"
        )
    retried = tellers.withdraw(alice.id, eur("30.00"))
    say(f"clerk B's use case reloads and withdraws in one transaction -> {show(retried)}")

    step(5, "Nested transaction: a savepoint is rolled back, the outer transaction is kept")
    with transactions.begin():
        alice = accounts.save(accounts.get(alice.id).deposit(eur("5.00")))
        say(f"outer:  credited Alice 5.00 EUR -> {show(alice)}")
        try:
            with transactions.begin():
                carol = accounts.save(accounts.get(carol.id).deposit(eur("1000.00")))
                say(f"inner:  credited Carol 1000.00 EUR -> {show(carol)}")
                say("inner:  now debiting Bob 1000.00 EUR ...")
                accounts.save(accounts.get(bob.id).withdraw(eur("1000.00")))
        except InsufficientFundsError as refused:
            say(f"inner:  refused ({refused}); the savepoint was rolled back")
        carol = accounts.get(carol.id)
        say(f"outer:  sees {show(carol)} again, and commits")
    with transactions.begin(read_only=True):
        for account in accounts.range([alice.id, bob.id, carol.id]):
            say(f"after commit: {show(account)}")

    step(6, "Delete: close Carol's empty account")
    tellers.close_account(carol.id)
    with transactions.begin(read_only=True):
        say(f"contains(Carol) -> {accounts.contains(carol.id)}")
        say(f"get_or_none(Carol) -> {accounts.get_or_none(carol.id)}")
        try:
            accounts.get(carol.id)
        except EntityNotFoundError as missing:
            say(f"get(Carol) -> EntityNotFoundError: {missing}")

    step(7, "Guard rails")
    try:
        accounts.get(alice.id)
    except NoActiveTransactionError as error:
        say(f"a repository used outside a transaction: {error}")
    try:
        with transactions.begin(read_only=True):
            accounts.save(accounts.get(alice.id).deposit(eur("1.00")))
    except ReadOnlyTransactionError as error:
        say(f"a write in a read-only transaction: {error}")
    say(f"Alice still has {tellers.balance(alice.id)}")

    step(8, "Transactional outbox: a message commits or rolls back with the data")
    outbox_demo.run(bank, alice.id)

    step(9, "Durable agent: paused, resumed, killed mid-task and resumed by another runner")
    agent_demo.run(transactions)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hexalchemy-demo-") as directory:
        database = Path(directory) / "bank.db"
        print("hexalchemy demo: a small bank on SQLite")
        print(f"database: {database} (a temporary file, removed at the end)")
        columns = ", ".join(column.name for column in map_tables().accounts.columns)
        print(f"table:    accounts ({columns}), derived from the Account class")
        config = DatabaseConfig(url=f"sqlite:///{database}")
        with sql_bank(config, create_tables=True) as bank:
            run(bank)
    print("\nDone.")


if __name__ == "__main__":
    main()
