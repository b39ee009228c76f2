"""``hexalchemy outbox relay --publisher amqp://|nats://|redis://`` end to end: a subprocess, SIGTERM, counts at the broker.

Each test commits messages to an outbox on PostgreSQL, starts the command in a child
process, sends it SIGTERM once its progress lines show messages published, and checks
that it exits 0 with what it published acknowledged: the broker holds exactly the
messages the outbox no longer has. A second run with ``--drain`` delivers the rest: the
broker then holds every message once. Bounded: a few thousand messages, every wait
with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Final

import aio_pika
import nats
import pytest
import redis
import sqlalchemy
import sqlalchemy.exc

from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import DatabaseConfig, SqlAlchemyOutboxRelayStore, create_engine, outbox_tables
from tests.brokers.messages import unique
from tests.brokers.services import AMQP_URL, NATS_URL, REDIS_URL, require
from tests.postgresql import POSTGRESQL_URL, without_postgresql
from tests.relay.conftest import sql_writer

pytestmark = pytest.mark.postgresql

MESSAGES: Final = 3_000
SECONDS: Final = 60.0
"""The deadline of each wait."""

_PUBLISHED: Final = re.compile(r"published=(\d+)")


class Outbox:
    """An outbox with tables of its own on PostgreSQL."""

    def __init__(self) -> None:
        self.prefix = f"cli_{unique('relay').rsplit('-', 1)[1]}"
        self.metadata = sqlalchemy.MetaData()
        self.tables = outbox_tables(self.metadata, prefix=self.prefix)
        self.engine = create_engine(DatabaseConfig(url=POSTGRESQL_URL))
        try:
            self.metadata.create_all(self.engine)
        except sqlalchemy.exc.OperationalError as error:
            self.engine.dispose()
            without_postgresql(f"PostgreSQL is unreachable: {error}")

    def commit(self, topic: str, count: int) -> None:
        write = sql_writer(self.tables, self.engine)
        for start in range(0, count, 500):
            write(
                [new_message(topic, f"{index}".encode()) for index in range(start, min(count, start + 500))],
                True,
            )

    def pending(self) -> int:
        return SqlAlchemyOutboxRelayStore(self.tables, self.engine).stats().pending

    def close(self) -> None:
        self.metadata.drop_all(self.engine)
        self.engine.dispose()


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    built = Outbox()
    yield built
    built.close()


def relay(outbox: Outbox, publisher: str, *options: str) -> subprocess.Popen[str]:
    """The command in a child process, its stdout piped, with progress lines every 0.2 s."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hexalchemy.cli",
            "outbox",
            "relay",
            "--url",
            POSTGRESQL_URL,
            "--prefix",
            outbox.prefix,
            "--publisher",
            publisher,
            "--progress",
            "0.2",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop_when_publishing(child: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM ``child`` once a progress line shows a message published; its last published count and output."""
    assert child.stdout is not None
    deadline = time.monotonic() + SECONDS
    lines: list[str] = []
    for line in child.stdout:
        lines.append(line)
        match = _PUBLISHED.search(line)
        if line.startswith("progress:") and match and int(match.group(1)) > 0:
            child.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, f"nothing published within {SECONDS} s: {''.join(lines)}"
    return finish(child, lines)


def finish(child: subprocess.Popen[str], lines: list[str] | None = None) -> tuple[int, str]:
    """Wait for ``child`` to exit 0; the published count of its last line, and its output."""
    try:
        out, err = child.communicate(timeout=SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        pytest.fail(f"the relay did not exit within {SECONDS} s: {out[-2000:]} {err[-2000:]}")
    text = "".join(lines or []) + out
    assert child.returncode == 0, f"exit {child.returncode}: {err[-3000:]}"
    last = text.strip().splitlines()[-1]
    assert last.startswith("relay stopped: "), text[-2000:]
    match = _PUBLISHED.search(last)
    assert match is not None
    return int(match.group(1)), text


def check_stop_then_drain(
    outbox: Outbox, publisher: str, options: list[str], stored: Callable[[], int]
) -> None:
    first, text = stop_when_publishing(relay(outbox, publisher, *options))
    pending = outbox.pending()
    print(f"stopped after {first} of {MESSAGES} published; pending {pending}; at the broker {stored()}")
    assert "progress: published=" in text
    assert stored() == first, "the broker holds what the relay published, nothing more, nothing less"
    assert pending == MESSAGES - first, "what was published is acknowledged; the rest is pending"
    second, _ = finish(relay(outbox, publisher, *options, "--drain"))
    assert first + second == MESSAGES
    assert outbox.pending() == 0
    assert stored() == MESSAGES


@pytest.mark.parametrize("delivery", ["leased", "locked"])
def test_redis(outbox: Outbox, delivery: str) -> None:
    require("Redis", REDIS_URL)
    stream = unique("cli-stream")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        outbox.commit("orders", MESSAGES)
        options = [
            "--destination",
            stream,
            "--delivery",
            delivery,
            "--batch-size",
            "20",
            "--max-length",
            "100000",
        ]
        check_stop_then_drain(outbox, REDIS_URL, options, lambda: int(client.xlen(stream)))
    finally:
        client.delete(stream)
        for key in client.scan_iter(f"hexalchemy:dedup:{stream}:*", count=1000):
            client.delete(key)
        client.close()


def test_nats(outbox: Outbox) -> None:
    require("NATS", NATS_URL)
    stream = unique("cli-stream").replace(".", "-")
    prefix = unique("cli")

    async def create() -> None:
        client = await nats.connect(NATS_URL)
        await client.jetstream().add_stream(name=stream, subjects=[f"{prefix}.>"])
        await client.close()

    async def count() -> int:
        client = await nats.connect(NATS_URL)
        try:
            return (await client.jetstream().stream_info(stream)).state.messages
        finally:
            await client.close()

    async def delete() -> None:
        client = await nats.connect(NATS_URL)
        await client.jetstream().delete_stream(stream)
        await client.close()

    asyncio.run(create())
    try:
        outbox.commit("orders", MESSAGES)
        options = [
            "--destination",
            prefix + ".{topic}",
            "--stream",
            stream,
            "--batch-size",
            "20",
            "--timeout",
            "5",
        ]
        check_stop_then_drain(outbox, NATS_URL, options, lambda: asyncio.run(count()))
    finally:
        asyncio.run(delete())


def test_rabbitmq(outbox: Outbox) -> None:
    require("RabbitMQ", AMQP_URL)
    exchange, queue = unique("cli-exchange"), unique("cli-queue")

    async def create() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        bound = await channel.declare_queue(queue, durable=True)
        await bound.bind(declared, routing_key="orders.#")
        await connection.close()

    async def count() -> int:
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            found = declared.declaration_result.message_count
            return found or 0
        finally:
            await connection.close()

    async def delete() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
        await connection.close()

    asyncio.run(create())
    try:
        outbox.commit("placed", MESSAGES)
        options = ["--exchange", exchange, "--destination", "orders.{topic}", "--batch-size", "20"]
        check_stop_then_drain(outbox, AMQP_URL, options, lambda: asyncio.run(count()))
    finally:
        asyncio.run(delete())
