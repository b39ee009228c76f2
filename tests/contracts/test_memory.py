"""The contract suite against the in-memory adapters, sync and async."""

from __future__ import annotations

import pytest

from hexalchemy.testing.contracts import (
    AsyncConcurrencyContract,
    AsyncHarness,
    AsyncRepositoryContract,
    AsyncRoundTripContract,
    AsyncTransactionContract,
    ConcurrencyContract,
    Harness,
    RepositoryContract,
    RoundTripContract,
    TransactionContract,
)


class _Memory:
    @pytest.fixture
    def harness(self, memory_harness: Harness) -> Harness:
        return memory_harness


class _AsyncMemory:
    @pytest.fixture
    def harness(self, async_memory_harness: AsyncHarness) -> AsyncHarness:
        return async_memory_harness


class TestMemoryRepository(_Memory, RepositoryContract):
    pass


class TestAsyncMemoryRepository(_AsyncMemory, AsyncRepositoryContract):
    pass


class TestMemoryTransaction(_Memory, TransactionContract):
    pass


class TestAsyncMemoryTransaction(_AsyncMemory, AsyncTransactionContract):
    pass


class TestMemoryConcurrency(_Memory, ConcurrencyContract):
    pass


class TestAsyncMemoryConcurrency(_AsyncMemory, AsyncConcurrencyContract):
    pass


class TestMemoryRoundTrip(_Memory, RoundTripContract):
    pass


class TestAsyncMemoryRoundTrip(_AsyncMemory, AsyncRoundTripContract):
    pass
