"""The I/O steps that the sans-I/O cores yield, and the two drivers that perform them.

Every piece of logic (statements, conversion, nesting, error handling) lives once, in
generators that yield :class:`Call` and :class:`CopyRows` steps. The sync driver performs a
step directly; the async driver awaits it. SQLAlchemy's sync and async connections share
method names (``execute``, ``begin``, ``begin_nested``, ``commit``, ``close``), so one
generator serves both; only COPY reaches the driver connection, in two small functions.

A third way runs a plan against an async engine's *sync* face, inside SQLAlchemy's greenlet
bridge (:func:`run_plan_bridged`): the sync driver performs every step, and what a step
returns that must be awaited (a call into psycopg's async cursor, an async publisher) is
awaited through the bridge. A plan that opens its own connection runs there with one
crossing of the bridge in all, where the async driver crosses it at every SQLAlchemy call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final, TypeVar, cast

import attrs
from sqlalchemy.util import await_, greenlet_spawn

from hexalchemy.sqlalchemy._errors import translate_error

__all__ = [
    "BODY",
    "Body",
    "Call",
    "CopyRows",
    "DriverExecuteMany",
    "DriverQuery",
    "Plan",
    "Step",
    "drive",
    "drive_async",
    "run_plan",
    "run_plan_async",
    "run_plan_bridged",
]

R = TypeVar("R")


@attrs.frozen
class Call:
    """Call ``function(*arguments)``; the async driver awaits the result when it is awaitable."""

    function: Callable[..., Any]
    arguments: tuple[Any, ...] = ()


@attrs.frozen
class CopyRows:
    """COPY ``rows`` into PostgreSQL through the driver connection behind ``connection``."""

    connection: Any
    sql: str
    rows: Sequence[Sequence[Any]]


@attrs.frozen
class DriverQuery:
    """Run a pre-compiled read on the psycopg connection of transaction ``state``; return its rows.

    The hot paths on PostgreSQL use it to skip SQLAlchemy's per-execution work. The cursor is
    made once per transaction and kept on the state.
    """

    state: Any
    sql: str
    parameters: Sequence[Any]
    describe: bool = False
    """Also return the type codes of the result's columns: ``(rows, type_codes)``."""


@attrs.frozen
class DriverExecuteMany:
    """Run a pre-compiled statement once per parameter row on the psycopg connection; return the rowcount."""

    state: Any
    sql: str
    rows: Sequence[Sequence[Any]]


@attrs.frozen
class Body:
    """Marks where a transaction plan hands control to the caller's ``with`` block."""


BODY: Final = Body()

Step = Call | CopyRows | DriverQuery | DriverExecuteMany | Body
Plan = Generator[Step, Any, R]


def _copy_sync(step: CopyRows) -> None:
    driver_connection = step.connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(step.sql) as copy:
        for row in step.rows:
            copy.write_row(row)


def _type_codes(cursor: Any) -> list[Any]:
    return [column.type_code for column in cursor.description]


def _cursor_sync(state: Any) -> Any:
    cursor = state.driver_cursor
    if cursor is None:
        cursor = state.driver_cursor = state.connection.connection.driver_connection.cursor()
    return cursor


async def _cursor_async(state: Any) -> Any:
    cursor = state.driver_cursor
    if cursor is None:
        sync = state.connection.sync_connection
        if sync is not None and sync.in_transaction():
            # A connection inside a transaction holds its pool connection: no I/O, no bridge.
            fairy = sync.connection
        else:
            fairy = await state.connection.get_raw_connection()
        cursor = state.driver_cursor = fairy.driver_connection.cursor()
    return cursor


def _query_sync(step: DriverQuery) -> Any:
    cursor = _cursor_sync(step.state)
    cursor.execute(step.sql, step.parameters)
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    return (rows, _type_codes(cursor)) if step.describe else rows


async def _query_async(step: DriverQuery) -> Any:
    cursor = await _cursor_async(step.state)
    await cursor.execute(step.sql, step.parameters)
    rows: list[tuple[Any, ...]] = await cursor.fetchall()
    return (rows, _type_codes(cursor)) if step.describe else rows


def _query_bridged(step: DriverQuery) -> Any:
    """:func:`_query_sync` on psycopg's async cursor, inside the greenlet bridge."""
    cursor = _cursor_sync(step.state)
    await_(cursor.execute(step.sql, step.parameters))
    rows: list[tuple[Any, ...]] = await_(cursor.fetchall())
    return (rows, _type_codes(cursor)) if step.describe else rows


def _execute_many_bridged(step: DriverExecuteMany) -> int:
    """:func:`_execute_many_sync` on psycopg's async cursor, inside the greenlet bridge."""
    cursor = _cursor_sync(step.state)
    await_(cursor.executemany(step.sql, step.rows))
    rowcount: int = cursor.rowcount
    return rowcount


def _execute_many_sync(step: DriverExecuteMany) -> int:
    cursor = _cursor_sync(step.state)
    cursor.executemany(step.sql, step.rows)
    rowcount: int = cursor.rowcount
    return rowcount


async def _execute_many_async(step: DriverExecuteMany) -> int:
    cursor = await _cursor_async(step.state)
    await cursor.executemany(step.sql, step.rows)
    rowcount: int = cursor.rowcount
    return rowcount


async def _copy_async(step: CopyRows) -> None:
    raw = await step.connection.get_raw_connection()
    async with raw.driver_connection.cursor() as cursor, cursor.copy(step.sql) as copy:
        for row in step.rows:
            await copy.write_row(row)


def drive(
    plan: Plan[R], value: Any = None, error: BaseException | None = None, *, bridged: bool = False
) -> tuple[bool, R | None]:
    """Run ``plan`` synchronously until it finishes or reaches :data:`BODY`.

    Returns ``(True, result)`` when it finished and ``(False, None)`` at the body. Errors of
    a step are translated into hexalchemy errors and thrown into the plan; a
    ``BaseException`` (``KeyboardInterrupt``, an asyncio cancellation) is thrown in as it is,
    so the plan rolls back and closes its connection before it propagates.

    ``bridged``: the plan runs on an async engine's sync face inside the greenlet bridge
    (see :func:`run_plan_bridged`); a call's awaitable result is awaited there, and the
    driver queries go to psycopg's async cursor. COPY is not supported there.
    """
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return True, stop.value
        if isinstance(step, Body):
            return False, None
        try:
            if isinstance(step, Call):
                value, error = step.function(*step.arguments), None
                if bridged and inspect.isawaitable(value):
                    value = await_(value)
            elif isinstance(step, DriverQuery):
                value, error = (_query_bridged(step) if bridged else _query_sync(step)), None
            elif isinstance(step, DriverExecuteMany):
                value, error = (_execute_many_bridged(step) if bridged else _execute_many_sync(step)), None
            elif bridged:  # pragma: no cover - no bridged plan copies
                raise AssertionError("COPY is not supported inside the greenlet bridge")
            else:
                _copy_sync(step)
                value, error = None, None
        except Exception as exc:
            value, error = None, translate_error(exc)
        except BaseException as exc:  # cancellation, KeyboardInterrupt: the plan still cleans up
            value, error = None, exc


async def drive_async(
    plan: Plan[R], value: Any = None, error: BaseException | None = None
) -> tuple[bool, R | None]:
    """Run ``plan`` until it finishes or reaches :data:`BODY`, awaiting each step (see :func:`drive`)."""
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return True, stop.value
        if isinstance(step, Body):
            return False, None
        try:
            if isinstance(step, Call):
                value, error = step.function(*step.arguments), None
                if inspect.isawaitable(value):
                    value = await value
            elif isinstance(step, DriverQuery):
                value, error = await _query_async(step), None
            elif isinstance(step, DriverExecuteMany):
                value, error = await _execute_many_async(step), None
            else:
                await _copy_async(step)
                value, error = None, None
        except Exception as exc:
            value, error = None, translate_error(exc)
        except BaseException as exc:  # cancellation, KeyboardInterrupt: the plan still cleans up
            value, error = None, exc


def run_plan(plan: Plan[R], *, bridged: bool = False) -> R:
    """Run a plan that has no body (a repository operation) to its result (``bridged``: see :func:`drive`)."""
    finished, result = drive(plan, bridged=bridged)
    if not finished:  # pragma: no cover - repository plans never yield BODY
        raise AssertionError("a repository plan yielded BODY")
    return cast(R, result)


async def run_plan_async(plan: Plan[R]) -> R:
    """Run a plan that has no body to its result, awaiting each step."""
    finished, result = await drive_async(plan)
    if not finished:  # pragma: no cover - repository plans never yield BODY
        raise AssertionError("a repository plan yielded BODY")
    return cast(R, result)


async def run_plan_bridged(run: Callable[..., R], plan: Plan[Any]) -> R:
    """Await ``run(plan, bridged=True)`` run inside SQLAlchemy's greenlet bridge.

    ``run`` is :func:`run_plan` or a runner built on it, and ``plan`` is built on an async
    engine's ``sync_engine``: its SQLAlchemy calls are the sync ones, which cross to the
    event loop only where the driver does I/O. An exception of an awaited step (a
    cancellation included) is thrown into the plan, which cleans up as it would in the
    sync driver.
    """
    return await greenlet_spawn(run, plan, bridged=True)
