"""The Redis Streams publishers against the real Redis (127.0.0.1:6379 unless ``TEST_REDIS_URL``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from sqlalchemy import MetaData

from hexalchemy.brokers._redis_core import RedisCore
from hexalchemy.brokers.redis import (
    SCRIPT_BYTES,
    SCRIPT_ENTRIES,
    AsyncRedisStreamPublisher,
    RedisStreamPublisher,
)
from hexalchemy.outbox import OutboxRelay
from hexalchemy.ports import (
    AsyncPublisher,
    ConfigError,
    OutboxMessage,
    OutboxRelayStore,
    OutboxWriter,
    Publisher,
    Route,
    TransactionManager,
)
from hexalchemy.rules import default_route
from hexalchemy.rules.routes import MESSAGE_ID_HEADER
from hexalchemy.sqlalchemy import (
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    SqlAlchemyTransactionManager,
    create_engine,
    outbox_tables,
)
from hexalchemy.testing import InMemoryOutboxRelayStore, InMemoryOutboxWriter, InMemoryTransactionManager
from tests.brokers.messages import batch, unique
from tests.brokers.services import REDIS_URL, require
from tests.postgresql import sqlite_file_with_tables


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    require("Redis", REDIS_URL)
    connection = redis.Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


@pytest.fixture
def stream(client: redis.Redis) -> Iterator[str]:
    name = unique("stream")
    yield name
    client.delete(name)
    for key in client.scan_iter(f"hexalchemy:dedup:{name}:*"):
        client.delete(key)


@pytest.fixture
def publisher(client: redis.Redis) -> Iterator[RedisStreamPublisher]:
    publisher = RedisStreamPublisher(REDIS_URL)
    yield publisher
    publisher.close()


@pytest.fixture
async def async_publisher() -> AsyncIterator[AsyncRedisStreamPublisher]:
    require("Redis", REDIS_URL)
    publisher = AsyncRedisStreamPublisher(REDIS_URL)
    yield publisher
    await publisher.aclose()


def _static_checks(
    sync: RedisStreamPublisher, asynchronous: AsyncRedisStreamPublisher
) -> tuple[Publisher, AsyncPublisher]:
    """Never called: mypy checks that the publishers implement their ports."""
    return sync, asynchronous


def _entries(client: redis.Redis, stream: str) -> list[tuple[bytes, dict[str, str]]]:
    entries: Any = client.xrange(stream)
    return [(fields[b"payload"], json.loads(fields[b"headers"])) for _, fields in entries]


def test_a_batch_lands_in_its_stream_in_order(
    client: redis.Redis, stream: str, publisher: RedisStreamPublisher
) -> None:
    messages = batch(stream, 5, key="k")
    results = publisher.publish(messages)
    assert [r.message_id for r in results] == [m.id for m in messages] and all(r.ok for r in results)
    entries = _entries(client, stream)
    assert [payload for payload, _ in entries] == [b"0", b"1", b"2", b"3", b"4"]
    assert entries[0][1]["n"] == "0" and entries[0][1][MESSAGE_ID_HEADER] == str(messages[0].id)


async def test_the_async_publisher_lands_a_batch(
    client: redis.Redis, stream: str, async_publisher: AsyncRedisStreamPublisher
) -> None:
    messages = batch(stream, 3)
    results = await async_publisher.publish(messages)
    assert all(r.ok for r in results)
    assert [payload for payload, _ in _entries(client, stream)] == [b"0", b"1", b"2"]


def test_a_republished_message_is_not_added_twice(
    client: redis.Redis, stream: str, publisher: RedisStreamPublisher
) -> None:
    messages = batch(stream, 3)
    publisher.publish(messages[:2])
    results = publisher.publish(messages)
    assert all(r.ok for r in results)
    assert [payload for payload, _ in _entries(client, stream)] == [b"0", b"1", b"2"]


async def test_the_async_publisher_deduplicates_too(
    client: redis.Redis, stream: str, async_publisher: AsyncRedisStreamPublisher
) -> None:
    messages = batch(stream, 2)
    await async_publisher.publish(messages)
    await async_publisher.publish(messages)
    assert len(_entries(client, stream)) == 2


def test_a_batch_over_several_streams_and_script_calls_lands_in_order(
    client: redis.Redis, stream: str, publisher: RedisStreamPublisher
) -> None:
    other = unique("stream")
    try:
        count = SCRIPT_ENTRIES + 5  # two script calls for each stream
        first, second = batch(stream, count), batch(other, count)
        interleaved = [message for pair in zip(first, second, strict=True) for message in pair]
        publisher.publish(interleaved[:7])  # republished below: deduplicated
        results = publisher.publish(interleaved)
        assert [r.message_id for r in results] == [m.id for m in interleaved] and all(r.ok for r in results)
        expected = [str(index).encode() for index in range(count)]
        assert [payload for payload, _ in _entries(client, stream)] == expected
        assert [payload for payload, _ in _entries(client, other)] == expected
    finally:
        client.delete(other)
        for key in client.scan_iter(f"hexalchemy:dedup:{other}:*"):
            client.delete(key)


def test_max_length_trims_the_stream(client: redis.Redis, stream: str) -> None:
    publisher = RedisStreamPublisher(client, max_length=3, approximate=False)
    publisher.publish(batch(stream, 10))
    assert [payload for payload, _ in _entries(client, stream)] == [b"7", b"8", b"9"]


def test_a_refused_command_fails_its_message_for_good(
    client: redis.Redis, stream: str, publisher: RedisStreamPublisher
) -> None:
    wrong = unique("plain-key")
    client.set(wrong, "not a stream")
    try:
        good, bad = batch(stream, 1)[0], batch(wrong, 1)[0]
        results = {r.message_id: r for r in publisher.publish([good, bad])}
        assert results[good.id].ok
        assert (
            not results[bad.id].ok
            and results[bad.id].permanent
            and "WRONGTYPE" in (results[bad.id].error or "")
        )
    finally:
        client.delete(wrong)


def test_a_failing_routing_function_fails_its_message_for_good(client: redis.Redis, stream: str) -> None:
    def route(message: OutboxMessage) -> Route:
        if message.payload == b"1":
            raise ValueError("no route for 1")
        return default_route(message)

    publisher = RedisStreamPublisher(client, route=route)
    results = publisher.publish(batch(stream, 3))
    assert [r.ok for r in results] == [True, True, False] or sorted(r.ok for r in results) == [
        False,
        True,
        True,
    ]
    failed = [r for r in results if not r.ok]
    assert failed[0].permanent and "no route for 1" in (failed[0].error or "")
    assert [payload for payload, _ in _entries(client, stream)] == [b"0", b"2"]


def test_an_unreachable_server_fails_the_batch_as_retryable() -> None:
    publisher = RedisStreamPublisher(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5))
    results = publisher.publish(batch("nowhere", 2))
    assert all(not r.ok and not r.permanent for r in results)


def test_the_publisher_reconnects_after_its_connections_are_killed(
    client: redis.Redis, stream: str, publisher: RedisStreamPublisher
) -> None:
    publisher.publish(batch(stream, 1))
    client.client_kill_filter(_type="normal", skipme=True)
    first = publisher.publish(batch(stream, 1))
    assert all(r.ok or not r.permanent for r in first)  # retried inside the client, or retryable
    assert all(r.ok for r in publisher.publish(batch(stream, 1)))


def test_a_flushed_script_is_loaded_again(
    client: redis.Redis, stream: str, publisher: RedisStreamPublisher
) -> None:
    client.script_flush()
    assert all(r.ok for r in publisher.publish(batch(stream, 2)))


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
@pytest.mark.parametrize("delivery", ["leased", "locked"])
def test_a_permanent_failure_is_dead_lettered_by_the_relay_without_retries(
    client: redis.Redis,
    stream: str,
    publisher: RedisStreamPublisher,
    delivery: str,
    store_kind: str,
    tmp_path: Path,
) -> None:
    wrong = unique("plain-key")
    client.set(wrong, "not a stream")
    store: OutboxRelayStore
    if store_kind == "memory":
        memory = InMemoryTransactionManager()
        transactions: TransactionManager = memory
        writer: OutboxWriter = InMemoryOutboxWriter(memory)
        store = InMemoryOutboxRelayStore(memory)
    else:
        metadata = MetaData()
        tables = outbox_tables(metadata)
        engine = create_engine(sqlite_file_with_tables(metadata, tmp_path / "outbox.db"))
        sql = SqlAlchemyTransactionManager(engine)
        transactions, writer, store = (
            sql,
            SqlAlchemyOutboxWriter(tables, sql),
            SqlAlchemyOutboxRelayStore(tables, sql),
        )
    try:
        with transactions.begin():
            writer.add_all([*batch(stream, 2), *batch(wrong, 1)])
        relay = OutboxRelay(store, publisher, delivery=delivery)
        assert relay.run_once() == 3
        counters = relay.counters
        assert (counters.published, counters.dead_lettered, counters.retried) == (2, 1, 0)
        assert [d.message.topic for d in store.dead_letters()] == [wrong]
    finally:
        client.delete(wrong)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_length"):
        RedisStreamPublisher(REDIS_URL, max_length=0)
    with pytest.raises(ConfigError, match="dedup_window"):
        RedisStreamPublisher(REDIS_URL, dedup_window=dt.timedelta(0))
    with pytest.raises(ConfigError, match="client"):
        RedisStreamPublisher(cast(Any, 42))
    with pytest.raises(ConfigError, match="route"):
        RedisStreamPublisher(REDIS_URL, route=cast(Any, "topic"))


def test_large_messages_are_split_over_script_calls_by_their_bytes() -> None:
    core = RedisCore(
        max_length=None, approximate=True, dedup_window=dt.timedelta(days=1), dedup_prefix="d:", route=None
    )
    big = SCRIPT_BYTES // 3 + 1  # three of them pass the budget
    routes = [Route(destination="s", payload=b"x" * big, dedup_id=str(index)) for index in range(7)]
    routes.insert(3, Route(destination="t", payload=b"y", dedup_id="other stream"))
    calls = core.calls(routes)
    assert [call.positions for call in calls] == [[0, 1, 2], [4, 5, 6], [7], [3]]
    assert all(call.arguments[0] == len(call.positions) + 1 for call in calls)
