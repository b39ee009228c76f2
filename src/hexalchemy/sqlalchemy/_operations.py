"""The I/O steps that the sans-I/O cores yield, and the two drivers that perform them.

Every piece of logic (statements, conversion, nesting, error handling) lives once, in
generators that yield :class:`Call` and :class:`CopyRows` steps. The sync driver performs a
step directly; the async driver awaits it. SQLAlchemy's sync and async connections share
method names (``execute``, ``begin``, ``begin_nested``, ``commit``, ``close``), so one
generator serves both; only COPY reaches the driver connection, in two small functions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final, TypeVar, cast

import attrs

from hexalchemy.sqlalchemy._errors import translate_error

__all__ = [
    "BODY",
    "Body",
    "Call",
    "CopyRows",
    "Plan",
    "Step",
    "drive",
    "drive_async",
    "run_plan",
    "run_plan_async",
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
class Body:
    """Marks where a transaction plan hands control to the caller's ``with`` block."""


BODY: Final = Body()

Step = Call | CopyRows | Body
Plan = Generator[Step, Any, R]


def _copy_sync(step: CopyRows) -> None:
    driver_connection = step.connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(step.sql) as copy:
        for row in step.rows:
            copy.write_row(row)


async def _copy_async(step: CopyRows) -> None:
    raw = await step.connection.get_raw_connection()
    async with raw.driver_connection.cursor() as cursor, cursor.copy(step.sql) as copy:
        for row in step.rows:
            await copy.write_row(row)


def drive(plan: Plan[R], value: Any = None, error: BaseException | None = None) -> tuple[bool, R | None]:
    """Run ``plan`` synchronously until it finishes or reaches :data:`BODY`.

    Returns ``(True, result)`` when it finished and ``(False, None)`` at the body. Errors of
    a step are translated into hexalchemy errors and thrown into the plan.
    """
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return True, stop.value
        if isinstance(step, Body):
            return False, None
        try:
            if isinstance(step, CopyRows):
                _copy_sync(step)
                value, error = None, None
            else:
                value, error = step.function(*step.arguments), None
        except Exception as exc:
            value, error = None, translate_error(exc)


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
            if isinstance(step, CopyRows):
                await _copy_async(step)
                value, error = None, None
            else:
                value, error = step.function(*step.arguments), None
                if inspect.isawaitable(value):
                    value = await value
        except Exception as exc:
            value, error = None, translate_error(exc)


def run_plan(plan: Plan[R]) -> R:
    """Run a plan that has no body (a repository operation) to its result."""
    finished, result = drive(plan)
    if not finished:  # pragma: no cover - repository plans never yield BODY
        raise AssertionError("a repository plan yielded BODY")
    return cast(R, result)


async def run_plan_async(plan: Plan[R]) -> R:
    """Run a plan that has no body to its result, awaiting each step."""
    finished, result = await drive_async(plan)
    if not finished:  # pragma: no cover - repository plans never yield BODY
        raise AssertionError("a repository plan yielded BODY")
    return cast(R, result)
