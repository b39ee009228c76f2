# The async functions in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The retrying run: :func:`run_in_transaction_async`; see :mod:`hexalchemy.retry`."""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hexalchemy.ports import AsyncTransactionManager, IsolationLevel
from hexalchemy.retry._policy import (
    DEFAULT_POLICY,
    Attempts,
    RetryPolicy,
    begin_block_async,
    work_result_async,
)
from hexalchemy.rules import check_begin, check_callable

R = TypeVar("R")


async def run_in_transaction_async(
    transactions: AsyncTransactionManager,
    work: Callable[[], Awaitable[R]],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    read_only: bool = False,
    isolation_level: IsolationLevel | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    random: Callable[[], float] = _random.random,
) -> R:
    """Run ``work()`` in a new transaction of ``transactions``; re-run it all on transient failure.

    Each attempt is ``async with transactions.begin(read_only=..., isolation_level=...): await work()``:
    the transaction commits when ``work`` returns, and its result is returned. When the
    attempt (``work`` or the commit) raises one of ``policy.retry_on``, the transaction has
    been rolled back; after ``await sleep(delay)`` (see :class:`RetryPolicy`, ``random``
    draws the jitter) a new transaction runs ``work`` again. Any other error propagates at
    once; after ``policy.attempts`` failed attempts the last error propagates.

    Raises:
        TransactionUsageError: the calling thread or task is already inside a transaction
            of ``transactions`` (retrying a savepoint cannot fix a serialization failure).
    """
    attempts = Attempts(transactions, work, policy, random)
    check_begin(read_only, isolation_level)
    check_callable("sleep", sleep)
    while True:
        try:
            async with begin_block_async(
                transactions.begin(read_only=read_only, isolation_level=isolation_level)
            ):
                result = await work_result_async(work())
            return result
        except BaseException as error:
            delay = attempts.next_delay(error)
            if delay is None:
                raise
        await sleep(delay)
