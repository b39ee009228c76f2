"""The ``hexalchemy`` command: run and inspect the transactional outbox.

::

    hexalchemy outbox relay --url URL [--publisher module:factory | amqp://... | nats://... | redis://...]
                            [--exchange NAME] [--stream NAME] [--max-length N] [--timeout SECONDS]
                            [--destination TEMPLATE | --route module:function]
                            [--batch-size N] [--lease SECONDS] [--delivery leased|locked] [--pipelined] [--async]
                            [--progress SECONDS]
    hexalchemy outbox stats --url URL [--json]
    hexalchemy outbox requeue --url URL (--id UUID [--id UUID ...] | --all)
    hexalchemy outbox dead-letters --url URL [--limit N] [--json]

``--url`` may be left out when ``HEXALCHEMY_DATABASE_URL`` (and the other variables of
:meth:`hexalchemy.sqlalchemy.DatabaseConfig.from_env`) is set. A bad argument or
configuration value ends with a one-line message and exit status 2; a failure while
running (the database cannot be reached...) with exit status 1.

This module is an entry point: it wires the SQL adapters to the relay by hand, like any
composition root. Importing it does nothing; :func:`main` does the work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn, TextIO

import attrs
import sqlalchemy

from hexalchemy._guards import is_instance
from hexalchemy.cli._brokers import ASYNC_ONLY, BrokerOptions, broker_of, build_publisher, close_publisher
from hexalchemy.outbox import AsyncOutboxRelay, DeliveryMode, OutboxRelay, RelayCounters
from hexalchemy.ports import (
    AsyncPublisher,
    ConfigError,
    DeadLetter,
    HexalchemyError,
    InvalidArgumentError,
    OutboxMessage,
    OutboxStats,
    Publisher,
    Route,
)
from hexalchemy.rules import OutboxPolicy, destination_route
from hexalchemy.rules.arguments import MAX_BATCH, MAX_DURATION
from hexalchemy.rules.numbers import parse_decimal_float, parse_decimal_int
from hexalchemy.sqlalchemy import DatabaseConfig, create_async_engine, create_engine
from hexalchemy.sqlalchemy.outbox import (
    DEFAULT_PREFIX,
    AsyncSqlAlchemyOutboxRelayStore,
    OutboxTables,
    SqlAlchemyOutboxRelayStore,
    outbox_tables,
)

__all__ = ["main"]

_DEFAULT_PUBLISHER = "hexalchemy.outbox:LoggingPublisher"
_DEFAULT_ASYNC_PUBLISHER = "hexalchemy.outbox:AsyncLoggingPublisher"
_BAD_ARGUMENTS = 2
_FAILED = 1
_MAX_SECONDS = MAX_DURATION.total_seconds()
"""The longest duration an option takes (a year): a lease or a delay beyond it is a typo."""
_MAX_ATTEMPTS = 2**31 - 1
"""The attempts column is a 32-bit integer."""
_MAX_STREAM_LENGTH = 2**63 - 1
"""Redis takes a MAXLEN up to a signed 64-bit integer."""


class _UsageError(Exception):
    """A bad command line: reported with the usage and exit status 2."""


# --- argument parsing ----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports a bad command line in one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message (see prog --help)`` and exit with status 2."""
        self.exit(_BAD_ARGUMENTS, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(maximum: int) -> Callable[[str], int]:
    """An option's parser: an int from 1 to ``maximum``, in ASCII decimal digits."""

    def count(text: str) -> int:
        value = parse_decimal_int(text)
        if value is None:
            raise argparse.ArgumentTypeError(f"not an integer (ASCII decimal digits): {text!r}")
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from 1 to {maximum}, got {value}")
        return value

    return count


def _seconds(text: str) -> float:
    value = parse_decimal_float(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a number of seconds (ASCII decimal notation): {text!r}")
    if not 0 < value <= _MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {_MAX_SECONDS:.0f} seconds, got {text}"
        )
    return value


def _prefix(text: str) -> str:
    """The ``--prefix`` option's parser: one line, no spaces around (``outbox_tables`` checks the rest)."""
    if len(text.splitlines()) > 1 or text.rstrip("\r\n") != text:
        raise argparse.ArgumentTypeError(
            f"holds a line break: a prefix is one SQL identifier on one line, got {text!r}"
        )
    if text.strip() != text:
        raise argparse.ArgumentTypeError(
            f"has spaces around it: a prefix is one SQL identifier, got {text!r}"
        )
    return text


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hexalchemy", description="Run and inspect hexalchemy's transactional outbox.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (repeat for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    outbox = commands.add_parser(
        "outbox", help="the transactional outbox", description="The transactional outbox."
    )
    actions = outbox.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)

    def database(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--url",
            help="the database URL (default: HEXALCHEMY_DATABASE_URL and the other HEXALCHEMY_* variables)",
        )
        sub.add_argument(
            "--prefix",
            type=_prefix,
            default=DEFAULT_PREFIX,
            help=f"the outbox tables' name prefix, as given to outbox_tables() (default: {DEFAULT_PREFIX})",
        )

    relay = actions.add_parser(
        "relay",
        help="deliver outbox messages until SIGINT or SIGTERM",
        description="Deliver outbox messages to a broker until SIGINT or SIGTERM (then finish the "
        "batch in flight and release what was not published).",
    )
    database(relay)
    relay.add_argument(
        "--publisher",
        metavar="URL_OR_MODULE:FACTORY",
        help="a broker URL (amqp:// or amqps://: RabbitMQ; nats:// or tls://: NATS JetStream; "
        "redis://, rediss:// or unix://: Redis Streams), or a callable that returns the publisher, "
        f"called with no arguments (default: {_DEFAULT_PUBLISHER}, or {_DEFAULT_ASYNC_PUBLISHER} with --async)",
    )
    relay.add_argument(
        "--exchange",
        metavar="NAME",
        help="RabbitMQ: the exchange to publish to (default: the default exchange)",
    )
    relay.add_argument(
        "--stream", metavar="NAME", help="NATS: the JetStream stream every message must land in"
    )
    relay.add_argument(
        "--max-length",
        type=_count(_MAX_STREAM_LENGTH),
        metavar="N",
        help="Redis: trim every stream written to about N entries (default: 1000000)",
    )
    relay.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="RabbitMQ and NATS: how long a batch waits for the broker's confirmations (default: 10)",
    )
    routing = relay.add_mutually_exclusive_group()
    routing.add_argument(
        "--destination",
        metavar="TEMPLATE",
        help="a broker URL's destination (the Redis stream, NATS subject, RabbitMQ routing key), "
        "where {topic} is the message's topic (default: {topic})",
    )
    routing.add_argument(
        "--route",
        metavar="MODULE:FUNCTION",
        help="a broker URL's routing function, message -> hexalchemy.ports.Route (default: "
        "hexalchemy.rules.default_route)",
    )
    relay.add_argument(
        "--progress",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="print the relay's counters every SECONDS (default: 10)",
    )
    relay.add_argument(
        "--batch-size",
        type=_count(MAX_BATCH),
        default=100,
        metavar="N",
        help=f"1 to {MAX_BATCH} (default: 100)",
    )
    relay.add_argument(
        "--lease", type=_seconds, default=30.0, metavar="SECONDS", help="how long a claim lasts (default: 30)"
    )
    relay.add_argument(
        "--min-idle-delay",
        type=_seconds,
        default=0.1,
        metavar="SECONDS",
        help="the first sleep after a poll found nothing; it doubles while idle (default: 0.1)",
    )
    relay.add_argument(
        "--max-idle-delay",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="the longest sleep between polls when idle (default: 2)",
    )
    relay.add_argument(
        "--delivery",
        choices=[mode.value for mode in DeliveryMode],
        default=DeliveryMode.LEASED.value,
        help="leased: lease, publish, acknowledge; locked: one transaction per batch, faster, "
        "for a fast publisher (default: leased; see docs/outbox.md)",
    )
    relay.add_argument("--async", dest="use_async", action="store_true", help="run the asyncio relay")
    relay.add_argument(
        "--listen",
        action="store_true",
        help="PostgreSQL: wake up on NOTIFY (see hexalchemy.sqlalchemy.install_notify_trigger)",
    )
    relay.add_argument(
        "--pipelined",
        action="store_true",
        help="leased delivery: claim the next batch and acknowledge the previous one while a batch is "
        "being published",
    )
    relay.add_argument(
        "--drain", action="store_true", help="deliver what is due now, then exit instead of waiting for more"
    )
    relay.add_argument(
        "--max-attempts",
        type=_count(_MAX_ATTEMPTS),
        default=OutboxPolicy().max_attempts,
        metavar="N",
        help=f"claims before a message is dead-lettered (default: {OutboxPolicy().max_attempts})",
    )
    relay.add_argument(
        "--archive", action="store_true", help="keep acknowledged messages in the archive table"
    )
    relay.add_argument("--name", default="relay", help="the relay's name in log messages")

    stats = actions.add_parser("stats", help="print pending, leased and dead counts and the oldest age")
    database(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")

    requeue = actions.add_parser("requeue", help="move dead letters back to the outbox")
    database(requeue)
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id", dest="ids", action="append", type=_uuid, metavar="UUID", help="a dead letter to requeue"
    )
    which.add_argument("--all", action="store_true", help="requeue every dead letter")

    dead = actions.add_parser("dead-letters", help="list the oldest dead letters")
    database(dead)
    dead.add_argument(
        "--limit", type=_count(MAX_BATCH), default=100, metavar="N", help=f"1 to {MAX_BATCH} (default: 100)"
    )
    dead.add_argument("--json", action="store_true", help="print one JSON object per line")
    return parser


# --- wiring ----------------------------------------------------------------------------------------


def _tables(arguments: argparse.Namespace) -> OutboxTables:
    try:
        return outbox_tables(
            sqlalchemy.MetaData(), prefix=arguments.prefix, archive=getattr(arguments, "archive", False)
        )
    except ConfigError as error:
        raise _UsageError(f"--prefix: {error}") from error


def _policy(arguments: argparse.Namespace) -> OutboxPolicy:
    return OutboxPolicy(
        max_attempts=getattr(arguments, "max_attempts", OutboxPolicy().max_attempts),
        archive=getattr(arguments, "archive", False),
    )


@contextmanager
def _sync_store(
    config: DatabaseConfig, arguments: argparse.Namespace
) -> Generator[SqlAlchemyOutboxRelayStore, None, None]:
    tables, policy = _tables(arguments), _policy(arguments)
    engine = create_engine(config)
    try:
        yield SqlAlchemyOutboxRelayStore(tables, engine, policy=policy)
    finally:
        engine.dispose()


@asynccontextmanager
async def _async_store(
    config: DatabaseConfig, arguments: argparse.Namespace
) -> AsyncGenerator[AsyncSqlAlchemyOutboxRelayStore, None]:
    tables, policy = _tables(arguments), _policy(arguments)
    engine = create_async_engine(config)
    try:
        yield AsyncSqlAlchemyOutboxRelayStore(tables, engine, policy=policy)
    finally:
        await engine.dispose()


def _config(url: str | None) -> DatabaseConfig:
    try:
        return DatabaseConfig(url=url) if url is not None else DatabaseConfig.from_env()
    except ConfigError as error:
        if url is None and error.option.endswith("DATABASE_URL"):
            raise _UsageError("no database: give --url or set HEXALCHEMY_DATABASE_URL") from error
        raise _UsageError(str(error)) from error


def _load_callable(spec: str, option: str, form: str) -> Callable[[], object]:
    """The callable ``module:attribute`` names (an option's value), imported; a usage error otherwise."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise _UsageError(f"{option} must {form}, got {spec!r}")
    if os.getcwd() not in sys.path:  # like `python -m`: modules next to the caller are found
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise _UsageError(f"{option} {spec}: cannot import {module_name!r}: {error}") from error
    except Exception as error:  # the module raised while imported
        raise _UsageError(f"{option} {spec}: importing {module_name!r} raised {error!r}") from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise _UsageError(f"{option} {spec}: {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise _UsageError(f"{option} {spec}: {attribute!r} is not callable")
    found: Callable[[], object] = target
    return found


def _load_publisher(spec: str, *, use_async: bool) -> Publisher | AsyncPublisher:
    factory = _load_callable(spec, "--publisher", "be a broker URL or look like module:factory")
    try:
        publisher = factory()
    except Exception as error:
        raise _UsageError(
            f"--publisher {spec}: the factory raised {type(error).__name__}: {error}"
        ) from error
    publish = getattr(publisher, "publish", None)
    if not callable(publish):
        raise _UsageError(f"--publisher {spec}: {publisher!r} has no publish() method")
    if inspect.iscoroutinefunction(publish) != use_async:
        wanted = "an async publish() (AsyncPublisher)" if use_async else "a sync publish() (Publisher)"
        hint = "" if use_async else "; run with --async for an async publisher"
        raise _UsageError(f"--publisher {spec}: the relay needs {wanted}{hint}")
    loaded: Any = publisher
    checked: Publisher | AsyncPublisher = loaded
    return checked


def _broker_options(arguments: argparse.Namespace) -> BrokerOptions:
    route: Callable[[OutboxMessage], Route] | None = None
    if arguments.route is not None:
        loaded: Any = _load_callable(arguments.route, "--route", "look like module:function")
        route = loaded
    elif arguments.destination is not None:
        try:
            route = destination_route(arguments.destination)
        except InvalidArgumentError as error:
            raise _UsageError(f"--destination {arguments.destination!r}: {error.reason}") from None
    return BrokerOptions(
        exchange=arguments.exchange,
        stream=arguments.stream,
        max_length=arguments.max_length,
        timeout=arguments.timeout,
        route=route,
    )


def _publisher(arguments: argparse.Namespace) -> tuple[Publisher | AsyncPublisher, bool, bool]:
    """The relay's publisher, whether it runs on asyncio, and whether the command owns (closes) it."""
    spec: str | None = arguments.publisher
    options = _broker_options(arguments)
    broker = broker_of(spec) if spec is not None else None
    if broker is None:
        given = [name for name, value in attrs.asdict(options, recurse=False).items() if value is not None]
        if given:
            option = "--" + given[0].replace("_", "-")
            if given[0] == "route":
                option = "--route" if arguments.route is not None else "--destination"
            raise _UsageError(f"{option} applies to a broker URL given as --publisher only")
        use_async: bool = arguments.use_async
        default = _DEFAULT_ASYNC_PUBLISHER if use_async else _DEFAULT_PUBLISHER
        return _load_publisher(spec or default, use_async=use_async), use_async, False
    assert spec is not None
    use_async = arguments.use_async or broker in ASYNC_ONLY
    return build_publisher(spec, broker, options, use_async=use_async), use_async, True


@contextmanager
def _signals_set(event: Callable[[], None]) -> Generator[None, None, None]:
    """Call ``event`` on SIGINT and SIGTERM while in the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

    def handle(number: int, _frame: object) -> None:
        logging.getLogger("hexalchemy.cli").info("received %s; stopping", signal.Signals(number).name)
        event()

    for number in previous:
        signal.signal(number, handle)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


# --- the commands --------------------------------------------------------------------------------


def _relay(arguments: argparse.Namespace, out: TextIO) -> int:
    config = _config(arguments.url)
    publisher, use_async, owned = _publisher(arguments)
    if arguments.listen:
        _check_listen(config)
    if arguments.min_idle_delay > arguments.max_idle_delay:
        raise _UsageError("--min-idle-delay must not be greater than --max-idle-delay")
    options: dict[str, Any] = {
        "batch_size": arguments.batch_size,
        "lease_for": dt.timedelta(seconds=arguments.lease),
        "delivery": DeliveryMode(arguments.delivery),
        "pipelined": arguments.pipelined,
        "max_idle_delay": arguments.max_idle_delay,
        "min_idle_delay": arguments.min_idle_delay,
        "name": arguments.name,
    }
    progress = _Progress(out, arguments.progress)
    if use_async:
        counters = asyncio.run(_relay_async(config, publisher, options, arguments, progress, owned=owned))
    else:
        counters = _relay_sync(config, publisher, options, arguments, progress, owned=owned)
    print(f"relay stopped: {progress.line(counters)}", file=out, flush=True)
    return 0


class _Progress:
    """Prints a relay's counters, and its rate since the last line, every ``interval`` seconds."""

    def __init__(self, out: TextIO, interval: float) -> None:
        self.out, self.interval = out, interval
        self._started = self._last_time = time.monotonic()
        self._last_published = 0

    def line(self, counters: RelayCounters) -> str:
        """``published=N retried=N ...`` and the published rate since the previous line (or the start)."""
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-9)
        rate = (counters.published - self._last_published) / elapsed
        self._last_time, self._last_published = now, counters.published
        fields = " ".join(
            f"{field.name}={getattr(counters, field.name)}" for field in attrs.fields(RelayCounters)
        )
        return f"{fields} rate={rate:.0f}/s elapsed={now - self._started:.1f}s"

    def print(self, counters: RelayCounters) -> None:
        """Print one progress line."""
        print(f"progress: {self.line(counters)}", file=self.out, flush=True)

    def run(self, done: threading.Event, counters: Callable[[], RelayCounters]) -> None:
        """Print a line every interval until ``done`` is set (the body of a thread)."""
        while not done.wait(self.interval):
            self.print(counters())

    async def run_async(self, counters: Callable[[], RelayCounters]) -> None:
        """Print a line every interval until cancelled (the body of a task)."""
        while True:
            await asyncio.sleep(self.interval)
            self.print(counters())


def _check_listen(config: DatabaseConfig) -> None:
    """Refuse ``--listen`` for a database with no LISTEN/NOTIFY (the wake-up checks the URL; it connects later)."""
    from hexalchemy.sqlalchemy.outbox_notify import PostgresNotifyWakeUp

    try:
        PostgresNotifyWakeUp(config).close()
    except ConfigError as error:
        raise _UsageError("--listen needs a PostgreSQL database") from error


def _relay_sync(
    config: DatabaseConfig,
    publisher: Any,
    options: dict[str, Any],
    arguments: argparse.Namespace,
    progress: _Progress,
    *,
    owned: bool,
) -> RelayCounters:
    from hexalchemy.sqlalchemy.outbox_notify import PostgresNotifyWakeUp

    stop, done = threading.Event(), threading.Event()
    try:
        with _sync_store(config, arguments) as store:
            wake_up = PostgresNotifyWakeUp(config) if arguments.listen else None
            try:
                relay = OutboxRelay(store, publisher, wake_up=wake_up, **options)
                printer = threading.Thread(
                    target=progress.run, args=(done, lambda: relay.counters), name="progress", daemon=True
                )
                printer.start()
                try:
                    with _signals_set(stop.set):
                        if arguments.drain:
                            relay.drain(stop)
                        else:
                            relay.run(stop)
                finally:
                    done.set()
                    printer.join()
                return relay.counters
            finally:
                if wake_up is not None:
                    wake_up.close()
    finally:
        closer = close_publisher(publisher) if owned else None
        if closer is not None:
            closer()


async def _relay_async(
    config: DatabaseConfig,
    publisher: Any,
    options: dict[str, Any],
    arguments: argparse.Namespace,
    progress: _Progress,
    *,
    owned: bool,
) -> RelayCounters:
    from hexalchemy.sqlalchemy.outbox_notify import AsyncPostgresNotifyWakeUp

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        async with _async_store(config, arguments) as store:
            wake_up = AsyncPostgresNotifyWakeUp(config) if arguments.listen else None
            installed: list[signal.Signals] = []
            try:
                relay = AsyncOutboxRelay(store, publisher, wake_up=wake_up, **options)
                if threading.current_thread() is threading.main_thread():
                    for number in (signal.SIGINT, signal.SIGTERM):
                        loop.add_signal_handler(number, stop.set)
                        installed.append(number)
                printer = asyncio.create_task(progress.run_async(lambda: relay.counters))
                try:
                    if arguments.drain:
                        await relay.drain(stop)
                    else:
                        await relay.run(stop)
                finally:
                    printer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await printer
                return relay.counters
            finally:
                for number in installed:
                    loop.remove_signal_handler(number)
                if wake_up is not None:
                    await wake_up.close()
    finally:
        closer = close_publisher(publisher) if owned else None
        if closer is not None:
            closed = closer()
            if inspect.isawaitable(closed):
                await closed


def _format_age(age: dt.timedelta | None) -> str:
    return "-" if age is None else f"{age.total_seconds():.1f} s"


def _stats(arguments: argparse.Namespace, out: TextIO) -> int:
    with _sync_store(_config(arguments.url), arguments) as store:
        stats: OutboxStats = store.stats()
    if arguments.json:
        age = stats.oldest_pending_age
        document = {
            "pending": stats.pending,
            "leased": stats.leased,
            "dead": stats.dead,
            "oldest_pending_age_seconds": None if age is None else age.total_seconds(),
        }
        print(json.dumps(document), file=out)
    else:
        print(f"pending: {stats.pending}", file=out)
        print(f"leased: {stats.leased}", file=out)
        print(f"dead: {stats.dead}", file=out)
        print(f"oldest pending age: {_format_age(stats.oldest_pending_age)}", file=out)
    return 0


def _requeue(arguments: argparse.Namespace, out: TextIO) -> int:
    with _sync_store(_config(arguments.url), arguments) as store:
        count = store.requeue(None if arguments.all else list(dict.fromkeys(arguments.ids)))
    print(f"requeued {count} message(s)", file=out)
    return 0


def _dead_letter_document(letter: DeadLetter) -> dict[str, object]:
    message = letter.message
    return {
        "id": str(message.id),
        "topic": message.topic,
        "ordering_key": message.ordering_key,
        "attempts": message.attempts,
        "created_at": message.created_at.isoformat(),
        "failed_at": letter.failed_at.isoformat(),
        "error": letter.error,
    }


def _dead_letters(arguments: argparse.Namespace, out: TextIO) -> int:
    with _sync_store(_config(arguments.url), arguments) as store:
        letters = store.dead_letters(limit=arguments.limit)
    for letter in letters:
        if arguments.json:
            print(json.dumps(_dead_letter_document(letter)), file=out)
        else:
            message = letter.message
            print(
                f"{message.id}  {message.topic}  attempts={message.attempts}  "
                f"failed_at={letter.failed_at.isoformat()}  error={letter.error}",
                file=out,
            )
    if not arguments.json:
        print(f"{len(letters)} dead letter(s)", file=out)
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "relay": _relay,
    "stats": _stats,
    "requeue": _requeue,
    "dead-letters": _dead_letters,
}


def _configure_logging(verbosity: int, action: str) -> None:
    if verbosity >= 2:
        level = logging.DEBUG
    elif verbosity == 1 or action == "relay":
        level = logging.INFO
    else:
        level = logging.WARNING
    # does nothing when the application (or pytest) already configured logging
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hexalchemy`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    if argv is not None and (
        isinstance(argv, str)
        or not is_instance(argv, Sequence)
        or not all(is_instance(item, str) for item in argv)
    ):
        print(f"hexalchemy: error: the arguments must be a list of str, not {argv!r}", file=sys.stderr)
        return _BAD_ARGUMENTS
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help (0) and on bad arguments (2)
        return exit_.code if isinstance(exit_.code, int) else _BAD_ARGUMENTS
    _configure_logging(arguments.verbose, arguments.action)
    try:
        return _COMMANDS[arguments.action](arguments, sys.stdout)
    except (_UsageError, ConfigError, InvalidArgumentError) as error:
        _report(f"{error} (see hexalchemy outbox {arguments.action} --help)")
        return _BAD_ARGUMENTS
    except HexalchemyError as error:
        hint = ""
        if arguments.prefix in str(error):
            hint = f" (are the outbox tables created, and is --prefix {arguments.prefix!r} right?)"
        _report(f"{error}{hint}")
        return _FAILED
    except Exception as error:
        _report(f"{type(error).__name__}: {error}")
        return _FAILED


def _report(message: str) -> None:
    """Print ``message`` to stderr as one line (a server's multi-line text is folded onto it)."""
    print("hexalchemy: error: " + " ".join(line.strip() for line in message.splitlines()), file=sys.stderr)
