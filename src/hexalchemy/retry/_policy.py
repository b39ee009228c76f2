"""What the retrying runs share, written once: :class:`RetryPolicy`, :class:`Attempts`, the checks of what they are given.

:func:`~hexalchemy.retry.run_in_transaction` is generated from
:func:`~hexalchemy.retry.run_in_transaction_async` (``_async/run.py``, ``make generate``).
The two differ in what they accept from the caller, which is checked here by a pair of
functions each: :func:`begin_block` / :func:`begin_block_async` (the manager's ``begin()``
gives a context manager, or an async one) and :func:`work_result` / :func:`work_result_async`
(``work()`` returns a result, or an awaitable).
"""

from __future__ import annotations

import inspect
import logging
import random as _random
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Final, TypeVar

import attrs

from hexalchemy._guards import is_async_context_manager, is_class_of, is_context_manager, is_instance
from hexalchemy.ports import (
    AsyncTransactionManager,
    ConfigError,
    InvalidArgumentError,
    RetryableError,
    TransactionManager,
    TransactionUsageError,
)
from hexalchemy.rules import (
    check_callable,
    check_has_methods,
    check_instance,
    check_positive_int,
    check_seconds,
    random_fraction,
)

R = TypeVar("R")

logger: Final = logging.getLogger("hexalchemy.retry")


def _check_attempts(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not is_instance(value, int):
        raise ConfigError(attribute.name, value, "must be an integer")
    if value < 1:
        raise ConfigError(attribute.name, value, "must be at least 1")


def _check_delay(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not is_instance(value, int | float):
        raise ConfigError(attribute.name, value, "must be a number of seconds")
    check_seconds(attribute.name, value, error=ConfigError)


def _check_retry_on(
    _instance: object,
    attribute: attrs.Attribute[tuple[type[BaseException], ...]],
    value: tuple[type[BaseException], ...],
) -> None:
    if not is_instance(value, tuple):
        raise ConfigError(attribute.name, value, "must be a tuple of exception classes")
    for item in value:
        if not is_class_of(item, BaseException):
            raise ConfigError(attribute.name, value, f"{item!r} is not an exception class")


@attrs.frozen
class RetryPolicy:
    """How often and how patiently :func:`run_in_transaction` re-runs a unit of work.

    * ``attempts`` -- how many times the work runs at most, the first run included
      (at least 1; 1 means no retry).
    * ``base_delay`` -- seconds; the backoff cap before retry ``n`` (1-based) is
      ``min(max_delay, base_delay * 2 ** (n - 1))``.
    * ``max_delay`` -- seconds; the largest cap (at least ``base_delay``).
    * ``retry_on`` -- the errors worth a retry (default: hexalchemy's
      :class:`~hexalchemy.ports.RetryableError`, i.e. serialization conflicts, deadlocks
      and a busy database). Add :class:`~hexalchemy.ports.VersionConflictError` to retry
      optimistic-locking conflicts when ``work`` reloads what it changes.

    The wait before each retry is drawn uniformly from ``[0, cap)`` ("full jitter"), so
    competing transactions spread out instead of colliding again. Every value is checked
    when the policy is built: a bad one raises :class:`~hexalchemy.ports.ConfigError`
    naming the field.
    """

    attempts: int = attrs.field(default=5, validator=_check_attempts)
    """How many times the work runs at most, the first run included."""
    base_delay: float = attrs.field(default=0.01, validator=_check_delay)
    """Seconds: the backoff cap before the first retry; it doubles for each further retry."""
    max_delay: float = attrs.field(default=1.0, validator=_check_delay)
    """Seconds: the backoff cap never grows beyond this."""
    retry_on: tuple[type[BaseException], ...] = attrs.field(
        default=(RetryableError,), validator=_check_retry_on
    )
    """The error classes that trigger a retry; any other error propagates at once."""

    def __attrs_post_init__(self) -> None:
        if self.base_delay > self.max_delay:
            raise ConfigError(
                "base_delay", self.base_delay, f"must not be greater than max_delay ({self.max_delay!r})"
            )

    def should_retry(self, error: BaseException) -> bool:
        """Whether ``error`` is one of the errors this policy retries."""
        return isinstance(error, self.retry_on)

    def backoff_cap(self, retry: int) -> float:
        """The largest wait before retry number ``retry`` (1 for the first retry), in seconds."""
        check_positive_int("retry", retry, maximum=sys.maxsize)
        if self.base_delay == 0:
            return 0.0
        try:
            grown = self.base_delay * 2.0 ** (retry - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, grown)

    def delay(self, retry: int, random: Callable[[], float] = _random.random) -> float:
        """The wait before retry number ``retry``: ``random()`` (in ``[0, 1)``) times the cap."""
        cap = self.backoff_cap(retry)
        return random_fraction(random) * cap


DEFAULT_POLICY: Final = RetryPolicy()
"""The policy of a call that gives none: five attempts, 10 ms to 1 s of backoff, :class:`~hexalchemy.ports.RetryableError` retried."""


class Attempts:
    """The non-I/O part of one retrying run: the nesting check and the retry decisions."""

    __slots__ = ("_policy", "_random", "_label", "attempt")

    def __init__(
        self,
        transactions: TransactionManager | AsyncTransactionManager,
        work: Callable[[], object],
        policy: RetryPolicy,
        random: Callable[[], float],
    ) -> None:
        check_has_methods("transactions", transactions, ("begin",))
        if not isinstance(getattr(transactions, "in_transaction", None), bool):
            raise InvalidArgumentError("transactions", transactions, "must be a transaction manager")
        check_callable("work", work)
        check_instance("policy", policy, RetryPolicy)
        check_callable("random", random)
        if transactions.in_transaction:
            raise TransactionUsageError(
                "run_in_transaction() was called inside an active transaction of the same manager: "
                "retrying would only re-run a savepoint, and a savepoint cannot recover from a "
                "serialization failure or a deadlock (the whole transaction is aborted); call it "
                "at the outermost level, where it owns the transaction"
            )
        self._policy = policy
        self._random = random
        self._label = getattr(work, "__qualname__", None) or repr(work)
        self.attempt = 1

    def next_delay(self, error: BaseException) -> float | None:
        """After a failed attempt: the seconds to wait before the next one, or None to give up."""
        policy = self._policy
        if not policy.should_retry(error):
            return None
        if self.attempt >= policy.attempts:
            logger.warning(
                "%s failed on attempt %d of %d with %s: %s; giving up",
                self._label,
                self.attempt,
                policy.attempts,
                type(error).__name__,
                error,
            )
            return None
        delay = policy.delay(self.attempt, self._random)
        logger.info(
            "%s failed on attempt %d of %d with %s: %s; retrying in %.3f s",
            self._label,
            self.attempt,
            policy.attempts,
            type(error).__name__,
            error,
            delay,
        )
        self.attempt += 1
        return delay


def begin_block(block: object) -> AbstractContextManager[object]:
    """What a sync manager's ``begin()`` returns; an async manager's is refused (``InvalidArgumentError``)."""
    if not is_context_manager(block):
        raise InvalidArgumentError(
            "transactions",
            block,
            "begin() must return a context manager: use run_in_transaction_async() for an async manager",
        )
    return block


def begin_block_async(block: object) -> AbstractAsyncContextManager[object]:
    """What an async manager's ``begin()`` returns; a sync manager's is refused (``InvalidArgumentError``)."""
    if not is_async_context_manager(block):
        raise InvalidArgumentError(
            "transactions",
            block,
            "begin() must return an async context manager: use run_in_transaction() for a sync manager",
        )
    return block


def work_result(result: R) -> R:
    """What a sync ``work()`` returned; an awaitable is refused (``InvalidArgumentError``), a coroutine closed."""
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # a coroutine that is never awaited would warn
        raise InvalidArgumentError(
            "work",
            result,
            "work() returned an awaitable: run_in_transaction() runs synchronous work; "
            "use run_in_transaction_async() with an AsyncTransactionManager",
        )
    return result


def work_result_async(result: Awaitable[R]) -> Awaitable[R]:
    """What an async ``work()`` returned, to await; anything else is refused (``InvalidArgumentError``)."""
    if not inspect.isawaitable(result):
        raise InvalidArgumentError(
            "work",
            result,
            "work() must return an awaitable: run_in_transaction_async() awaits it (use async def)",
        )
    return result
