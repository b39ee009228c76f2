"""The loss-and-duplication oracle on PostgreSQL and MariaDB: concurrent producers and relays, real connections.

Four producer threads commit (and, one time in five, roll back) transactions of keyed and
unkeyed messages while four relays (leased, locked, or leased and pipelined), each with its own engine, publish into one
collecting publisher that refuses a tenth of the messages once. Afterwards:

- the delivered set is exactly the committed set (nothing lost, nothing rolled back);
- a message is delivered twice only when a lease expired, and every duplicate shows in
  the relays' ``lease_lost``;
- the messages of each ordering key were delivered in commit order (the store's
  ``key_sequence``, read from the archive), and each producer's messages of a key in the
  order it committed them.
"""

from __future__ import annotations

import collections
import random
import threading
import time
import uuid

import attrs
import pytest
import sqlalchemy

from hexalchemy.outbox import DeliveryMode, OutboxRelay, RelayCounters
from hexalchemy.ports import OutboxMessage
from hexalchemy.rules import new_message
from hexalchemy.testing.publishers import CollectingPublisher
from tests.relay.conftest import FAST, POLICY, Outbox

PRODUCERS = 4
RELAYS = 4
TRANSACTIONS = 40
KEYS = [f"customer-{number}" for number in range(6)]


@attrs.define
class Producer:
    """One producer thread's committed messages, in the order it committed them."""

    seed: int
    committed: list[OutboxMessage] = attrs.field(factory=list)
    rolled_back: list[OutboxMessage] = attrs.field(factory=list)


def produce(outbox: Outbox, producer: Producer) -> None:
    chance = random.Random(producer.seed)
    for _ in range(TRANSACTIONS):
        batch = [
            new_message(
                "orders",
                f"{producer.seed}".encode(),
                ordering_key=chance.choice(KEYS) if chance.random() < 0.8 else None,
            )
            for _ in range(chance.randint(1, 3))
        ]
        if chance.random() < 0.2:
            outbox.roll_back(*batch)
            producer.rolled_back.extend(batch)
        else:
            outbox.commit(*batch)
            producer.committed.extend(batch)


@pytest.mark.parametrize(
    ("delivery", "pipelined"),
    [(DeliveryMode.LEASED, False), (DeliveryMode.LOCKED, False), (DeliveryMode.LEASED, True)],
    ids=["leased", "locked", "leased-pipelined"],
)
def test_what_was_committed_is_delivered_once_in_key_order(
    archived_server_outbox: Outbox, delivery: DeliveryMode, pipelined: bool
) -> None:
    outbox = archived_server_outbox
    refused_once: set[uuid.UUID] = set()

    def flaky(candidate: OutboxMessage) -> str | None:
        # runs under the publisher's lock; refuses a tenth of the messages on their first try
        if candidate.id.int % 10 == 0 and candidate.id not in refused_once:
            refused_once.add(candidate.id)
            return "transient broker error"
        return None

    publisher = CollectingPublisher()
    publisher.fail_when(flaky)
    relays = [
        OutboxRelay(
            outbox.new_store(policy=attrs.evolve(POLICY, archive=True, max_attempts=10)),
            publisher,
            batch_size=10,
            lease_for=10,
            delivery=delivery,
            pipelined=pipelined,
            name=f"relay-{number}",
            **FAST,
        )
        for number in range(RELAYS)
    ]
    stop = threading.Event()
    relay_threads = [threading.Thread(target=relay.run, args=(stop,)) for relay in relays]
    producers = [Producer(seed) for seed in range(PRODUCERS)]
    producer_threads = [threading.Thread(target=produce, args=(outbox, producer)) for producer in producers]
    for thread in [*relay_threads, *producer_threads]:
        thread.start()
    try:
        for thread in producer_threads:
            thread.join(30)
        committed = {item.id for producer in producers for item in producer.committed}
        deadline = time.monotonic() + 30
        while not committed <= set(publisher.delivered_ids):
            assert time.monotonic() < deadline, "not everything committed was delivered"
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in relay_threads:
            thread.join(10)
    assert not any(thread.is_alive() for thread in [*relay_threads, *producer_threads])

    delivered = publisher.delivered_ids
    counters = sum((relay.counters for relay in relays), RelayCounters())
    rolled_back = {item.id for producer in producers for item in producer.rolled_back}

    # nothing lost, nothing that was rolled back
    assert len(committed) > 200 and len(rolled_back) > 20
    assert set(delivered) == committed
    # no duplicate, unless a lease expired
    duplicates = len(delivered) - len(set(delivered))
    assert duplicates <= counters.lease_lost
    assert counters.published == len(delivered)
    assert counters.retried == len(refused_once)
    assert counters.errors == 0 and counters.dead_lettered == 0
    stats = outbox.store.stats()
    assert (stats.pending, stats.leased, stats.dead) == (0, 0, 0)

    # per-key order: first deliveries follow the key sequence the store numbered in commit order
    assert outbox.tables is not None and outbox.tables.archive is not None and outbox.engine is not None
    archive = outbox.tables.archive
    with outbox.engine.connect() as connection:
        sequence = dict(connection.execute(sqlalchemy.select(archive.c.id, archive.c.key_sequence)).all())
    assert set(sequence) == committed
    first_deliveries = list(dict.fromkeys(delivered))
    keys = {item.id: item.ordering_key for producer in producers for item in producer.committed}
    by_key: dict[str, list[int]] = collections.defaultdict(list)
    for id in first_deliveries:
        key = keys[id]
        if key is not None:
            by_key[key].append(sequence[id])
    for key, numbers in by_key.items():
        assert numbers == sorted(numbers), f"key {key} was delivered out of order"
    # ...and each producer's messages of a key in the order it committed them
    position = {id: index for index, id in enumerate(first_deliveries)}
    for producer in producers:
        for key in KEYS:
            mine = [position[item.id] for item in producer.committed if item.ordering_key == key]
            assert mine == sorted(mine)
