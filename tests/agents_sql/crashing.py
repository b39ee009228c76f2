"""Crash hooks for the crash tests: count the statements of a transaction, fail at the k-th.

Two hooks see the statements, each on its own side of SQLAlchemy:

- :class:`ListenerHook`, a SQLAlchemy ``before_cursor_execute`` listener, with the
  stores' driver fast paths turned off (``FAST_PATHS_EXECUTION_OPTION``): every statement
  goes through SQLAlchemy, the only path there is on SQLite.
- :class:`CursorHook`, on PostgreSQL: a psycopg ``cursor_factory`` that the pool's
  ``connect`` event sets on each new connection; the fast paths stay on. SQLAlchemy and the fast path both take their
  cursors from the psycopg connection's ``cursor()``, so this cursor sees the statements of
  both (``execute``, ``executemany``, ``copy``). The fast path sends positional parameters
  (``%s``), SQLAlchemy named ones (``%(name)s``): that tells which path sent a statement.

Neither sees COMMIT, which is the connection's ``commit()``, not a cursor's statement:
:func:`fail_on` and :func:`commit_acknowledgement_lost` break the commit.

Each takes a sync ``Engine`` or an ``AsyncEngine`` (whose events go on its ``sync_engine``),
so that the async crash tests and their generated sync twin call them alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import Any, NamedTuple, Protocol, Self
from unittest import mock

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from tests.statements import sqlalchemy_path


def events_of(engine: Engine | AsyncEngine) -> Engine:
    """The engine whose events see ``engine``'s connections: itself, or an async engine's ``sync_engine``."""
    return engine.sync_engine if isinstance(engine, AsyncEngine) else engine


def async_time_limit(seconds: float) -> AbstractAsyncContextManager[object]:
    """Cancel the block and raise ``TimeoutError`` once it has run for ``seconds``."""
    return asyncio.timeout(seconds)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``TimeoutError`` after the block if it ran for more than ``seconds``.

    The sync twin of :func:`async_time_limit` in the generated crash tests: a blocked call
    cannot be interrupted from its own thread, so a block that overran fails once it ends.
    """
    started = time.monotonic()
    yield
    if time.monotonic() - started > seconds:
        raise TimeoutError(f"the block ran for more than {seconds} seconds")


class CrashError(Exception):
    """The simulated crash."""


class Sent(NamedTuple):
    """A statement a hook saw: its SQL, and whether the driver fast path sent it."""

    sql: str
    fast: bool


class Counter:
    """The statements seen so far; raises ``error`` at the k-th (never when k is None)."""

    def __init__(self, k: int | None, error: type[BaseException]) -> None:
        self.k = k
        self.error = error
        self.sent: list[Sent] = []

    def see(self, sql: Any, fast: bool) -> None:
        """Record a statement about to be sent; raise instead of sending it if it is the k-th."""
        self.sent.append(Sent(str(sql), fast))
        if len(self.sent) == self.k:
            raise self.error(f"{self.error.__name__} at statement {self.k}: {str(sql)[:60]}")


class Hook(Protocol):
    """Where a crash test counts the statements of an engine and fails one."""

    def fail_at(
        self, k: int | None, error: type[BaseException] = CrashError
    ) -> AbstractContextManager[list[Sent]]:
        """Count the statements sent in the block; raise ``error`` instead of sending the k-th."""
        ...

    def check_path(self, sent: Sequence[Sent]) -> None:
        """Fail unless ``sent`` (a whole boundary) took the path this hook is there to test."""


class ListenerHook:
    """Statements seen by a ``before_cursor_execute`` listener: SQLAlchemy's path only."""

    def __init__(self, engine: Engine | AsyncEngine) -> None:
        self.engine = events_of(engine)

    @contextmanager
    def fail_at(self, k: int | None, error: type[BaseException] = CrashError) -> Iterator[list[Sent]]:
        """Count the statements SQLAlchemy sends in the block; raise ``error`` at the k-th."""
        counter = Counter(k, error)

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            counter.see(statement, fast=False)

        with sqlalchemy_path(self.engine):
            event.listen(self.engine, "before_cursor_execute", before)
            try:
                yield counter.sent
            finally:
                event.remove(self.engine, "before_cursor_execute", before)

    def check_path(self, sent: Sequence[Sent]) -> None:
        """The listener saw statements; none can have bypassed SQLAlchemy while it listened."""
        assert sent
        assert not any(statement.fast for statement in sent)


def _positional(parameters: Any) -> bool:
    """Whether psycopg got positional parameters: the fast path's (SQLAlchemy names its own)."""
    return isinstance(parameters, list | tuple)


class CursorHook:
    """Statements seen by the psycopg cursor, on either path (PostgreSQL; sync or async engine).

    Build it before the engine's first connection: only new connections get the cursor.
    """

    def __init__(self, engine: Engine | AsyncEngine) -> None:
        self.engine = events_of(engine)
        self.counter: Counter | None = None
        see = self._see

        class CountingCursor(psycopg.Cursor[Any]):
            def execute(self, query: Any, params: Any = None, **options: Any) -> Self:
                see(query, _positional(params))
                return super().execute(query, params, **options)

            def executemany(self, query: Any, params_seq: Iterable[Any], **options: Any) -> None:
                rows = list(params_seq)
                see(query, bool(rows) and _positional(rows[0]))
                super().executemany(query, rows, **options)

            @contextmanager
            def copy(self, statement: Any, params: Any = None, **options: Any) -> Iterator[psycopg.Copy]:
                see(statement, True)  # only the fast path copies
                with super().copy(statement, params, **options) as copy:
                    yield copy

        class AsyncCountingCursor(psycopg.AsyncCursor[Any]):
            async def execute(self, query: Any, params: Any = None, **options: Any) -> Self:
                see(query, _positional(params))
                return await super().execute(query, params, **options)

            async def executemany(self, query: Any, params_seq: Iterable[Any], **options: Any) -> None:
                rows = list(params_seq)
                see(query, bool(rows) and _positional(rows[0]))
                await super().executemany(query, rows, **options)

            @asynccontextmanager
            async def copy(
                self, statement: Any, params: Any = None, **options: Any
            ) -> AsyncIterator[psycopg.AsyncCopy]:
                see(statement, True)
                async with super().copy(statement, params, **options) as copy:
                    yield copy

        self.cursor = CountingCursor
        self.async_cursor = AsyncCountingCursor
        event.listen(self.engine, "connect", self._install)

    def _install(self, _dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        connection = record.driver_connection
        if isinstance(connection, psycopg.AsyncConnection):
            connection.cursor_factory = self.async_cursor
        elif isinstance(connection, psycopg.Connection):
            connection.cursor_factory = self.cursor

    def _see(self, sql: Any, fast: bool) -> None:
        if self.counter is not None:
            self.counter.see(sql, fast)

    @contextmanager
    def fail_at(self, k: int | None, error: type[BaseException] = CrashError) -> Iterator[list[Sent]]:
        """Count the statements psycopg receives in the block; raise ``error`` at the k-th."""
        self.counter = counter = Counter(k, error)
        try:
            yield counter.sent
        finally:
            self.counter = None

    def check_path(self, sent: Sequence[Sent]) -> None:
        """The cursor saw statements, all sent on the fast path (a boundary's statements are all hot)."""
        assert sent, "the cursor saw no statement: was it installed before the first connection?"
        slow = [statement.sql[:60] for statement in sent if not statement.fast]
        assert not slow, f"statements of the boundary went through SQLAlchemy: {slow}"


@contextmanager
def fail_on(engine: Engine | AsyncEngine, name: str, error: BaseException) -> Iterator[list[object]]:
    """Raise ``error`` from the engine's ``name`` event (``begin``, ``commit``), before the driver acts."""
    engine = events_of(engine)
    calls: list[object] = []

    def hook(connection: Any) -> None:
        calls.append(connection)
        raise error

    event.listen(engine, name, hook)
    try:
        yield calls
    finally:
        event.remove(engine, name, hook)


@contextmanager
def commit_acknowledgement_lost(engine: Engine | AsyncEngine) -> Iterator[list[object]]:
    """Let the database commit, then raise CrashError as if the connection dropped before the reply."""
    dialect = events_of(engine).dialect
    commit: Callable[[Any], None] = dialect.do_commit
    commits: list[object] = []

    def do_commit(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        commits.append(dbapi_connection)
        raise CrashError("connection lost after the commit")

    with mock.patch.object(dialect, "do_commit", do_commit):
        yield commits
