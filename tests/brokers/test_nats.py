"""The JetStream publisher against the real NATS server (127.0.0.1:4222 unless ``TEST_NATS_URL``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from hexalchemy.brokers.nats import MSG_ID_HEADER, AsyncJetStreamPublisher, is_retryable
from hexalchemy.ports import AsyncPublisher, ConfigError, OutboxMessage, Route
from hexalchemy.rules import default_route
from hexalchemy.rules.routes import MESSAGE_ID_HEADER
from tests.brokers.messages import batch, unique
from tests.brokers.services import NATS_URL, require, restart


def _static_check(publisher: AsyncJetStreamPublisher) -> AsyncPublisher:
    """Never called: mypy checks that the publisher implements its port."""
    return publisher


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    require("NATS", NATS_URL)
    connection = await nats.connect(NATS_URL)
    yield connection
    await connection.close()


@pytest.fixture
async def subject(client: Client) -> AsyncIterator[str]:
    name = unique("subject")
    jetstream = client.jetstream()
    await jetstream.add_stream(name=name, subjects=[name, f"{name}.>"])
    yield name
    await jetstream.delete_stream(name)


@pytest.fixture
async def publisher() -> AsyncIterator[AsyncJetStreamPublisher]:
    require("NATS", NATS_URL)
    publisher = AsyncJetStreamPublisher(NATS_URL, timeout=5)
    yield publisher
    await publisher.aclose()


async def _stored(jetstream: JetStreamContext, stream: str) -> list[tuple[bytes, dict[str, str]]]:
    info = await jetstream.stream_info(stream)
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await jetstream.get_msg(stream, sequence)
        found.append((message.data or b"", dict(message.headers or {})))
    return found


async def test_a_batch_lands_in_its_stream_in_order(
    client: Client, subject: str, publisher: AsyncJetStreamPublisher
) -> None:
    messages = batch(subject, 5, key="k")
    results = await publisher.publish(messages)
    assert [r.message_id for r in results] == [m.id for m in messages] and all(r.ok for r in results)
    stored = await _stored(client.jetstream(), subject)
    assert [data for data, _ in stored] == [b"0", b"1", b"2", b"3", b"4"]
    headers = stored[0][1]
    assert headers[MSG_ID_HEADER] == str(messages[0].id) == headers[MESSAGE_ID_HEADER]
    assert headers["n"] == "0"


async def test_a_republished_message_is_dropped_by_the_duplicate_window(
    client: Client, subject: str, publisher: AsyncJetStreamPublisher
) -> None:
    messages = batch(subject, 3)
    await publisher.publish(messages[:2])
    results = await publisher.publish(messages)
    assert all(r.ok for r in results)
    assert [data for data, _ in await _stored(client.jetstream(), subject)] == [b"0", b"1", b"2"]


async def test_a_subject_no_stream_listens_on_fails_for_good(
    subject: str, publisher: AsyncJetStreamPublisher
) -> None:
    good, lost = batch(subject, 1)[0], batch(unique("nowhere"), 1)[0]
    results = {r.message_id: r for r in await publisher.publish([good, lost])}
    assert results[good.id].ok
    assert not results[lost.id].ok and results[lost.id].permanent


def test_no_responders_on_a_subject_a_stream_listens_on_is_retryable() -> None:
    # a replicated stream whose leader died answers nothing until a new one is elected
    # (tests/brokers/test_end_to_end.py kills the leader of a 3-node cluster)
    assert is_retryable(nats.js.errors.NoStreamResponseError(), stream_bound=True)
    assert not is_retryable(nats.js.errors.NoStreamResponseError())


async def test_a_payload_over_the_servers_limit_fails_for_good(client: Client, subject: str) -> None:
    too_large = client.max_payload + 1

    def route(message: OutboxMessage) -> Route:
        normal = default_route(message)
        return Route(
            destination=normal.destination, payload=b"x" * too_large, headers={}, dedup_id=normal.dedup_id
        )

    publisher = AsyncJetStreamPublisher(client, route=route)
    (result,) = await publisher.publish(batch(subject, 1))
    assert not result.ok and result.permanent


async def test_an_unreachable_server_fails_the_batch_as_retryable() -> None:
    publisher = AsyncJetStreamPublisher("nats://127.0.0.1:1", timeout=0.5)
    results = await publisher.publish(batch("nowhere", 2))
    assert all(not r.ok and not r.permanent for r in results)
    await publisher.aclose()


async def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        AsyncJetStreamPublisher(NATS_URL, timeout=0)
    with pytest.raises(ConfigError, match="client"):
        AsyncJetStreamPublisher(cast(Any, 42))
    with pytest.raises(ConfigError, match="stream"):
        AsyncJetStreamPublisher(NATS_URL, stream="")


async def test_the_publisher_reconnects_after_a_server_restart_and_nothing_is_stored_twice(
    subject: str, publisher: AsyncJetStreamPublisher
) -> None:
    first = batch(subject, 3)
    assert all(r.ok for r in await publisher.publish(first))
    await asyncio.to_thread(restart, "nats", NATS_URL)
    second = batch(subject, 3)
    pending = first + second  # republish the first batch too: the duplicate window drops it
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        results = await publisher.publish(pending)
        assert not any(r.permanent for r in results), results
        failed = {r.message_id for r in results if not r.ok}
        pending = [m for m in pending if m.id in failed]
        if pending:
            await asyncio.sleep(0.2)
    assert not pending
    checker = await nats.connect(NATS_URL)
    try:
        stored = await _stored(checker.jetstream(), subject)
    finally:
        await checker.close()
    assert sorted(data for data, _ in stored) == [b"0", b"0", b"1", b"1", b"2", b"2"]
    assert len({headers[MSG_ID_HEADER] for _, headers in stored}) == 6
