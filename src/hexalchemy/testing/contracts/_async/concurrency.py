# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The concurrency contract for :class:`AsyncTransactionManager` implementations; see :mod:`hexalchemy.testing.contracts.concurrency`."""

from __future__ import annotations

import asyncio
from typing import Final

import attrs
import pytest

from hexalchemy.ports import RetryableError, TransactionUsageError, VersionConflictError
from hexalchemy.testing.contracts._support import (
    AsyncContract,
    AsyncGate,
    AsyncStartLine,
    BoomError,
    run_concurrently,
    run_concurrently_here,
    seed_async,
)
from hexalchemy.testing.contracts.domain import ACCOUNTS, Account, new_account
from hexalchemy.testing.contracts.harness import AsyncHarness

WORKERS: Final = 4
"""How many threads or tasks increment the counter at once."""

INCREMENTS: Final = 5
"""How many increments each worker commits."""

_HOLD: Final = 0.01
"""Seconds a racing writer keeps its transaction open after writing, so the writers overlap."""

_MAX_ATTEMPTS: Final = 1_000


class AsyncConcurrencyContract(AsyncContract):
    """Concurrent transactions, each in a task of its own; needs a ``harness`` fixture (:class:`AsyncHarness`).

    The sync contract runs the same checks with threads where this one has tasks; a worker
    started inside a transaction is a task started there, or a thread running in a copy of
    its context.
    """

    async def test_of_two_writers_of_the_same_version_exactly_one_wins_and_the_other_gets_a_version_conflict(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [original] = await seed_async(harness, new_account("original"))
        async with harness.transactions.begin(read_only=True):
            loaded = await accounts.get(original.id)
        start = AsyncStartLine(2)

        async def write(owner: str) -> Account:
            await start.wait()
            async with harness.transactions.begin():
                saved = await accounts.save(attrs.evolve(loaded, owner=owner))
                await asyncio.sleep(_HOLD)
            return saved

        outcomes = await run_concurrently([lambda: write("first"), lambda: write("second")])
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
        start = AsyncStartLine(WORKERS)

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

        outcomes = await run_concurrently([work] * WORKERS)
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
        written, checked = AsyncGate(), AsyncGate()

        async def writer() -> None:
            async with harness.transactions.begin():
                await accounts.save(account)
                written.open()
                await checked.wait()

        async def reader() -> bool:
            try:
                await written.wait()
                async with harness.transactions.begin(read_only=True):
                    return await accounts.contains(account.id)
            finally:
                checked.open()

        assert await run_concurrently([writer, reader]) == [None, False]
        async with harness.transactions.begin(read_only=True):
            assert await accounts.contains(account.id)

    async def test_a_worker_started_inside_a_transaction_cannot_use_it_without_begin(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin(read_only=True):
            [outcome] = await run_concurrently_here([lambda: accounts.get(saved.id)])
        assert isinstance(outcome, TransactionUsageError), outcome

    async def test_a_worker_started_inside_a_transaction_is_not_in_a_transaction(
        self, harness: AsyncHarness
    ) -> None:
        async def in_transaction() -> bool:
            return harness.transactions.in_transaction

        async with harness.transactions.begin(read_only=True):
            assert await run_concurrently_here([in_transaction]) == [False]
            assert harness.transactions.in_transaction

    async def test_a_worker_started_inside_a_transaction_opens_its_own_transaction_with_begin(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        account = new_account()

        async def child() -> Account:
            async with harness.transactions.begin():
                return await accounts.save(account)

        outcomes: list[Account | BaseException] = []
        # The parent is read-only so that it holds no write lock the child would wait for.
        with pytest.raises(BoomError):
            async with harness.transactions.begin(read_only=True):
                outcomes = await run_concurrently_here([child])
                assert harness.transactions.in_transaction
                raise BoomError
        [outcome] = outcomes
        assert isinstance(outcome, Account), outcome
        async with harness.transactions.begin(read_only=True):
            assert await accounts.get(account.id) == outcome
