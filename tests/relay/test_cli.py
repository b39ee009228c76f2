"""The ``hexalchemy`` command, run in-process (``main(argv)``) against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy

from hexalchemy.cli import main
from hexalchemy.rules import new_message
from hexalchemy.sqlalchemy import DatabaseConfig, create_engine
from hexalchemy.sqlalchemy.outbox import outbox_tables
from hexalchemy.testing.publishers import AsyncCollectingPublisher, CollectingPublisher
from tests.postgresql import POSTGRESQL_URL, without_postgresql
from tests.relay.conftest import sql_writer

# --- publisher factories the tests name on the command line -------------------------------------

DELIVERED: list[uuid.UUID] = []
"""What the publishers built by the factories below were given, in order."""


def collecting() -> CollectingPublisher:
    return CollectingPublisher(on_publish=lambda batch: DELIVERED.extend(item.id for item in batch))


def async_collecting() -> AsyncCollectingPublisher:
    return AsyncCollectingPublisher(on_publish=lambda batch: DELIVERED.extend(item.id for item in batch))


def refusing() -> CollectingPublisher:
    publisher = CollectingPublisher()
    publisher.fail_always("the broker refuses everything")
    return publisher


NOT_CALLABLE = 42


def no_publish() -> object:
    return object()


# --- databases -------------------------------------------------------------------------------------


class Database:
    """An outbox (tables with a prefix of their own) on one database, and a way to commit messages."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"cli_{uuid.uuid4().hex[:8]}"
        self.metadata = sqlalchemy.MetaData()
        tables = outbox_tables(self.metadata, prefix=self.prefix)
        self.engine = create_engine(DatabaseConfig(url=url))
        self.metadata.create_all(self.engine)
        self._write = sql_writer(tables, self.engine)

    def args(self) -> list[str]:
        return ["--url", self.url, "--prefix", self.prefix]

    def commit(self, count: int) -> list[uuid.UUID]:
        messages = [new_message("orders", b"{}") for _ in range(count)]
        self._write(messages, True)
        return [item.id for item in messages]

    def close(self) -> None:
        self.metadata.drop_all(self.engine)
        self.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgresql_problem: str | None
) -> Iterator[Database]:
    DELIVERED.clear()
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgresql)
        if postgresql_problem is not None:
            without_postgresql(postgresql_problem)
        url = POSTGRESQL_URL
    else:
        url = f"sqlite:///{tmp_path}/cli.db"
    built = Database(url)
    yield built
    built.close()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    DELIVERED.clear()
    built = Database(f"sqlite:///{tmp_path}/cli.db")
    yield built
    built.close()


def signal_when(condition: Callable[[], bool], number: signal.Signals) -> threading.Thread:
    """Send ``number`` to this process once ``condition()`` holds (from another thread)."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), number)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# --- arguments -------------------------------------------------------------------------------------


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "outbox" in capsys.readouterr().out
    assert main(["outbox", "relay", "--help"]) == 0
    assert "--publisher" in capsys.readouterr().out


def _relay(*arguments: str) -> list[str]:
    """``hexalchemy outbox relay`` on an in-memory SQLite database, with ``arguments``."""
    return ["outbox", "relay", "--url", "sqlite://", *arguments]


def _on_redis(*arguments: str) -> list[str]:
    """:func:`_relay` publishing to a Redis URL (never reached: the arguments are refused first)."""
    return _relay("--publisher", "redis://127.0.0.1", *arguments)


def _stats(url: str, *arguments: str) -> list[str]:
    """``hexalchemy outbox stats`` on ``url``, with ``arguments``."""
    return ["outbox", "stats", "--url", url, *arguments]


_FACTORY = "tests.relay.test_cli:"
"""This module, as the command line names its publisher factories."""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["outbox"], "required"),
        (["outbox", "launch"], "invalid choice"),
        (_relay("--batch-size", "0"), "must be from 1 to 10000"),
        (_relay("--lease", "-3"), "more than 0"),
        (_relay("--lease", "nan"), "not a number"),
        (_relay("--lease", "1e300"), "at most"),
        (_relay("--batch-size", "\uff15"), "not an integer"),
        (_relay("--batch-size", "1_000"), "not an integer"),
        (_stats("postgresql://db:port/x"), "port"),
        (_stats("postgresql://db:70000/x"), "port"),
        (_relay("--lease", "soon"), "not a number"),
        (["outbox", "requeue", "--url", "sqlite://"], "one of the arguments --id --all is required"),
        (["outbox", "requeue", "--url", "sqlite://", "--id", "x", "--all"], "not a UUID"),
        (["outbox", "requeue", "--url", "sqlite://", "--all", "--id", str(uuid.uuid4())], "not allowed with"),
        (["outbox", "dead-letters", "--url", "sqlite://", "--limit", "many"], "not an integer"),
        (_stats("mysql://db/x"), "unsupported database driver"),
        (_stats("sqlite://", "--prefix", "bad-prefix"), "--prefix"),
        (_stats("sqlite://", "--prefix", "outbox\n"), "--prefix: holds a line break"),
        (_stats("sqlite://", "--prefix", "out\nbox"), "--prefix: holds a line break"),
        (_stats("sqlite://", "--prefix", " outbox"), "--prefix: has spaces around it"),
        (_stats("postgresql://db/x?sslmode=bogus"), "'sslmode' must be one of"),
        (_stats("postgresql://db/x?connect_timeout=ten"), "'connect_timeout' must be"),
        (_stats("postgresql://db/x\n"), "a URL is one line"),
        (_relay("--publisher", "nocolon"), "broker URL or look like module:factory"),
        (_relay("--publisher", "no_such_module:x"), "cannot import"),
        (_relay("--publisher", _FACTORY + "nope"), "no attribute"),
        (_relay("--publisher", _FACTORY + "NOT_CALLABLE"), "not callable"),
        (_relay("--publisher", _FACTORY + "no_publish"), "no publish() method"),
        (_relay("--publisher", _FACTORY + "async_collecting"), "run with --async"),
        (_relay("--async", "--publisher", _FACTORY + "collecting"), "needs an async publish()"),
        (_relay("--listen"), "--listen needs a PostgreSQL database"),
        (_relay("--publisher", "ftp://host/"), "unknown broker URL scheme 'ftp'"),
        (_relay("--publisher", "amqp://guest@127.0.0.1:99999/"), "bad port"),
        (_relay("--publisher", "nats://"), "names no host"),
        (_relay("--publisher", "redis://127.0.0.1: 6379"), "white space"),
        (_relay("--publisher", "unix://"), "socket path"),
        (
            _relay("--publisher", "redis://127.0.0.1:6379/0", "--exchange", "x"),
            "applies to rabbitmq publishers only",
        ),
        (_relay("--publisher", "amqp://127.0.0.1/", "--stream", "x"), "applies to nats publishers only"),
        (_relay("--publisher", "nats://127.0.0.1", "--max-length", "5"), "applies to redis publishers only"),
        (_on_redis("--timeout", "5"), "applies to nats and rabbitmq"),
        (_relay("--exchange", "orders"), "--exchange applies to a broker URL"),
        (_relay("--destination", "orders"), "--destination applies to a broker URL"),
        (_on_redis("--destination", "{key}"), "the only placeholder is {topic}"),
        (_on_redis("--destination", "{topic!r}"), "the only placeholder"),
        (_on_redis("--destination", "a{topic"), "braces do not pair"),
        (_on_redis("--route", "nocolon"), "--route must look like module:function"),
        (_on_redis("--route", _FACTORY + "NOT_CALLABLE"), "not callable"),
        (_on_redis("--route", "x:y", "--destination", "d"), "not allowed with"),
        (_relay("--progress", "0"), "more than 0"),
        (_on_redis("--max-length", "0"), "must be from 1"),
        (_relay("--min-idle-delay", "3"), "--min-idle-delay must not be"),
        (_relay("--delivery", "locked", "--pipelined"), "pipelined=True: applies to leased delivery only"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEXALCHEMY_DATABASE_URL", raising=False)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1 and error.startswith("hexalchemy")
    assert "--help" in error


@pytest.mark.parametrize(
    ("name", "value"),
    [("HEXALCHEMY_DATABASE_URL", "postgresql://db:port/x"), ("HEXALCHEMY_POOL_SIZE", "\u0663")],
)
def test_a_bad_environment_variable_exits_2_naming_it(
    name: str, value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEXALCHEMY_DATABASE_URL", "sqlite://")
    monkeypatch.setenv(name, value)
    assert main(["outbox", "stats"]) == 2
    error = capsys.readouterr().err
    assert name in error and error.count("\n") == 1


def test_without_a_url_or_environment_the_command_says_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("HEXALCHEMY_"):
            monkeypatch.delenv(name)
    assert main(["outbox", "stats"]) == 2
    assert "give --url or set HEXALCHEMY_DATABASE_URL" in capsys.readouterr().err


def test_the_url_may_come_from_the_environment(
    sqlite_database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_database.commit(2)
    monkeypatch.setenv("HEXALCHEMY_DATABASE_URL", sqlite_database.url)
    assert main(["outbox", "stats", "--prefix", sqlite_database.prefix, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 2


def test_a_database_failure_exits_1_on_one_line(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outbox", "stats", "--url", database.url, "--prefix", "missing_tables"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("hexalchemy: error:") and error.count("\n") == 1
    assert "are the outbox tables created, and is --prefix 'missing_tables' right?" in error


# --- the commands ----------------------------------------------------------------------------------


def test_stats_prints_the_counts(database: Database, capsys: pytest.CaptureFixture[str]) -> None:
    database.commit(3)
    assert main(["outbox", "stats", *database.args()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["pending: 3", "leased: 0", "dead: 0"]
    assert lines[3].startswith("oldest pending age: ") and lines[3].endswith(" s")
    assert main(["outbox", "stats", *database.args(), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pending"] == 3 and document["oldest_pending_age_seconds"] >= 0


def test_relay_drain_delivers_what_is_due_and_exits(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = database.commit(5)
    argv = ["outbox", "relay", *database.args(), "--publisher", _FACTORY + "collecting"]
    assert main([*argv, "--batch-size", "2", "--drain"]) == 0
    assert sorted(DELIVERED) == sorted(committed)
    assert "published=5" in capsys.readouterr().out
    assert main(["outbox", "stats", *database.args(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 0


@pytest.mark.parametrize("mode", [[], ["--async"]], ids=["sync", "async"])
@pytest.mark.parametrize(
    "delivery", [["--delivery", "locked"], ["--pipelined"]], ids=["locked", "leased-pipelined"]
)
def test_relay_drain_with_locked_or_pipelined_delivery(
    database: Database, mode: list[str], delivery: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    committed = database.commit(5)
    publisher = _FACTORY + ("async_collecting" if mode else "collecting")
    argv = ["outbox", "relay", *database.args(), *mode, "--publisher", publisher, *delivery]
    assert main([*argv, "--batch-size", "2", "--drain"]) == 0
    assert sorted(DELIVERED) == sorted(committed)
    assert "published=5" in capsys.readouterr().out


def test_an_unknown_delivery_mode_exits_2(
    sqlite_database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outbox", "relay", *sqlite_database.args(), "--delivery", "eventually", "--drain"]) == 2
    assert "--delivery" in capsys.readouterr().err


def test_the_default_publisher_logs_each_message(
    sqlite_database: Database, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    [only] = sqlite_database.commit(1)
    with caplog.at_level(logging.INFO, logger="hexalchemy.outbox.publisher"):
        assert main(["outbox", "relay", *sqlite_database.args(), "--drain"]) == 0
    assert str(only) in caplog.text
    assert "published=1" in capsys.readouterr().out


def test_dead_letters_lists_and_requeue_brings_them_back(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = database.commit(2)
    relay = ["outbox", "relay", *database.args(), "--publisher", _FACTORY + "refusing"]
    assert main([*relay, "--max-attempts", "1", "--drain"]) == 0
    capsys.readouterr()

    assert main(["outbox", "dead-letters", *database.args()]) == 0
    text = capsys.readouterr().out
    assert str(first) in text and str(second) in text
    assert "the broker refuses everything" in text and text.rstrip().endswith("2 dead letter(s)")
    assert main(["outbox", "dead-letters", *database.args(), "--json", "--limit", "1"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["error"] == "the broker refuses everything"

    assert main(["outbox", "requeue", *database.args(), "--id", str(first), "--id", str(first)]) == 0
    assert capsys.readouterr().out.strip() == "requeued 1 message(s)"
    assert main(["outbox", "requeue", *database.args(), "--all"]) == 0
    assert capsys.readouterr().out.strip() == "requeued 1 message(s)"
    assert main(["outbox", "stats", *database.args(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) | {"oldest_pending_age_seconds": 0} == {
        "pending": 2,
        "leased": 0,
        "dead": 0,
        "oldest_pending_age_seconds": 0,
    }


@pytest.mark.parametrize(
    ("mode", "number"),
    [([], signal.SIGTERM), ([], signal.SIGINT), (["--async"], signal.SIGTERM)],
    ids=["sync-SIGTERM", "sync-SIGINT", "async-SIGTERM"],
)
def test_relay_runs_until_a_signal_then_stops_gracefully(
    database: Database, mode: list[str], number: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = database.commit(3)
    previous = signal.getsignal(number)
    watcher = signal_when(lambda: len(DELIVERED) >= 3, number)
    publisher = _FACTORY + ("async_collecting" if mode else "collecting")
    argv = ["outbox", "relay", *database.args(), *mode, "--publisher", publisher]
    assert main([*argv, "--min-idle-delay", "0.01", "--max-idle-delay", "0.05"]) == 0
    watcher.join(5)
    assert sorted(DELIVERED) == sorted(committed)
    assert "published=3" in capsys.readouterr().out
    assert signal.getsignal(number) is previous


def test_the_async_relay_drains_with_the_default_async_publisher(
    sqlite_database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_database.commit(2)
    assert main(["outbox", "relay", *sqlite_database.args(), "--async", "--drain"]) == 0
    assert "published=2" in capsys.readouterr().out


@pytest.mark.postgresql
@pytest.mark.parametrize("use_async", [False, True])
def test_relay_listen_wakes_up_on_notify(
    postgresql_problem: str | None, use_async: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    from hexalchemy.sqlalchemy.outbox_notify import install_notify_trigger

    DELIVERED.clear()
    database = Database(POSTGRESQL_URL)
    try:
        with database.engine.begin() as connection:
            install_notify_trigger(connection, database.metadata.tables[f"{database.prefix}_messages"])
        committed: list[uuid.UUID] = []

        woke: list[bool] = []

        def asleep() -> bool:  # the relay's listener has marked itself asleep: a commit notifies
            with database.engine.connect() as connection:
                query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                mark = " AND state = 'idle' AND query LIKE 'UPDATE %SET asleep = true%'"
                return bool(connection.scalar(sqlalchemy.text(query + mark)))

        def produce_then_stop() -> None:
            # The relay sleeps 300 s after a claim finds nothing: only the notification
            # can deliver the message within the minute this waits for it.
            deadline = time.monotonic() + 60
            while not asleep() and time.monotonic() < deadline:
                time.sleep(0.05)
            committed.extend(database.commit(1))
            while not DELIVERED and time.monotonic() < deadline:
                time.sleep(0.01)
            woke.append(bool(DELIVERED))
            os.kill(os.getpid(), signal.SIGTERM)

        thread = threading.Thread(target=produce_then_stop, daemon=True)
        thread.start()
        factory = _FACTORY + ("async_collecting" if use_async else "collecting")
        argv = [
            "outbox",
            "relay",
            *database.args(),
            "--listen",
            "--publisher",
            factory,
            "--min-idle-delay",
            "300",
            "--max-idle-delay",
            "300",
        ]
        assert main([*argv, "--async"] if use_async else argv) == 0
        thread.join(5)
        assert woke == [True]  # delivered before the stop, so woken by the notification
        assert committed == DELIVERED
    finally:
        database.close()
