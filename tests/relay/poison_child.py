"""A relay process for the poison oracle: it dies (``os._exit``) when it publishes the poison message.

    python -m tests.relay.poison_child URL PREFIX PUBLISHED_FILE [leased|locked|pipelined]

It delivers with a relay of the given delivery mode (leased by default: lease 0.3 s;
``pipelined``: a leased relay pipelined, in batches of 4, so that a batch is claimed ahead
while the poison is published; ``max_attempts`` 3) until two batches (drains) in a row
find nothing, appending each message id it publishes to ``PUBLISHED_FILE`` (flushed and
synced before it reports success), and exits 0; publishing the message whose payload is
``b"poison"`` ends the process at once with status 17, as a crash would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Final

import sqlalchemy

from hexalchemy.outbox import OutboxRelay
from hexalchemy.ports import OutboxMessage, PublishResult
from hexalchemy.rules import OutboxPolicy
from hexalchemy.sqlalchemy import DatabaseConfig, SqlAlchemyTransactionManager, create_engine
from hexalchemy.sqlalchemy.outbox import SqlAlchemyOutboxRelayStore, outbox_tables

POISON: Final = b"poison"
CRASHED: Final = 17
POLICY: Final = OutboxPolicy(max_attempts=3)
LEASE: Final = 0.3


class DyingPublisher:
    """Publishes to a file; dies on the poison."""

    def __init__(self, path: str) -> None:
        self.path = path

    def publish(self, messages: Sequence[OutboxMessage], /) -> list[PublishResult]:
        if any(message.payload == POISON for message in messages):
            os._exit(CRASHED)
        with open(self.path, "a", encoding="utf-8") as file:
            file.writelines(f"{message.id}\n" for message in messages)
            file.flush()
            os.fsync(file.fileno())
        return [PublishResult(message.id) for message in messages]


def main(url: str, prefix: str, published: str, mode: str = "leased") -> int:
    engine = create_engine(DatabaseConfig(url=url))
    tables = outbox_tables(sqlalchemy.MetaData(), prefix=prefix)
    store = SqlAlchemyOutboxRelayStore(tables, SqlAlchemyTransactionManager(engine), policy=POLICY)
    pipelined = mode == "pipelined"
    relay = OutboxRelay(
        store,
        DyingPublisher(published),
        batch_size=4 if pipelined else 100,
        lease_for=LEASE,
        delivery="locked" if mode == "locked" else "leased",
        pipelined=pipelined,
    )
    empty = 0
    while empty < 2:
        empty = empty + 1 if (relay.drain() if pipelined else relay.run_once()) == 0 else 0
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
