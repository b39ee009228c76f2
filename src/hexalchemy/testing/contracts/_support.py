"""Helpers shared by the contracts (private)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

import pytest

from hexalchemy.testing.contracts._async.harness import seed_async
from hexalchemy.testing.contracts._sync.harness import seed

__all__ = [
    "TIMEOUT",
    "AsyncContract",
    "BoomError",
    "Contract",
    "gather_outcomes",
    "run_concurrently",
    "run_in_threads",
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
