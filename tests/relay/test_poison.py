"""Poison isolation, proved with real crashes: a message that kills its relay takes no batch-mate down.

Ten innocent messages and one poison share a batch. The relay process publishing the
poison dies at once (``os._exit`` inside ``publish``), is started again (after the lease,
in leased delivery), and so on, at most :data:`RUNS` times. With ``max_attempts=3``, the
poison ends in the dead letters after exactly 3 crashes and every innocent message is
published once, none dead-lettered: a message whose earlier claim ended with no outcome
is published alone (``crashed_before``); in locked delivery, whose transaction the crash
rolls back, the record of the delivery left behind counts the attempt instead
(``_outbox_crashes``). A pipelined relay (batches of 4) keeps it too, though its batch
claimed ahead dies with it (and the batch before may be published twice).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Final

import pytest
import sqlalchemy

from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import DatabaseConfig, SqlAlchemyTransactionManager, create_engine
from hexalchemy.sqlalchemy.outbox import SqlAlchemyOutboxRelayStore, SqlAlchemyOutboxWriter, outbox_tables
from tests.mariadb import MARIADB_URL, without_mariadb
from tests.postgresql import POSTGRESQL_URL, without_postgresql
from tests.relay.poison_child import CRASHED, LEASE, POISON, POLICY

RUNS: Final = 12
"""The most relay processes started; the poison needs 3 (one per attempt)."""
ROOT: Final = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql), "mariadb"])
def url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgresql_problem: str | None,
    mariadb_problem: str | None,
) -> str:
    if request.param == "postgresql":
        if postgresql_problem is not None:
            without_postgresql(postgresql_problem)
        return POSTGRESQL_URL
    if request.param == "mariadb":
        if mariadb_problem is not None:
            without_mariadb(mariadb_problem)
        return MARIADB_URL
    return f"sqlite:///{tmp_path}/poison.db"


@pytest.mark.parametrize("delivery", ["leased", "locked", "pipelined"])
def test_a_message_that_kills_its_relay_takes_no_batch_mate_to_the_dead_letters(
    url: str, delivery: str, tmp_path: Path
) -> None:
    prefix = f"hx_poison_{uuid.uuid4().hex[:8]}"
    metadata = sqlalchemy.MetaData()
    tables = outbox_tables(metadata, prefix=prefix)
    engine = create_engine(DatabaseConfig(url=url))
    metadata.create_all(engine)
    try:
        transactions = SqlAlchemyTransactionManager(engine)
        innocents = [new_message("orders", f"innocent-{n}".encode()) for n in range(10)]
        poison = new_message("orders", POISON)
        with transactions.begin():
            SqlAlchemyOutboxWriter(tables, transactions).add_all([*innocents[:5], poison, *innocents[5:]])
        store = SqlAlchemyOutboxRelayStore(tables, transactions, policy=POLICY)
        published = tmp_path / "published.txt"
        published.touch()
        crashes = 0
        for _ in range(RUNS):
            run = subprocess.run(
                [sys.executable, "-m", "tests.relay.poison_child", url, prefix, str(published), delivery],
                cwd=ROOT,
                timeout=60,
                capture_output=True,
                check=False,
            )
            assert run.returncode in (0, CRASHED), run.stderr.decode()
            crashes += run.returncode == CRASHED
            stats = store.stats()
            if stats.pending == 0 and stats.leased == 0:
                break
            if delivery != "locked":
                time.sleep(LEASE + 0.1)  # the dead relay's lease expires
        dead = store.dead_letters()
        lines = [uuid.UUID(line) for line in published.read_text().split()]
        delivered = set(lines)
        print(
            f"\npoison oracle ({url.split(':')[0]}, {delivery}): {crashes} crashes, "
            f"{len(lines)} published, {len(dead)} dead"
        )
        assert [letter.message.id for letter in dead] == [poison.id]
        assert dead[0].message.attempts == POLICY.max_attempts
        assert delivered == {message.id for message in innocents}
        if delivery != "pipelined":
            assert len(lines) == len(delivered)  # each innocent once
        # pipelined, the batch before the poison's may be published again: its
        # acknowledgement was in flight when the relay died (at least once)
        assert crashes == POLICY.max_attempts
        assert store.stats().pending == 0
    finally:
        metadata.drop_all(engine)
        engine.dispose()
