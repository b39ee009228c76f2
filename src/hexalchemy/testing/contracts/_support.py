"""Helpers shared by the contracts (private)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

import pytest

from hexalchemy.testing.contracts._async.harness import seed_async
from hexalchemy.testing.contracts._sync.harness import seed

__all__ = [
    "TIMEOUT",
    "AsyncContract",
    "AsyncGate",
    "AsyncStartLine",
    "BoomError",
    "Contract",
    "Gate",
    "StartLine",
    "gather_outcomes",
    "run_concurrently",
    "run_concurrently_here",
    "run_in_threads",
    "run_in_threads_here",
    "seed",
    "seed_async",
]

R = TypeVar("R")

TIMEOUT: Final = 30.0
"""Seconds a contract waits for another thread or task before it fails instead of hanging."""


class BoomError(Exception):
    """The exception contract tests raise to make a block fail."""


class AsyncContract:
    """Base of the async contracts: marks their tests ``pytest.mark.asyncio``, for pytest-asyncio's strict mode.

    The one async-only piece of the async source the sync code cannot share: unasyncd turns it
    into :class:`Contract` in the generated sync contracts.
    """

    pytestmark = pytest.mark.asyncio


class Contract:
    """Base of the generated sync contracts, in place of :class:`AsyncContract`: their tests need no mark."""


def run_in_threads(targets: Sequence[Callable[[], R]]) -> list[R | BaseException]:
    """Run each target in its own thread; return each one's result or exception, in order.

    A thread still running after :data:`TIMEOUT` fails the test with ``TimeoutError``. The
    sync twin of :func:`run_concurrently` in the generated contracts.
    """
    outcomes: list[R | BaseException] = [TimeoutError("the thread did not finish") for _ in targets]

    def run(index: int, target: Callable[[], R]) -> None:
        try:
            outcomes[index] = target()
        except BaseException as exc:
            outcomes[index] = exc

    threads = [
        threading.Thread(target=run, args=(index, target), daemon=True)
        for index, target in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        if thread.is_alive():
            raise TimeoutError(f"a contract thread did not finish within {TIMEOUT} seconds")
    return outcomes


async def gather_outcomes(awaitables: Sequence[Awaitable[R]]) -> list[R | BaseException]:
    """Run ``awaitables`` concurrently as tasks; return each one's result or exception, in order."""

    async def run(awaitable: Awaitable[R]) -> R:
        return await awaitable

    tasks = [asyncio.ensure_future(run(awaitable)) for awaitable in awaitables]
    async with asyncio.timeout(TIMEOUT):
        return list(await asyncio.gather(*tasks, return_exceptions=True))


async def run_concurrently(targets: Sequence[Callable[[], Awaitable[R]]]) -> list[R | BaseException]:
    """Run each target in its own task; return each one's result or exception, in order.

    Tasks still running after :data:`TIMEOUT` fail the test with ``TimeoutError``. unasyncd
    turns it into :func:`run_in_threads` in the generated sync contracts.
    """
    return await gather_outcomes([target() for target in targets])


def run_in_threads_here(targets: Sequence[Callable[[], R]]) -> list[R | BaseException]:
    """Run each target in its own thread, in a copy of the caller's context (as a task starts); each one's result or exception.

    A thread starts with an empty context: this one is given what a task started here would
    have, the caller's context variables (an open transaction's among them). The sync twin of
    :func:`run_concurrently_here`.
    """

    def in_a_copy(target: Callable[[], R]) -> Callable[[], R]:
        context = contextvars.copy_context()
        return lambda: context.run(target)

    return run_in_threads([in_a_copy(target) for target in targets])


async def run_concurrently_here(targets: Sequence[Callable[[], Awaitable[R]]]) -> list[R | BaseException]:
    """Run each target in its own task started here (a task copies the caller's context); each one's result or exception.

    The same as :func:`run_concurrently`, named for what the concurrency contract checks: its
    sync twin, :func:`run_in_threads_here`, gives each thread a copy of the caller's context.
    """
    return await run_concurrently(targets)


class StartLine:
    """Holds ``parties`` threads until all have reached it, so that they race from there (``TimeoutError`` after :data:`TIMEOUT`)."""

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=TIMEOUT)

    def wait(self) -> None:
        """Return once every party has called ``wait``."""
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            raise TimeoutError(f"not every party reached the start line within {TIMEOUT} seconds") from None


class AsyncStartLine:
    """Holds ``parties`` tasks until all have reached it, so that they race from there (``TimeoutError`` after :data:`TIMEOUT`)."""

    def __init__(self, parties: int) -> None:
        self._barrier = asyncio.Barrier(parties)

    async def wait(self) -> None:
        """Return once every party has called ``wait``."""
        async with asyncio.timeout(TIMEOUT):
            await self._barrier.wait()


class Gate:
    """A one-way signal between threads: ``wait`` returns once ``open`` was called (``TimeoutError`` after :data:`TIMEOUT`)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def open(self) -> None:
        """Let every waiter through, now and later."""
        self._event.set()

    def wait(self) -> None:
        """Return once the gate is open."""
        if not self._event.wait(TIMEOUT):
            raise TimeoutError(f"the gate was not opened within {TIMEOUT} seconds")


class AsyncGate:
    """A one-way signal between tasks: ``wait`` returns once ``open`` was called (``TimeoutError`` after :data:`TIMEOUT`)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def open(self) -> None:
        """Let every waiter through, now and later."""
        self._event.set()

    async def wait(self) -> None:
        """Return once the gate is open."""
        async with asyncio.timeout(TIMEOUT):
            await self._event.wait()
