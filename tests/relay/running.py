"""How a relay test runs something beside itself: a thread (sync) or a task (async).

The relay tests are written once, async, in ``tests/relay/_async/``; ``make generate`` writes
their sync twins, which swap each ``*_async`` helper here for its sync namesake (per-file
replacements of ``[tool.unasyncd]``). The pairs differ in more than ``await``: a thread is
joined with a timeout, a task awaited under one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Final, TypeVar

from hexalchemy.outbox import AsyncOutboxRelay, OutboxRelay

T = TypeVar("T")

TIMEOUT: Final = 10.0
"""Seconds a test waits for a condition, an event or a thread/task before it fails instead of hanging."""


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Return once ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        time.sleep(0.005)


async def wait_until_async(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Return once ``condition()`` holds; fail after ``timeout`` seconds (the twin of :func:`wait_until`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.005)


def wait_for_event(event: threading.Event) -> None:
    """Return once ``event`` is set; fail after :data:`TIMEOUT` seconds."""
    assert event.wait(TIMEOUT), "timed out waiting for the event"


async def wait_for_event_async(event: asyncio.Event) -> None:
    """Return once ``event`` is set; fail after :data:`TIMEOUT` seconds."""
    await asyncio.wait_for(event.wait(), TIMEOUT)


def repeat_until(step: Callable[[], T], done: Callable[[T], bool], timeout: float = TIMEOUT) -> T:
    """Call ``step`` until ``done`` holds of what it returned, and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(result := step()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out repeating the step (last result: {result!r})")
        time.sleep(0.005)
    return result


async def repeat_until_async(
    step: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = TIMEOUT
) -> T:
    """Await ``step()`` until ``done`` holds of its result, and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(result := await step()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out repeating the step (last result: {result!r})")
        await asyncio.sleep(0.005)
    return result


def off_the_loop(call: Callable[[], T]) -> T:
    """``call()``: blocking work (DDL on a sync engine) the sync tests simply run."""
    return call()


async def off_the_loop_async(call: Callable[[], T]) -> T:
    """``call()`` in a thread, so that the relay task goes on meanwhile."""
    return await asyncio.to_thread(call)


def pause(seconds: float) -> None:
    """Let the relay running beside the test go on for ``seconds``."""
    time.sleep(seconds)


async def pause_async(seconds: float) -> None:
    """Let the relay running beside the test go on for ``seconds``."""
    await asyncio.sleep(seconds)


@contextmanager
def in_background(target: Callable[[], object], name: str) -> Iterator[None]:
    """Run ``target`` in a thread named ``name`` for the duration of the block; it must end by then."""
    thread = threading.Thread(target=target, name=name)
    thread.start()
    try:
        yield
    finally:
        thread.join(TIMEOUT)
    assert not thread.is_alive(), f"{name} did not end"


@asynccontextmanager
async def in_background_async(target: Callable[[], Awaitable[object]], name: str) -> AsyncIterator[None]:
    """Run ``target`` in a task named ``name`` for the duration of the block; it must end by then."""

    async def run() -> object:
        return await target()

    task = asyncio.create_task(run(), name=name)
    try:
        yield
    finally:
        await asyncio.wait_for(task, TIMEOUT)


@contextmanager
def running(relay: OutboxRelay, stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """Run ``relay``'s loop beside the block; stop it after, and check it stopped."""
    stop = stop if stop is not None else threading.Event()
    with in_background(lambda: relay.run(stop), f"relay-{relay.name}"):
        try:
            yield stop
        finally:
            stop.set()


@asynccontextmanager
async def running_async(
    relay: AsyncOutboxRelay, stop: asyncio.Event | None = None
) -> AsyncIterator[asyncio.Event]:
    """Run ``relay``'s loop beside the block; stop it after, and check it stopped."""
    stop = stop if stop is not None else asyncio.Event()
    async with in_background_async(lambda: relay.run(stop), f"relay-{relay.name}"):
        try:
            yield stop
        finally:
            stop.set()
