"""The shipped publishers: the logging one (for demos) and the collecting one (for tests)."""

from __future__ import annotations

import logging
import threading

import pytest

from hexalchemy.outbox import AsyncLoggingPublisher, LoggingPublisher
from hexalchemy.ports import OutboxMessage, PublishResult
from hexalchemy.rules import new_message
from hexalchemy.testing.publishers import AsyncCollectingPublisher, CollectingPublisher


def message(topic: str = "orders", payload: bytes = b"{}") -> OutboxMessage:
    return new_message(topic, payload)


def test_the_logging_publisher_logs_and_accepts_every_message(caplog: pytest.LogCaptureFixture) -> None:
    first, second = message(payload=b"x" * 500), message(topic="invoices")
    with caplog.at_level(logging.INFO, logger="hexalchemy.outbox.publisher"):
        results = LoggingPublisher().publish([first, second])
    assert list(results) == [PublishResult(first.id), PublishResult(second.id)]
    assert str(first.id) in caplog.text and "invoices" in caplog.text
    assert "(+300 bytes)" in caplog.text


async def test_the_async_logging_publisher_logs_to_the_given_logger(caplog: pytest.LogCaptureFixture) -> None:
    only = message()
    with caplog.at_level(logging.DEBUG, logger="my.broker"):
        results = await AsyncLoggingPublisher(logging.getLogger("my.broker"), level=logging.DEBUG).publish(
            [only]
        )
    assert list(results) == [PublishResult(only.id)]
    assert [record.name for record in caplog.records] == ["my.broker"]


def test_the_collecting_publisher_records_deliveries_in_order() -> None:
    publisher = CollectingPublisher()
    first, second, third = message(), message(), message()
    assert all(result.ok for result in publisher.publish([first, second]))
    publisher.publish([third, first])
    assert publisher.delivered_ids == [first.id, second.id, third.id, first.id]
    assert publisher.batches == 2
    publisher.clear()
    assert publisher.delivered == [] and publisher.batches == 0


def test_the_collecting_publisher_fails_chosen_messages_until_healed() -> None:
    publisher = CollectingPublisher()
    good, poison, invoice = message(), message(), message(topic="invoices")
    publisher.fail_message(poison.id, "poison")
    publisher.fail_when(lambda candidate: "no invoices" if candidate.topic == "invoices" else None)
    results = publisher.publish([good, poison, invoice])
    assert list(results) == [
        PublishResult(good.id),
        PublishResult(poison.id, "poison"),
        PublishResult(invoice.id, "no invoices"),
    ]
    assert publisher.delivered == [good]
    assert publisher.failed == [(poison, "poison"), (invoice, "no invoices")]
    publisher.heal()
    assert all(result.ok for result in publisher.publish([poison]))


def test_the_collecting_publisher_can_refuse_everything_or_raise() -> None:
    publisher = CollectingPublisher()
    publisher.fail_always("down for maintenance")
    only = message()
    assert list(publisher.publish([only])) == [PublishResult(only.id, "down for maintenance")]
    publisher.raise_on_publish(ConnectionError("broker unreachable"))
    with pytest.raises(ConnectionError):
        publisher.publish([only])
    assert publisher.batches == 2
    publisher.raise_on_publish(None)
    publisher.heal()
    assert publisher.publish([only])[0].ok


def test_on_publish_sees_each_batch_first() -> None:
    seen: list[int] = []
    publisher = CollectingPublisher(on_publish=lambda batch: seen.append(len(batch)))
    publisher.publish([message(), message()])
    assert seen == [2]


def test_the_collecting_publisher_is_thread_safe() -> None:
    publisher = CollectingPublisher()
    messages = [message() for _ in range(400)]

    def publish(start: int) -> None:
        for index in range(start, len(messages), 4):
            publisher.publish([messages[index]])

    threads = [threading.Thread(target=publish, args=(start,)) for start in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(publisher.delivered_ids) == sorted(candidate.id for candidate in messages)


async def test_the_async_collecting_publisher_behaves_the_same() -> None:
    publisher = AsyncCollectingPublisher()
    good, poison = message(), message()
    publisher.fail_message(poison.id)
    results = await publisher.publish([good, poison])
    assert [result.ok for result in results] == [True, False]
    assert publisher.delivered_ids == [good.id]
