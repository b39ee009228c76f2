"""In-memory outbox specifics: the fake clock, messages(), and the rules every store shares."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final, cast

import attrs
import pytest

from hexalchemy import rules
from hexalchemy.ports import ConfigError, InvalidArgumentError, InvalidMessageError
from hexalchemy.rules import OutboxPolicy, new_message
from hexalchemy.testing import (
    InMemoryOutboxRelayStore,
    InMemoryOutboxWriter,
    InMemoryTransactionManager,
)
from tests.clock import FakeClock

LONG: Final = dt.timedelta(minutes=10)


def test_the_shared_rules_validate_and_deduplicate_a_batch() -> None:
    local = dt.timezone(dt.timedelta(hours=2))
    now = dt.datetime.now(local)
    batch = [
        new_message("t", b"1", idempotency_key="k", now=now),
        new_message("t", b"2", idempotency_key="k", now=now),
        new_message("u", b"3", idempotency_key="k", now=now),
    ]
    batch.append(attrs.evolve(batch[2], attempts=4, last_error="old"))  # a repeated id
    kept = rules.prepare_batch(batch, 10)
    assert [message.payload for message in kept] == [b"1", b"3"]
    assert all(message.created_at.tzinfo is dt.UTC for message in kept)
    for limit, lease_for in [(0, LONG), (True, LONG), (1, dt.timedelta(0)), (1, 5)]:
        with pytest.raises(InvalidArgumentError):
            rules.check_claim(limit, lease_for)
    with pytest.raises(InvalidMessageError, match="payload"):
        rules.prepare_batch([attrs.evolve(batch[0], payload=b"x" * 11)], 10)
    not_a_message: Any = {"topic": "t"}
    with pytest.raises(InvalidMessageError, match="message"):
        rules.prepare_batch([not_a_message], 10)


def test_a_message_new_message_built_is_validated_once_unless_it_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hexalchemy.rules import outbox_messages

    validated: list[object] = []
    validate = outbox_messages._check_contents  # what validate_message and new_message both check

    def counting(message: Any, max_payload_bytes: int) -> None:
        validated.append(message)
        validate(message, max_payload_bytes)

    monkeypatch.setattr(outbox_messages, "_check_contents", counting)
    message = new_message("t", b"1", headers={"h": "v"}, max_payload_bytes=10)
    assert rules.prepare_batch([message], 10) == [message]
    assert validated == [message]  # by new_message only: the batch kept it as it is
    cast(dict[str, str], message.headers)["h"] = (
        "\x00"  # the headers are the one mutable field: changed, checked again
    )
    with pytest.raises(InvalidMessageError, match="NUL"):
        rules.prepare_batch([message], 10)
    large = new_message("t", b"x" * 11)  # checked against new_message's limit, not the batch's
    with pytest.raises(InvalidMessageError, match="payload"):
        rules.prepare_batch([large], 10)
    with pytest.raises(InvalidMessageError, match="NUL"):
        rules.prepare_batch([attrs.evolve(new_message("t", b"1"), topic="\x00")], 10)
    del message, large  # the message new_message built last is gone: None is not taken for it
    with pytest.raises(InvalidMessageError, match="message"):
        rules.prepare_batch([not_a_message()], 10)


def not_a_message() -> Any:
    return None


def test_a_stored_message_keeps_its_headers_as_they_were_added() -> None:
    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    message = new_message("t", b"1", headers={"h": "v"})
    with transactions.begin():
        writer.add(message)
    cast(dict[str, str], message.headers)["h"] = "changed"
    assert [stored.headers for stored in writer.messages()] == [{"h": "v"}]


def test_messages_show_only_committed_messages_in_commit_order() -> None:
    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    first, second = new_message("t", b"1"), new_message("t", b"2")
    with transactions.begin():
        writer.add(second)
        assert writer.messages() == []
    with transactions.begin():
        writer.add(first)
    assert [message.id for message in writer.messages()] == [second.id, first.id]


def test_the_datetimes_of_stored_messages_are_in_utc() -> None:
    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    local = dt.datetime.now(dt.timezone(dt.timedelta(hours=-5)))
    with transactions.begin():
        writer.add(new_message("t", b"", now=local))
    (message,) = writer.messages()
    assert message.created_at == local
    assert message.created_at.tzinfo is dt.UTC


def test_a_store_without_a_policy_dead_letters_after_ten_claims() -> None:
    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    clock = FakeClock()
    store = InMemoryOutboxRelayStore(transactions, clock=clock)
    with transactions.begin():
        writer.add(new_message("t", b""))
    for _ in range(10):
        assert len(store.claim(limit=1, lease_for=LONG).messages) == 1
        clock.advance(LONG * 2)
    assert store.claim(limit=1, lease_for=LONG).messages == ()
    assert store.stats().dead == 1


def test_the_fake_clock_decides_when_messages_are_due() -> None:
    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    clock = FakeClock()
    store = InMemoryOutboxRelayStore(transactions, clock=clock)
    with transactions.begin():
        writer.add(new_message("t", b"", available_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
    assert store.claim(limit=1, lease_for=LONG).messages == ()
    clock.advance(dt.timedelta(days=2))
    assert len(store.claim(limit=1, lease_for=LONG).messages) == 1


def test_a_naive_clock_is_refused() -> None:
    transactions = InMemoryTransactionManager()
    store = InMemoryOutboxRelayStore(transactions, clock=lambda: dt.datetime.now().replace(tzinfo=None))
    with pytest.raises(ConfigError, match="clock"):
        store.stats()


def test_returned_messages_are_copies() -> None:
    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    store = InMemoryOutboxRelayStore(transactions)
    with transactions.begin():
        writer.add(new_message("t", b"", headers={"h": "v"}))
    (message,) = store.claim(limit=1, lease_for=LONG).messages
    headers: Any = message.headers
    headers["h"] = "changed"
    (stored,) = writer.messages()
    assert stored.headers == {"h": "v"}


def test_archived_messages_are_purged() -> None:
    transactions = InMemoryTransactionManager()
    writer = InMemoryOutboxWriter(transactions)
    store = InMemoryOutboxRelayStore(transactions, policy=OutboxPolicy(archive=True))
    with transactions.begin():
        writer.add(new_message("t", b""))
    lease = store.claim(limit=1, lease_for=LONG)
    store.acknowledge(lease, [lease.messages[0].id])
    assert store.purge(dead_before=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == 1


def test_relay_store_arguments_are_checked() -> None:
    transactions = InMemoryTransactionManager()
    store = InMemoryOutboxRelayStore(transactions)
    lease = store.claim(limit=1, lease_for=LONG)
    not_text: Any = 42
    with pytest.raises(InvalidArgumentError, match="error"):
        store.reject(lease, uuid.uuid4(), not_text)
    with pytest.raises(InvalidArgumentError, match="limit"):
        store.dead_letters(limit=0)
    with pytest.raises(InvalidArgumentError, match="dead_before"):
        store.purge(dead_before=dt.datetime.now().replace(tzinfo=None))
    assert store.requeue([]) == 0


def test_a_bad_max_payload_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_payload_bytes"):
        InMemoryOutboxWriter(InMemoryTransactionManager(), max_payload_bytes=0)
