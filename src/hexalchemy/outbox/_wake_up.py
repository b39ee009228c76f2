"""How a relay sleeps when idle: the wake-up sources it takes, and the one step a thread and a task do differently.

:class:`~hexalchemy.outbox.OutboxRelay` is generated from
:class:`~hexalchemy.outbox.AsyncOutboxRelay` (``_async/relay.py``, ``make generate``); the
only thing they do differently is sleeping between claims, which is written here twice on
purpose:

* a thread blocks: :func:`idle_sleep` waits on the wake-up source in slices of
  :data:`STOP_CHECK_INTERVAL`, checking its stop event between them, or on the stop
  event alone;
* a task waits for the first of its stop event, a hint and the timeout, and cancels the
  others: :func:`idle_sleep_async`.

The wake-up protocols differ the same way: :class:`WakeUp` is shaped on
:class:`threading.Event` (``wait(timeout)`` blocks), :class:`AsyncWakeUp` on
:class:`asyncio.Event` (``wait()`` is cancelled when the sleep is over).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import Final, Literal, Protocol, TypeVar

from hexalchemy.outbox._core import Sleep, logger
from hexalchemy.ports import ConfigError
from hexalchemy.rules import check_has_methods

T = TypeVar("T")

STOP_CHECK_INTERVAL: Final = 0.1
"""Seconds: while a sync relay sleeps on a wake-up source, how often it checks its stop event."""


class WakeUp(Protocol):
    """A hint that new messages may be due, for :class:`~hexalchemy.outbox.OutboxRelay` (a :class:`threading.Event` is one).

    The relay calls ``wait(timeout)`` while idle and claims again as soon as it returns
    True; it calls ``clear()`` before that claim. A hint only shortens the idle sleep:
    polling alone delivers every message.
    """

    def wait(self, timeout: float | None = None, /) -> bool:
        """Block up to ``timeout`` seconds for a hint; return whether one came."""
        ...

    def clear(self) -> None:
        """Forget the hints received so far."""
        ...


class AsyncWakeUp(Protocol):
    """A hint that new messages may be due, for :class:`~hexalchemy.outbox.AsyncOutboxRelay` (an :class:`asyncio.Event` is one)."""

    async def wait(self) -> bool:
        """Wait for a hint (the relay cancels the wait when its idle sleep is over)."""
        ...

    def clear(self) -> None:
        """Forget the hints received so far."""
        ...


def checked_wake_up(wake_up: T) -> T:
    """``wake_up`` if it is None or has ``wait`` and ``clear``; else ``ConfigError``."""
    if wake_up is not None:
        check_has_methods("wake_up", wake_up, ("wait", "clear"), error=ConfigError)
    return wake_up


def idle_sleep(step: Sleep, stop: threading.Event, wake_up: WakeUp | None, name: str) -> bool:
    """Block up to ``step.seconds``, until ``stop`` is set or (when ``step.hint``) a hint comes; return whether one came.

    A failing wake-up source is logged and the rest of the sleep waits on ``stop`` alone.
    """
    deadline = time.monotonic() + step.seconds
    if wake_up is not None and step.hint:
        try:
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if wake_up.wait(min(remaining, STOP_CHECK_INTERVAL)):
                    wake_up.clear()
                    return True
            return False
        except Exception:
            logger.warning("relay %s: the wake-up source failed; polling only", name, exc_info=True)
    stop.wait(max(0.0, deadline - time.monotonic()))
    return False


async def idle_sleep_async(step: Sleep, stop: asyncio.Event, wake_up: AsyncWakeUp | None, name: str) -> bool:
    """Wait up to ``step.seconds`` for ``stop`` or (when ``step.hint``) a hint; return whether a hint came.

    The waits still running when one ends are cancelled. A failing wake-up source is logged
    and the rest of the sleep waits on ``stop`` alone.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + step.seconds
    stopped = asyncio.ensure_future(stop.wait())
    waiters: set[asyncio.Future[Literal[True]] | asyncio.Future[bool]] = {stopped}
    hint: asyncio.Future[bool] | None = None
    if wake_up is not None and step.hint:
        hint = asyncio.ensure_future(wake_up.wait())
        waiters.add(hint)
    try:
        done, _ = await asyncio.wait(waiters, timeout=step.seconds, return_when=asyncio.FIRST_COMPLETED)
        if wake_up is not None and hint is not None and hint in done:
            error = hint.exception()
            if error is None:
                wake_up.clear()
                return True
            logger.warning("relay %s: the wake-up source failed; polling only", name, exc_info=error)
            if not stopped.done():
                await asyncio.wait({stopped}, timeout=max(0.0, deadline - loop.time()))
        return False
    finally:
        for waiter in waiters:
            waiter.cancel()
        cancelled: list[Awaitable[object]] = list(waiters)
        await asyncio.gather(*cancelled, return_exceptions=True)
