"""The transactional outbox part of the demo: a message commits or rolls back with the data.

``make demo`` runs it after the bank demo, on the same SQLite database: a deposit and its
message commit together, a second deposit and its message roll back together, and a relay
then delivers exactly the committed message.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence

from bank.bootstrap import Bank
from bank.domain import AccountId, eur
from hexalchemy.outbox import OutboxRelay
from hexalchemy.ports import OutboxMessage, PublishResult
from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import Schema, SqlAlchemyTransactionManager
from hexalchemy.sqlalchemy.outbox import SqlAlchemyOutboxRelayStore, SqlAlchemyOutboxWriter, outbox_tables


def say(text: str) -> None:
    print(textwrap.indent(textwrap.fill(text, width=88, break_on_hyphens=False), "   "))


class PrintingPublisher:
    """A stand-in for a broker client: prints each message it is given and accepts it."""

    def publish(self, messages: Sequence[OutboxMessage], /) -> Sequence[PublishResult]:
        """Print and accept every message."""
        for message in messages:
            say(f"relay -> broker: {message.topic} {message.payload.decode()} (key {message.ordering_key})")
        return [PublishResult(message.id) for message in messages]


def credited(account_id: AccountId, amount: str) -> OutboxMessage:
    """The message announcing a deposit."""
    payload = json.dumps({"account": str(account_id), "amount": amount}).encode()
    return new_message("account.credited", payload, ordering_key=str(account_id))


def run(bank: Bank[SqlAlchemyTransactionManager], account_id: AccountId) -> None:
    """Deposit twice with a message each, roll the second back, then relay what committed."""
    transactions, accounts = bank.transactions, bank.accounts
    schema = Schema()
    tables = outbox_tables(schema)
    schema.create_all(transactions.engine)
    writer = SqlAlchemyOutboxWriter(tables, transactions)
    store = SqlAlchemyOutboxRelayStore(tables, transactions)

    with transactions.begin():
        account = accounts.save(accounts.get(account_id).deposit(eur("7.00")))
        writer.add(credited(account_id, "7.00"))
    say(f"committed: a deposit of 7.00 EUR and its message ({account.owner} now has {account.balance})")

    try:
        with transactions.begin():
            accounts.save(accounts.get(account_id).deposit(eur("1000.00")))
            writer.add(credited(account_id, "1000.00"))
            raise RuntimeError("the payment provider refused the transfer")
    except RuntimeError as error:
        say(f"rolled back: a deposit of 1000.00 EUR and its message ({error})")

    stats = store.stats()
    say(f"outbox before the relay: {stats.pending} pending, {stats.leased} leased, {stats.dead} dead")
    relay = OutboxRelay(store, PrintingPublisher(), name="demo-relay")
    relay.run_once()
    counters = relay.counters
    say(
        f"relay counters: published {counters.published}, retried {counters.retried}, dead-lettered "
        f"{counters.dead_lettered}, lease lost {counters.lease_lost}"
    )
    stats = store.stats()
    say(f"outbox after the relay: {stats.pending} pending; the rolled-back message never existed")
