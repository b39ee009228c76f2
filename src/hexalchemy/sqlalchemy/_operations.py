"""The I/O steps that the sans-I/O cores yield, and the two drivers that perform them.

Every piece of logic (statements, conversion, nesting, error handling) lives once, in
generators that yield :class:`Call` steps. The sync driver performs a step directly; the
async driver awaits it. SQLAlchemy's sync and async connections share method names
(``execute``, ``begin``, ``begin_nested``, ``commit``, ``close``), so one generator serves
both. A backend's fast path may also yield a :class:`DriverStep`, which knows how to
perform itself on the database driver (PostgreSQL's psycopg cursor and COPY).

A third way runs a plan against an async engine's *sync* face, inside SQLAlchemy's greenlet
bridge (:func:`run_plan_bridged`): the sync driver performs every step, and what a step
returns that must be awaited (a call into psycopg's async cursor, an async publisher) is
awaited through the bridge. A plan that opens its own connection runs there with one
crossing of the bridge in all, where the async driver crosses it at every SQLAlchemy call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import Any, Final, Protocol, TypeVar, cast

import attrs
from sqlalchemy.util import await_, greenlet_spawn

from hexalchemy.sqlalchemy._errors import translate_error

__all__ = [
    "BODY",
    "Body",
    "Call",
    "DriverStep",
    "Plan",
    "Step",
    "drive",
    "drive_async",
    "run_plan",
    "run_plan_async",
    "run_plan_bridged",
    "run_step",
    "run_step_async",
]

R = TypeVar("R")


class Call:
    """Call ``function(*arguments)``; the async driver awaits the result when it is awaitable.

    A plain slotted class, not an attrs one: plans make one for every SQLAlchemy call.
    """

    __slots__ = ("arguments", "function")

    def __init__(self, function: Callable[..., Any], arguments: tuple[Any, ...] = ()) -> None:
        self.function = function
        self.arguments = arguments

    def __repr__(self) -> str:
        return f"Call({self.function!r}, {self.arguments!r})"


class DriverStep:
    """A step a backend's fast path performs on the database driver itself, below SQLAlchemy.

    The drivers call :meth:`run` (sync), :meth:`run_async` (async) or :meth:`run_bridged`
    (sync code inside the greenlet bridge of an async engine, where the driver is async).
    """

    __slots__ = ()

    def run(self) -> Any:
        """Perform the step with a sync driver; return its result."""
        raise NotImplementedError

    async def run_async(self) -> Any:
        """Perform the step with an async driver; return its result."""
        raise NotImplementedError

    def run_bridged(self) -> Any:
        """Perform the step with an async driver from inside the greenlet bridge (see :func:`drive`)."""
        raise NotImplementedError


@attrs.frozen
class Body:
    """Marks where a transaction plan hands control to the caller's ``with`` block."""


BODY: Final = Body()

Step = Call | DriverStep | Body
Plan = Generator[Step, Any, R]


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
    driver steps run their bridged form (psycopg's async cursor).
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
            else:
                value, error = (step.run_bridged() if bridged else step.run()), None
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
            else:
                value, error = await step.run_async(), None
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


def run_step(step: DriverStep) -> Any:
    """Perform one driver step with a sync driver, as :func:`drive` does in a plan: its error translated.

    For a statement that is a whole plan by itself (a query): no generator to drive.
    """
    try:
        return step.run()
    except Exception as exc:
        translated = translate_error(exc)
        if translated is exc:
            raise
        raise translated from translated.__cause__  # the cause translate_error gave it


async def run_step_async(step: DriverStep) -> Any:
    """:func:`run_step` with an async driver."""
    try:
        return await step.run_async()
    except Exception as exc:
        translated = translate_error(exc)
        if translated is exc:
            raise
        raise translated from translated.__cause__  # the cause translate_error gave it


class PlanRunner(Protocol):
    """A function that runs a plan to its result: :func:`run_plan` or a runner built on it."""

    def __call__(self, plan: Plan[R], /, *, bridged: bool = False) -> R: ...


async def run_plan_bridged(run: PlanRunner, plan: Plan[R]) -> R:
    """Await ``run(plan, bridged=True)`` run inside SQLAlchemy's greenlet bridge.

    ``run`` is :func:`run_plan` or a runner built on it, and ``plan`` is built on an async
    engine's ``sync_engine``: its SQLAlchemy calls are the sync ones, which cross to the
    event loop only where the driver does I/O. An exception of an awaited step (a
    cancellation included) is thrown into the plan, which cleans up as it would in the
    sync driver.
    """
    # the runner returns the plan's result; pyright does not solve R through greenlet_spawn and a generic runner
    result: object = await greenlet_spawn(run, plan, bridged=True)
    return cast("R", result)
