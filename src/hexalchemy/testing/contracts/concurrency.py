"""The concurrency contract: concurrent transactions, optimistic locking and ambient state.

Writers run in threads (sync) or tasks (async), each in its own transaction, so on a real
database they hold separate connections at the same time. Subclass
:class:`ConcurrencyContract` (or :class:`AsyncConcurrencyContract`) and provide a ``harness``
fixture; see :mod:`hexalchemy.testing.contracts`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Final

import attrs
import pytest

from hexalchemy.ports import RetryableError, TransactionUsageError, VersionConflictError
from hexalchemy.testing.contracts._support import (
    TIMEOUT,
    BoomError,
    gather_outcomes,
    run_in_threads,
    seed,
    seed_async,
)
from hexalchemy.testing.contracts.domain import ACCOUNTS, Account, new_account
from hexalchemy.testing.contracts.harness import AsyncHarness, Harness

__all__ = ["INCREMENTS", "WORKERS", "AsyncConcurrencyContract", "ConcurrencyContract"]

WORKERS: Final = 4
"""How many threads or tasks increment the counter at once."""

INCREMENTS: Final = 5
"""How many increments each worker commits."""

_HOLD: Final = 0.01
"""Seconds a racing writer keeps its transaction open after writing, so the writers overlap."""

_MAX_ATTEMPTS: Final = 1_000


class ConcurrencyContract:
    """Concurrent synchronous transactions in threads; needs a ``harness`` fixture (:class:`Harness`)."""

    def test_of_two_writers_of_the_same_version_exactly_one_wins_and_the_other_gets_a_version_conflict(
        self, harness: Harness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [original] = seed(harness, new_account("original"))
        with harness.transactions.begin(read_only=True):
            loaded = accounts.get(original.id)
        barrier = threading.Barrier(2, timeout=TIMEOUT)

        def write(owner: str) -> Account:
            barrier.wait()
            with harness.transactions.begin():
                saved = accounts.save(attrs.evolve(loaded, owner=owner))
                time.sleep(_HOLD)
            return saved

        outcomes = run_in_threads([lambda: write("first"), lambda: write("second")])
        winners = [outcome for outcome in outcomes if isinstance(outcome, Account)]
        conflicts = [outcome for outcome in outcomes if isinstance(outcome, VersionConflictError)]
        assert (len(winners), len(conflicts)) == (1, 1), outcomes
        with harness.transactions.begin(read_only=True):
            assert accounts.get(original.id) == winners[0]

    def test_concurrent_increments_that_retry_on_version_conflicts_lose_no_update(
        self, harness: Harness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [counter] = seed(harness, new_account("counter"))
        barrier = threading.Barrier(WORKERS, timeout=TIMEOUT)

        def increment() -> None:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    with harness.transactions.begin():
                        current = accounts.get(counter.id)
                        time.sleep(0)  # let the other workers in between the read and the write
                        accounts.save(attrs.evolve(current, points=current.points + 1))
                    return
                except (VersionConflictError, RetryableError):
                    continue
            raise AssertionError(f"no increment succeeded in {_MAX_ATTEMPTS} attempts")

        def work() -> None:
            barrier.wait()
            for _ in range(INCREMENTS):
                increment()

        outcomes = run_in_threads([work] * WORKERS)
        assert [outcome for outcome in outcomes if outcome is not None] == []
        with harness.transactions.begin(read_only=True):
            final = accounts.get(counter.id)
        assert final.points == WORKERS * INCREMENTS
        assert final.version == 1 + WORKERS * INCREMENTS

    def test_the_uncommitted_writes_of_a_transaction_are_invisible_to_other_transactions(
        self, harness: Harness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        account = new_account()
        written, checked = threading.Event(), threading.Event()

        def writer() -> None:
            with harness.transactions.begin():
                accounts.save(account)
                written.set()
                if not checked.wait(TIMEOUT):
                    raise TimeoutError("the reader did not check")

        def reader() -> bool:
            try:
                if not written.wait(TIMEOUT):
                    raise TimeoutError("the writer did not write")
                with harness.transactions.begin(read_only=True):
                    return accounts.contains(account.id)
            finally:
                checked.set()

        assert run_in_threads([writer, reader]) == [None, False]
        with harness.transactions.begin(read_only=True):
            assert accounts.contains(account.id)

    def test_a_thread_running_in_a_copy_of_a_transactions_context_cannot_use_that_transaction(
        self, harness: Harness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = seed(harness, new_account())
        with harness.transactions.begin(read_only=True):
            context = contextvars.copy_context()
            [outcome] = run_in_threads([lambda: context.run(accounts.get, saved.id)])
        assert isinstance(outcome, TransactionUsageError), outcome

    def test_a_thread_running_in_a_copy_of_a_transactions_context_is_not_in_a_transaction(
        self, harness: Harness
    ) -> None:
        with harness.transactions.begin(read_only=True):
            context = contextvars.copy_context()
            [outcome] = run_in_threads([lambda: context.run(lambda: harness.transactions.in_transaction)])
        assert outcome is False

    def test_a_thread_running_in_a_copy_of_a_transactions_context_opens_its_own_transaction_with_begin(
        self, harness: Harness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        account = new_account()

        def child() -> Account:
            with harness.transactions.begin():
                return accounts.save(account)

        # The parent is read-only so that it holds no write lock the child would wait for.
        outcomes: list[Account | BaseException] = []
        with pytest.raises(BoomError), harness.transactions.begin(read_only=True):
            context = contextvars.copy_context()
            outcomes = run_in_threads([lambda: context.run(child)])
            assert harness.transactions.in_transaction
            raise BoomError
        [outcome] = outcomes
        assert isinstance(outcome, Account), outcome
        with harness.transactions.begin(read_only=True):
            assert accounts.get(account.id) == outcome


class AsyncConcurrencyContract:
    """Concurrent asynchronous transactions in tasks; needs a ``harness`` fixture (:class:`AsyncHarness`)."""

    pytestmark = pytest.mark.asyncio

    async def test_of_two_writers_of_the_same_version_exactly_one_wins_and_the_other_gets_a_version_conflict(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [original] = await seed_async(harness, new_account("original"))
        async with harness.transactions.begin(read_only=True):
            loaded = await accounts.get(original.id)
        start = asyncio.Event()

        async def write(owner: str) -> Account:
            await start.wait()
            async with harness.transactions.begin():
                saved = await accounts.save(attrs.evolve(loaded, owner=owner))
                await asyncio.sleep(_HOLD)
            return saved

        writers = [asyncio.create_task(write("first")), asyncio.create_task(write("second"))]
        await asyncio.sleep(0)
        start.set()
        outcomes = await gather_outcomes(writers)
        winners = [outcome for outcome in outcomes if isinstance(outcome, Account)]
        conflicts = [outcome for outcome in outcomes if isinstance(outcome, VersionConflictError)]
        assert (len(winners), len(conflicts)) == (1, 1), outcomes
        async with harness.transactions.begin(read_only=True):
            assert await accounts.get(original.id) == winners[0]

    async def test_concurrent_increments_that_retry_on_version_conflicts_lose_no_update(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [counter] = await seed_async(harness, new_account("counter"))
        start = asyncio.Event()

        async def increment() -> None:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    async with harness.transactions.begin():
                        current = await accounts.get(counter.id)
                        await asyncio.sleep(0)  # let the other workers in between the read and the write
                        await accounts.save(attrs.evolve(current, points=current.points + 1))
                    return
                except (VersionConflictError, RetryableError):
                    continue
            raise AssertionError(f"no increment succeeded in {_MAX_ATTEMPTS} attempts")

        async def work() -> None:
            await start.wait()
            for _ in range(INCREMENTS):
                await increment()

        workers = [asyncio.create_task(work()) for _ in range(WORKERS)]
        await asyncio.sleep(0)
        start.set()
        outcomes = await gather_outcomes(workers)
        assert [outcome for outcome in outcomes if outcome is not None] == []
        async with harness.transactions.begin(read_only=True):
            final = await accounts.get(counter.id)
        assert final.points == WORKERS * INCREMENTS
        assert final.version == 1 + WORKERS * INCREMENTS

    async def test_the_uncommitted_writes_of_a_transaction_are_invisible_to_other_transactions(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        account = new_account()
        written, checked = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with harness.transactions.begin():
                await accounts.save(account)
                written.set()
                await checked.wait()

        async def reader() -> bool:
            try:
                await written.wait()
                async with harness.transactions.begin(read_only=True):
                    return await accounts.contains(account.id)
            finally:
                checked.set()

        assert await gather_outcomes([writer(), reader()]) == [None, False]
        async with harness.transactions.begin(read_only=True):
            assert await accounts.contains(account.id)

    async def test_a_task_started_inside_a_transaction_cannot_use_it_without_begin(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin(read_only=True):
            task = asyncio.create_task(accounts.get(saved.id))
            [outcome] = await gather_outcomes([task])
        assert isinstance(outcome, TransactionUsageError), outcome

    async def test_a_task_started_inside_a_transaction_is_not_in_a_transaction(
        self, harness: AsyncHarness
    ) -> None:
        async def in_transaction() -> bool:
            return harness.transactions.in_transaction

        async with harness.transactions.begin(read_only=True):
            assert await asyncio.create_task(in_transaction()) is False
            assert harness.transactions.in_transaction

    async def test_a_task_started_inside_a_transaction_opens_its_own_transaction_with_begin(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        account = new_account()

        async def child() -> Account:
            async with harness.transactions.begin():
                return await accounts.save(account)

        # The parent is read-only so that it holds no write lock the child would wait for.
        outcomes: list[Account | BaseException] = []
        with pytest.raises(BoomError):
            async with harness.transactions.begin(read_only=True):
                outcomes = await gather_outcomes([asyncio.create_task(child())])
                assert harness.transactions.in_transaction
                raise BoomError
        [outcome] = outcomes
        assert isinstance(outcome, Account), outcome
        async with harness.transactions.begin(read_only=True):
            assert await accounts.get(account.id) == outcome
