"""End to end, with faults, one oracle per broker: what was committed is applied exactly once, in key order.

Four producer processes commit transactions on PostgreSQL (one in five rolled back; one or
two messages each, on four ordering keys or none) -> the outbox -> two relay processes
(one SIGKILLed once and started again) -> the broker (restarted once, with the machine's
own command) -> two consumer processes with the inbox on PostgreSQL (one SIGKILLed).
Processes are in :mod:`tests.brokers.end_to_end`. Pass:

- every committed message's effect applied exactly once, no rolled-back message applied;
- the effects of each ordering key in commit order (the outbox's key sequence, read from
  the archive);
- nothing left in the outbox, nothing dead-lettered.

``TEST_E2E_TRANSACTIONS`` sets the transactions per producer (default
:data:`DEFAULT_TRANSACTIONS`, a bounded scale for the suite; the issue's full scale is
500). Every process has a deadline (``TEST_E2E_SECONDS``, default
:data:`DEFAULT_SECONDS`) and the test stops by itself. The figures are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
import sqlalchemy

from hexalchemy.ports import OutboxStats
from hexalchemy.sqlalchemy import DatabaseConfig, create_engine
from hexalchemy.sqlalchemy.outbox import SqlAlchemyOutboxRelayStore
from tests.brokers.end_to_end import KEYS, LANES, POLICY, Config, tables
from tests.brokers.nats_cluster import NatsCluster
from tests.brokers.services import AMQP_URL, NATS_URL, REDIS_URL, require, restart, without_broker
from tests.postgresql import POSTGRESQL_URL, without_postgresql

pytestmark = pytest.mark.postgresql

PRODUCERS: Final = 4
RELAYS: Final = 2
CONSUMERS: Final = 2
DEFAULT_TRANSACTIONS: Final = 30
DEFAULT_SECONDS: Final = 120.0
TRANSACTIONS: Final = int(os.environ.get("TEST_E2E_TRANSACTIONS", DEFAULT_TRANSACTIONS))
SECONDS: Final = float(os.environ.get("TEST_E2E_SECONDS", DEFAULT_SECONDS))
ROOT: Final = Path(__file__).resolve().parents[2]


@attrs.define
class Broker:
    """How the test sets up, restarts and cleans a broker for one run."""

    name: str
    url: str
    setup: Callable[[Config], None]
    teardown: Callable[[Config], None]
    restart: Callable[[], str | None]
    servers: tuple[str, ...] = ()
    label: str = ""


@attrs.define
class Figures:
    committed: int = 0
    rolled_back: int = 0
    published: int = 0
    redelivered: int = 0
    deduplicated: int = 0
    applied: int = 0
    relay_retried: int = 0
    seconds: float = 0.0
    faults: list[str] = attrs.field(factory=list)

    def line(self, name: str) -> str:
        return (
            f"\nend-to-end oracle ({name}, {PRODUCERS} producers x {TRANSACTIONS} transactions): "
            f"committed {self.committed}, rolled back {self.rolled_back}, published {self.published}, "
            f"redelivered {self.redelivered}, deduplicated {self.deduplicated}, applied {self.applied} "
            f"(relays retried {self.relay_retried}); {self.seconds:.1f} s; faults: {', '.join(self.faults)}; "
            f"load {os.getloadavg()[0]:.1f}"
        )


class Processes:
    """The run's child processes, started from the repository root with the test's interpreter."""

    def __init__(self, config_path: Path, log: Path) -> None:
        self.config_path = config_path
        self.log = log
        self.running: dict[tuple[str, int], subprocess.Popen[bytes]] = {}
        self.finished: list[subprocess.Popen[bytes]] = []

    def start(self, role: str, index: int) -> None:
        with (self.log / f"{role}-{index}.log").open("ab") as log:
            self.running[role, index] = subprocess.Popen(
                [sys.executable, "-m", "tests.brokers.end_to_end", role, str(self.config_path), str(index)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, role: str, index: int) -> None:
        process = self.running.pop((role, index))
        process.kill()  # SIGKILL
        process.wait(10)
        self.finished.append(process)

    def alive(self, role: str) -> list[subprocess.Popen[bytes]]:
        return [p for (r, _), p in self.running.items() if r == role and p.poll() is None]

    def stop_all(self, work: Path, grace: float) -> None:
        (work / "stop").touch()
        deadline = time.monotonic() + grace
        for process in self.running.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _count(engine: sqlalchemy.Engine, table: sqlalchemy.Table) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(table)).scalar_one()
        )


def _counters(work: Path, role: str) -> list[dict[str, int]]:
    found = []
    for path in sorted(work.glob(f"{role}-*.json")):
        with_retries = 3
        while with_retries:
            try:
                found.append(json.loads(path.read_text()))
                break
            except (OSError, ValueError):
                with_retries -= 1
                time.sleep(0.05)
    return found


def run_oracle(broker: Broker, work: Path) -> Figures:
    prefix = f"hx_e2e_{uuid.uuid4().hex[:8]}"
    run = tables(prefix)
    engine = create_engine(DatabaseConfig(url=POSTGRESQL_URL))
    run.metadata.create_all(engine)
    config = Config(
        broker=broker.name,
        database_url=POSTGRESQL_URL,
        broker_url=broker.url,
        prefix=prefix,
        work=str(work),
        transactions=TRANSACTIONS,
        deadline=time.time() + SECONDS,
        subject=f"hx-e2e-{uuid.uuid4().hex[:8]}",
        servers=broker.servers,
    )
    config_path = work / "config.json"
    config.dump(config_path)
    broker.setup(config)
    processes = Processes(config_path, work)
    figures = Figures()
    started = time.monotonic()
    try:
        for index in range(CONSUMERS):
            processes.start("consumer", index)
        for index in range(RELAYS):
            processes.start("relay", index)
        for index in range(PRODUCERS):
            processes.start("producer", index)
        expected = PRODUCERS * TRANSACTIONS * 1.5 * 0.8  # messages committed, about

        def kill_a_relay() -> None:
            processes.kill("relay", 0)
            time.sleep(0.5)
            processes.start("relay", 0)
            figures.faults.append(f"relay 0 SIGKILLed and restarted at {time.monotonic() - started:.1f} s")

        def restart_the_broker() -> None:
            at = time.monotonic() - started
            said = broker.restart()
            figures.faults.append(
                f"{broker.name}: {said} at {at:.1f} s"
                if said
                else f"{broker.name} restarted at {at:.1f} s (up again after {time.monotonic() - started - at:.1f} s)"
            )

        def kill_a_consumer() -> None:
            processes.kill("consumer", 0)
            figures.faults.append(f"consumer 0 SIGKILLed at {time.monotonic() - started:.1f} s")

        faults: list[tuple[float, Callable[[], None]]] = [
            (0.2, kill_a_relay),
            (0.45, restart_the_broker),
            (0.65, kill_a_consumer),
        ]
        while faults:
            assert time.time() < config.deadline, f"the faults did not all happen: {figures.faults}"
            producing = bool(processes.alive("producer"))
            threshold, fault = faults[0]
            if not producing or _count(engine, run.ledger) >= threshold * expected:
                faults.pop(0)
                fault()
            time.sleep(0.05)
        while processes.alive("producer"):
            assert time.time() < config.deadline, "the producers did not finish in time"
            time.sleep(0.1)
        committed = _count(engine, run.ledger)
        while _count(engine, run.effects) < committed and time.time() < config.deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # late duplicates, if any, have time to be applied
        figures.seconds = time.monotonic() - started
    finally:
        processes.stop_all(work, grace=15)
        broker.teardown(config)

    try:
        for process in [*processes.running.values(), *processes.finished]:
            assert process.returncode is not None
        with engine.connect() as connection:
            ledger = {
                row.message_id: row.ordering_key for row in connection.execute(sqlalchemy.select(run.ledger))
            }
            effects = connection.execute(
                sqlalchemy.select(run.effects.c.message_id, run.effects.c.lane).order_by(
                    run.effects.c.applied
                )
            ).all()
            archive = run.outbox.archive
            assert archive is not None
            sequence = dict(connection.execute(sqlalchemy.select(archive.c.id, archive.c.key_sequence)).all())
        rolled_back = {
            uuid.UUID(line) for path in work.glob("rolled-back-*.txt") for line in path.read_text().split()
        }
        stats = SqlAlchemyOutboxRelayStore(run.outbox, engine, policy=POLICY).stats()
        relays = _counters(work, "relay")
        consumers = _counters(work, "consumer")
        collections.Counter(row.message_id for row in effects)
        figures.committed = len(ledger)
        figures.rolled_back = len(rolled_back)
        figures.published = sum(len(path.read_text().split()) for path in work.glob("published-*.txt"))
        figures.relay_retried = sum(counter["retried"] for counter in relays)
        delivered = [line for path in work.glob("delivered-*.txt") for line in path.read_text().split()]
        figures.deduplicated = sum(counter["duplicates"] for counter in consumers)
        figures.redelivered = len(delivered) - len(set(delivered))
        figures.applied = len(effects)
        print(figures.line(broker.label or broker.name))
        try:
            check(figures, ledger, effects, sequence, rolled_back, stats)
        except AssertionError:
            for log in sorted(work.glob("*.log")):  # what the processes said (the brokers' outage shows too)
                print(f"--- {log.name} (last lines)\n{log.read_text(errors='replace')[-3000:]}")
            raise
        return figures
    finally:
        run.metadata.drop_all(engine)
        engine.dispose()


def check(
    figures: Figures,
    ledger: dict[uuid.UUID, str | None],
    effects: Sequence[sqlalchemy.Row[Any, Any]],
    sequence: dict[uuid.UUID, int],
    rolled_back: set[uuid.UUID],
    stats: OutboxStats,
) -> None:
    """The oracle's verdict."""
    applied = collections.Counter(row.message_id for row in effects)
    assert figures.rolled_back > 0 and figures.committed > 0
    assert not rolled_back & set(applied), "a rolled-back message was applied"
    missing = set(ledger) - set(applied)
    assert not missing, f"{len(missing)} committed messages never applied"
    twice = {id: n for id, n in applied.items() if n > 1}
    assert not twice, f"{len(twice)} messages applied more than once"
    assert set(applied) == set(ledger)
    for key in KEYS:
        numbers = [sequence[row.message_id] for row in effects if row.lane == key]
        assert numbers == sorted(numbers), f"the effects of key {key} are out of commit order"
        assert len(numbers) == sum(1 for k in ledger.values() if k == key)
    assert (stats.pending, stats.leased, stats.dead) == (0, 0, 0)


def _no_setup(config: Config) -> None:
    pass


# Redis ------------------------------------------------------------------------------------------


def _redis_teardown(config: Config) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(
            *[config.destination(lane) for lane in LANES],
            *[f"{config.destination(lane)}:owner" for lane in LANES],
        )
    finally:
        client.close()


def _redis_restart() -> None:
    # the machine's Redis keeps nothing on disk (--save "" --appendonly no): a restart
    # would lose the streams, whatever the relay and the consumers do. SHUTDOWN SAVE
    # writes a snapshot the restarted server loads; the snapshot is removed afterwards
    restart("redis", REDIS_URL, stop="redis-cli -p 6379 shutdown save")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        directory = str(client.config_get("dir")["dir"])
        filename = str(client.config_get("dbfilename")["dbfilename"])
    finally:
        client.close()
    Path(directory, filename).unlink(missing_ok=True)


# NATS -------------------------------------------------------------------------------------------


def _nats_setup(servers: list[str], replicas: int) -> Callable[[Config], None]:
    def setup(config: Config) -> None:
        async def create() -> None:
            import nats
            from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

            client = await nats.connect(servers=servers)
            jetstream = client.jetstream(timeout=10)
            stream = StreamConfig(
                name=config.subject, subjects=[f"{config.subject}.>"], num_replicas=replicas
            )
            deadline = time.monotonic() + 30
            while True:  # a new cluster answers 503 until it has elected its leaders
                try:
                    await jetstream.add_stream(stream)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
            for lane in LANES:
                await jetstream.add_consumer(
                    config.subject,
                    ConsumerConfig(
                        durable_name=f"lane-{lane}",
                        filter_subject=config.destination(lane),
                        ack_policy=AckPolicy.EXPLICIT,
                        ack_wait=2.0,
                        max_ack_pending=100 if lane == "none" else 1,  # a key: one message in flight
                        num_replicas=replicas,
                    ),
                )
            await client.close()

        asyncio.run(create())

    return setup


def _nats_teardown(servers: list[str]) -> Callable[[Config], None]:
    def teardown(config: Config) -> None:
        async def delete() -> None:
            import nats

            client = await nats.connect(servers=servers, connect_timeout=5)
            with contextlib.suppress(Exception):
                await client.jetstream(timeout=10).delete_stream(config.subject)
            await client.close()

        asyncio.run(delete())

    return teardown


# RabbitMQ ---------------------------------------------------------------------------------------


def _rabbitmq_setup(config: Config) -> None:
    async def declare() -> None:
        import aio_pika

        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        for lane in LANES:
            await channel.declare_queue(
                config.destination(lane), durable=True, arguments={"x-single-active-consumer": True}
            )
        await connection.close()

    asyncio.run(declare())


def _rabbitmq_teardown(config: Config) -> None:
    async def delete() -> None:
        import aio_pika

        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        for lane in LANES:
            await channel.queue_delete(config.destination(lane))
        await connection.close()

    asyncio.run(delete())


BROKERS: Final = {
    "redis": lambda: Broker("redis", REDIS_URL, _no_setup, _redis_teardown, _redis_restart),
    "nats": lambda: Broker(
        "nats",
        NATS_URL,
        _nats_setup([NATS_URL], 1),
        _nats_teardown([NATS_URL]),
        lambda: restart("nats", NATS_URL),
    ),
    "rabbitmq": lambda: Broker(
        "rabbitmq", AMQP_URL, _rabbitmq_setup, _rabbitmq_teardown, lambda: restart("rabbitmq", AMQP_URL)
    ),
}


def _kill_the_stream_leader(cluster: NatsCluster, subject: Callable[[], str]) -> Callable[[], str]:
    def kill() -> str:
        async def leader() -> str:
            import nats

            client = await nats.connect(servers=cluster.urls)
            try:
                info = await client.jetstream(timeout=10).stream_info(subject())
                assert info.cluster is not None and info.cluster.leader is not None
                return info.cluster.leader
            finally:
                await client.close()

        name = asyncio.run(leader())
        cluster.kill(name)
        return f"node {name}, the stream's leader, SIGKILLed"

    return kill


@pytest.fixture
def work(tmp_path: Path, postgresql_problem: str | None) -> Iterator[Path]:
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    yield tmp_path


@pytest.mark.parametrize("name", list(BROKERS))
def test_every_committed_message_is_applied_once_in_key_order_through_faults(name: str, work: Path) -> None:
    broker = BROKERS[name]()
    require(name, broker.url)
    run_oracle(broker, work)


def test_a_three_node_jetstream_cluster_that_loses_a_node_loses_nothing_and_applies_nothing_twice(
    work: Path,
) -> None:
    """The NATS oracle on a cluster of three nodes the test starts (stream and consumers R3); the stream's leader is killed."""
    if shutil.which("nats-server") is None and not Path("/usr/sbin/nats-server").exists():
        without_broker("nats-server is not installed")
    cluster = NatsCluster(work / "cluster")
    try:
        cluster.wait_until_up(30)
        subject: list[str] = []

        def setup(config: Config) -> None:
            subject.append(config.subject)
            _nats_setup(cluster.urls, 3)(config)

        broker = Broker(
            "nats",
            cluster.urls[0],
            setup,
            _nats_teardown(cluster.urls),
            _kill_the_stream_leader(cluster, lambda: subject[0]),
            servers=tuple(cluster.urls),
            label="nats, 3-node cluster, R3",
        )
        run_oracle(broker, work)
    finally:
        cluster.close()
