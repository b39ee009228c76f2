"""The contract suite against the SQLAlchemy adapters on a SQLite file, sync and async."""

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


class _Sqlite:
    @pytest.fixture
    def harness(self, sqlite_harness: Harness) -> Harness:
        return sqlite_harness


class _AsyncSqlite:
    @pytest.fixture
    def harness(self, async_sqlite_harness: AsyncHarness) -> AsyncHarness:
        return async_sqlite_harness


class TestSqliteRepository(_Sqlite, RepositoryContract):
    pass


class TestAsyncSqliteRepository(_AsyncSqlite, AsyncRepositoryContract):
    pass


class TestSqliteTransaction(_Sqlite, TransactionContract):
    pass


class TestAsyncSqliteTransaction(_AsyncSqlite, AsyncTransactionContract):
    pass


class TestSqliteConcurrency(_Sqlite, ConcurrencyContract):
    pass


class TestAsyncSqliteConcurrency(_AsyncSqlite, AsyncConcurrencyContract):
    pass


class TestSqliteRoundTrip(_Sqlite, RoundTripContract):
    pass


class TestAsyncSqliteRoundTrip(_AsyncSqlite, AsyncRoundTripContract):
    pass
