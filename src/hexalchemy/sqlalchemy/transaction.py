"""SQLAlchemy transaction managers: one object per engine, a transaction per thread or task.

The active connection lives in a ``ContextVar`` owned by the manager, so repositories built
once in the composition root find the transaction of whichever thread or task calls them.
All logic is in :class:`TransactionCore`, a sans-I/O plan shared by the sync and async
managers; they only drive it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
)
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Final

import attrs
from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from hexalchemy.ports import (
    CommitError,
    ConfigError,
    IsolationLevel,
    NoActiveTransactionError,
    ReadOnlyTransactionError,
    RetryableError,
    TransactionUsageError,
)
from hexalchemy.rules import check_begin, check_instance
from hexalchemy.sqlalchemy._cleanup import close_quietly, rollback_quietly
from hexalchemy.sqlalchemy._errors import translate_error
from hexalchemy.sqlalchemy._operations import BODY, Call, Plan, drive, drive_async
from hexalchemy.sqlalchemy.backend import READ_ONLY_EXECUTION_OPTION, backend_for

__all__ = [
    "AsyncSqlAlchemyTransactionManager",
    "SqlAlchemyTransactionManager",
    "TransactionCore",
    "TransactionState",
]

_LOG: Final = logging.getLogger("hexalchemy.transaction")

BeforeCommit = Callable[[Any, list[Any]], "Plan[None]"]
"""A hook run before the outermost commit with the transaction's connection and its items (see ``TransactionState.defer``)."""


@attrs.define(eq=False)
class TransactionState:
    """The transaction of one thread or task: its connection and its nesting.

    A *light* transaction (see :meth:`TransactionCore.plan`) holds a pool connection only
    and makes its SQLAlchemy connection on first use of :attr:`connection`.
    """

    _connection: Any
    """The connection callers use (``Connection``, or ``AsyncConnection`` for the async manager); None until made."""
    owner: object
    read_only_stack: list[bool]
    sync_connection: Any = None
    """The sync SQLAlchemy ``Connection`` behind :attr:`connection`; None while a light transaction has made none."""
    engine: Any = None
    """The (sync) engine the transaction's connection came from."""
    pool_connection: Any = None
    """The pool connection (SQLAlchemy's ``PoolProxiedConnection``) the transaction holds."""
    root: Any = None
    """The SQLAlchemy ``Transaction`` begun when a light transaction made its connection, else None."""
    driver_cursor: Any = None
    """A driver cursor on this transaction's connection, made on first use by a backend's fast paths (psycopg's)."""
    statement_hook: tuple[Any, bool, Any] | None = None
    """``(execution options, fast paths allowed, hook)``: what the fast paths know of the connection, for these options.

    The hook is the one they report to (``_statement_hooks.hook_for``). None until a fast
    path's first statement resolves it (``_driver_path._route``); resolved again when the
    connection's execution options change, not at every statement.
    """
    loaded: dict[Any, dict[Any, Any]] | None = None
    """The aggregates read or saved in this transaction, per table, by key: what each row holds now.

    A repository sets only the columns that changed since (``TableMapping.changes``). Made
    on first use; dropped when a savepoint rolls back (the rows may hold older values again).
    """

    before_commit: list[tuple[BeforeCommit, Any]] | None = None
    """Work an adapter left for the end of the transaction: ``(hook, item)`` pairs, in order.

    Just before the outermost commit, each hook runs once, as ``hook(connection, items)``,
    with the items it was given in this transaction (a rolled-back savepoint drops the
    ones it added). The outbox writer numbers an ordering key's messages there, so that a
    transaction takes its keys' locks all at once, in one order (no deadlock).
    """

    @property
    def connection(self) -> Any:
        """The transaction's SQLAlchemy connection; a light transaction makes it now, on its pool connection, and begins it.

        So SQLAlchemy's connection events (``engine_connect``, ``begin``, then ``commit``
        or ``rollback``) fire for every transaction that runs anything through SQLAlchemy.
        """
        connection = self._connection
        if connection is None:
            connection = self._connection = self.sync_connection = Connection(
                self.engine, self.pool_connection
            )
            self.root = connection.begin()
        return connection

    def sync(self) -> Any:
        """The sync SQLAlchemy connection (made now by a light transaction that has none)."""
        if self.sync_connection is None:
            self.connection  # noqa: B018 - made on first use
        return self.sync_connection

    def options_holder(self) -> Any:
        """What holds the execution options in force: the sync connection, or the engine while a light transaction has made none."""
        sync = self.sync_connection
        return self.engine if sync is None else sync

    def defer(self, hook: BeforeCommit, item: Any) -> None:
        """Leave ``item`` for ``hook`` to handle just before the outermost commit."""
        if self.before_commit is None:
            self.before_commit = []
        self.before_commit.append((hook, item))

    @property
    def read_only(self) -> bool:
        """Whether writes are refused at the current nesting level."""
        return self.read_only_stack[-1]

    @property
    def depth(self) -> int:
        """1 for the outermost transaction, +1 for each savepoint."""
        return len(self.read_only_stack)


def _for(entity_type: type[object] | None) -> str:
    """`` for Order`` naming the entity an error is about (made only when raising)."""
    return f" for {entity_type.__qualname__}" if entity_type is not None else ""


class TransactionCore:
    """Everything the sync and async managers share: state, nesting rules and the plans."""

    def __init__(self, dialect: Dialect, owner: Callable[[], object], label: str) -> None:
        self.dialect = dialect
        self.dialect_name = dialect.name
        self.backend = backend_for(dialect)
        """The database's backend: everything that depends on which database it is."""
        self.owner = owner
        self.current: ContextVar[TransactionState | None] = ContextVar(f"hexalchemy.{label}", default=None)
        self._options: dict[tuple[bool, IsolationLevel | None], dict[str, Any]] = {}

    def state_or_none(self) -> TransactionState | None:
        """The calling thread's or task's transaction, or None."""
        state = self.current.get()
        if state is None or state.owner != self.owner():
            return None
        return state

    def require(self, entity_type: type[object] | None = None, *, write: bool = False) -> TransactionState:
        """Return the active transaction, or raise a clear error about why there is none."""
        state = self.current.get()
        if state is None:
            raise NoActiveTransactionError(
                f"no active transaction{_for(entity_type)}: wrap the call in `with transactions.begin():` "
                "(or `async with` for the async manager)"
            )
        if state.owner != self.owner():
            raise TransactionUsageError(
                f"the transaction{_for(entity_type)} belongs to the thread or task that opened it; "
                "open a transaction in this thread or task with begin()"
            )
        if write and state.read_only:
            raise ReadOnlyTransactionError(f"write{_for(entity_type)} inside a read-only transaction")
        return state

    def plan(
        self,
        engine: Any,
        read_only: bool,
        isolation_level: IsolationLevel | None,
        *,
        wrap: Callable[[Any], Any] | None = None,
    ) -> Plan[None]:
        """The plan of one ``begin()``: a new transaction, or a savepoint inside the active one.

        ``wrap`` turns the connection the plan opens into the one the transaction's callers
        use (the async manager opens a sync connection inside the greenlet bridge and hands
        out its :class:`~sqlalchemy.ext.asyncio.AsyncConnection`); a savepoint ignores it.
        """
        state = self.state_or_none()
        if state is None:
            return self._outer(engine, read_only, isolation_level, wrap)
        if isolation_level is not None:
            raise TransactionUsageError(
                "isolation_level applies to the outermost transaction only; a nested begin() cannot change it"
            )
        return self._nested(state, read_only)

    def _connection_options(self, read_only: bool, isolation_level: IsolationLevel | None) -> dict[str, Any]:
        """The connection's execution options; none for a read-write transaction at the default level.

        :data:`~hexalchemy.sqlalchemy.backend.READ_ONLY_EXECUTION_OPTION` marks a read-only
        transaction (SQLite then begins a deferred transaction, not ``IMMEDIATE``); the
        backend adds its own (``Backend.transaction_options``).
        """
        options = self._options.get((read_only, isolation_level))
        if options is None:  # made once per kind of transaction: it is the same every time
            options = {READ_ONLY_EXECUTION_OPTION: True} if read_only else {}
            options.update(self.backend.transaction_options(read_only, isolation_level))
            self._options[read_only, isolation_level] = options
        return options

    def _outer(
        self,
        engine: Any,
        read_only: bool,
        isolation_level: IsolationLevel | None,
        wrap: Callable[[Any], Any] | None,
    ) -> Plan[None]:
        options = self._connection_options(read_only, isolation_level)
        if wrap is None and not options and self.backend.light_transactions(engine):
            return (yield from self._light(engine))
        connection = yield Call(engine.connect)
        try:
            if options:
                yield Call(functools.partial(connection.execution_options, **options))
            transaction = yield Call(connection.begin)
        except BaseException:
            yield from close_quietly(connection)
            raise
        shared = connection if wrap is None else wrap(connection)
        state = TransactionState(shared, self.owner(), [read_only], connection, engine, connection.connection)
        yield from self._around_body(
            state,
            commit=functools.partial(_call, transaction.commit),
            rollback=functools.partial(rollback_quietly, transaction),
            close=functools.partial(close_quietly, connection),
        )

    def _light(self, engine: Any) -> Plan[None]:
        """A read-write transaction at the default level, on a pool connection alone (``Backend.light_transactions``).

        The pool connection is checked out and given back as any connection's is (the
        pool's events fire), and the transaction is committed or rolled back on it (its
        ``commit`` and ``rollback``, the driver's): the fast paths need nothing more. The
        SQLAlchemy connection, and the events that come with it, are made only when
        something asks for :attr:`TransactionState.connection`; then the transaction
        ends through it, as :meth:`_outer`'s does.
        """
        pool_connection = yield Call(engine.raw_connection)
        state = TransactionState(None, self.owner(), [False], None, engine, pool_connection)
        yield from self._around_body(
            state,
            commit=functools.partial(_commit_light, state),
            rollback=functools.partial(_rollback_light, state),
            close=functools.partial(_close_light, state),
        )

    def _around_body(
        self,
        state: TransactionState,
        *,
        commit: Callable[[], Plan[None]],
        rollback: Callable[[], Plan[None]],
        close: Callable[[], Plan[None]],
    ) -> Plan[None]:
        """The outermost transaction around its body: commit after it, roll back on an error, close either way."""
        token = self.current.set(state)
        try:
            try:
                yield BODY
            except BaseException as exc:
                yield from rollback()
                _raise_translated(exc)
                raise
            try:
                if state.before_commit:
                    yield from _run_before_commit(state.sync(), state.before_commit)
                yield from commit()
            except BaseException as exc:  # a cancelled commit must not go back to the pool open
                yield from rollback()
                if isinstance(exc, RetryableError) or not isinstance(exc, Exception):
                    raise
                raise CommitError(f"commit failed and was rolled back: {exc}") from exc
        finally:
            self.current.reset(token)
            yield from close()

    def _nested(self, state: TransactionState, read_only: bool) -> Plan[None]:
        savepoint = yield Call(state.connection.begin_nested)
        state.read_only_stack.append(read_only or state.read_only)
        deferred = len(state.before_commit) if state.before_commit else 0
        try:
            try:
                yield BODY
            except BaseException as exc:
                state.loaded = None
                if state.before_commit:
                    del state.before_commit[deferred:]  # the work of the rolled-back savepoint
                yield from rollback_quietly(savepoint)
                _raise_translated(exc)
                raise
            try:
                yield Call(savepoint.commit)
            except BaseException:
                state.loaded = None
                raise
        finally:
            state.read_only_stack.pop()


def _run_before_commit(connection: Any, deferred: list[tuple[BeforeCommit, Any]]) -> Plan[None]:
    """Run each hook once, in the order of its first item, with all its items."""
    grouped: dict[BeforeCommit, list[Any]] = {}
    for hook, item in deferred:
        grouped.setdefault(hook, []).append(item)
    deferred.clear()
    for hook, items in grouped.items():
        yield from hook(connection, items)


def _commit_light(state: TransactionState) -> Plan[None]:
    """Commit a light transaction: through the SQLAlchemy transaction it made, if it made one, else on its pool connection."""
    yield Call(state.pool_connection.commit if state.root is None else state.root.commit)


def _call(function: Callable[[], Any]) -> Plan[None]:
    """Plan: call ``function``."""
    yield Call(function)


def _close_light(state: TransactionState) -> Plan[None]:
    """Give a light transaction's connection back: its SQLAlchemy connection if it made one, else its pool connection."""
    yield from close_quietly(
        state.pool_connection if state.sync_connection is None else state.sync_connection
    )


def _rollback_light(state: TransactionState) -> Plan[None]:
    """Roll a light transaction back (as :func:`_commit_light` commits it); what fails is logged, not raised."""
    if state.root is not None:
        yield from rollback_quietly(state.root)
        return
    try:
        yield Call(state.pool_connection.rollback)
    except Exception:
        _LOG.warning("rollback failed; the connection will be discarded by the pool", exc_info=True)


def _raise_translated(error: BaseException) -> None:
    """Re-raise a database error from the ``with`` block (hand-written SQL) as a hexalchemy error.

    So a serialization failure in hand-written SQL is a ``SerializationConflictError`` that
    ``run_in_transaction`` retries. Other exceptions are left for the caller to re-raise.
    """
    if isinstance(error, Exception):
        translated = translate_error(error)
        if translated is not error:
            raise translated from error


def _finish(plan: Plan[None], error: BaseException | None) -> None:
    finished, _ = drive(plan, error=error)
    if not finished:  # pragma: no cover - plans yield BODY once
        raise AssertionError("transaction plan yielded its body twice")


class _Transaction(AbstractContextManager[None]):
    """What ``SqlAlchemyTransactionManager.begin()`` returns: drives the plan to its body on entry, to its end on exit.

    A plain slotted class, not a ``contextmanager`` generator: one is made per transaction.
    """

    __slots__ = ("_core", "_engine", "_isolation_level", "_plan", "_read_only")

    def __init__(
        self, core: TransactionCore, engine: Engine, read_only: bool, isolation_level: IsolationLevel | None
    ) -> None:
        self._core = core
        self._engine = engine
        self._read_only = read_only
        self._isolation_level = isolation_level
        self._plan: Plan[None] | None = None

    def __enter__(self) -> None:
        plan = self._core.plan(self._engine, self._read_only, self._isolation_level)
        drive(plan)
        self._plan = plan

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        plan, self._plan = self._plan, None
        if plan is not None:
            _finish(plan, exc)


class SqlAlchemyTransactionManager:
    """Synchronous transactions over a SQLAlchemy :class:`~sqlalchemy.Engine`.

    Build one per engine in the composition root and share it: ``with manager.begin():``
    opens a transaction for the calling thread (a savepoint when one is active).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = check_instance("engine", engine, Engine, error=ConfigError)
        self._core = TransactionCore(engine.dialect, threading.get_ident, f"sync.{id(self)}")

    @property
    def dialect_name(self) -> str:
        """The name of the engine's dialect (``postgresql`` or ``sqlite``)."""
        return self.engine.dialect.name

    @property
    def core(self) -> TransactionCore:
        """The shared transaction logic; repositories read the active state from it."""
        return self._core

    def begin(
        self, *, read_only: bool = False, isolation_level: IsolationLevel | None = None
    ) -> AbstractContextManager[None]:
        """Open a transaction (or a savepoint); commit on success, roll back on exception.

        ``read_only`` must be a bool and ``isolation_level`` an :class:`~hexalchemy.ports.IsolationLevel`
        or None (``InvalidArgumentError`` at the call otherwise).
        """
        read_only, isolation_level = check_begin(read_only, isolation_level)
        return _Transaction(self._core, self.engine, read_only, isolation_level)

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside a transaction of this manager."""
        return self._core.state_or_none() is not None

    def connection(self) -> Connection:
        """The active transaction's connection, for hand-written Core queries.

        Raises :class:`~hexalchemy.ports.NoActiveTransactionError` outside a transaction.
        Do not commit, roll back or close it: the manager does.
        """
        connection: Connection = self._core.require().connection
        return connection


async def _drive(plan: Plan[None], error: BaseException | None, *, bridged: bool) -> None:
    """Drive a transaction plan to its body or its end: inside the greenlet bridge, or awaiting each step."""
    if bridged:
        await greenlet_spawn(drive, plan, None, error, bridged=True)
    else:
        await drive_async(plan, error=error)


def _current_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class _AsyncTransaction(AbstractAsyncContextManager[None]):
    """What ``AsyncSqlAlchemyTransactionManager.begin()`` returns (see :class:`_Transaction`).

    The outermost transaction's plan runs inside SQLAlchemy's greenlet bridge, a savepoint's
    awaits each step (it uses the open connection only).
    """

    __slots__ = ("_core", "_engine", "_isolation_level", "_outer", "_plan", "_read_only", "_wrap")

    def __init__(
        self,
        core: TransactionCore,
        engine: AsyncEngine,
        wrap: Callable[[Connection], AsyncConnection],
        read_only: bool,
        isolation_level: IsolationLevel | None,
    ) -> None:
        self._core = core
        self._engine = engine
        self._wrap = wrap
        self._read_only = read_only
        self._isolation_level = isolation_level
        self._outer = False
        self._plan: Plan[None] | None = None

    async def __aenter__(self) -> None:
        outer = self._core.state_or_none() is None
        plan = self._core.plan(
            self._engine.sync_engine, self._read_only, self._isolation_level, wrap=self._wrap
        )
        await _drive(plan, None, bridged=outer)
        self._plan, self._outer = plan, outer

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        plan, self._plan = self._plan, None
        if plan is not None:
            await _drive(plan, exc, bridged=self._outer)


class AsyncSqlAlchemyTransactionManager:
    """Asynchronous transactions over a SQLAlchemy :class:`~sqlalchemy.ext.asyncio.AsyncEngine`.

    ``async with manager.begin():`` opens a transaction for the calling task (a savepoint
    when the task already has one). A task started inside a transaction does not share it:
    it opens its own.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = check_instance("engine", engine, AsyncEngine, error=ConfigError)
        self._core = TransactionCore(engine.dialect, _current_task, f"async.{id(self)}")

    @property
    def dialect_name(self) -> str:
        """The name of the engine's dialect (``postgresql`` or ``sqlite``)."""
        return self.engine.dialect.name

    @property
    def core(self) -> TransactionCore:
        """The shared transaction logic; repositories read the active state from it."""
        return self._core

    def begin(
        self, *, read_only: bool = False, isolation_level: IsolationLevel | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Open a transaction (or a savepoint); commit on success, roll back on exception.

        ``read_only`` must be a bool and ``isolation_level`` an :class:`~hexalchemy.ports.IsolationLevel`
        or None (``InvalidArgumentError`` at the call otherwise).

        The outermost transaction opens (connect, options, begin) in one crossing of
        SQLAlchemy's greenlet bridge, on the engine's sync face, and closes (commit or
        rollback, then close) in another; a savepoint crosses at each call, as any async
        SQLAlchemy call does.
        """
        read_only, isolation_level = check_begin(read_only, isolation_level)
        return _AsyncTransaction(self._core, self.engine, self._wrap, read_only, isolation_level)

    def _wrap(self, connection: Connection) -> AsyncConnection:
        return AsyncConnection(self.engine, connection)

    @property
    def in_transaction(self) -> bool:
        """Whether the calling task is inside a transaction of this manager."""
        return self._core.state_or_none() is not None

    def connection(self) -> AsyncConnection:
        """The active transaction's connection, for hand-written Core queries (see the sync manager)."""
        connection: AsyncConnection = self._core.require().connection
        return connection
