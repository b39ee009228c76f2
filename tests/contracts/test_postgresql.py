"""The contract suite against the SQLAlchemy adapters on PostgreSQL, sync and async."""

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

pytestmark = pytest.mark.postgresql


class _PostgreSql:
    @pytest.fixture
    def harness(self, postgresql_harness: Harness) -> Harness:
        return postgresql_harness


class _AsyncPostgreSql:
    @pytest.fixture
    def harness(self, async_postgresql_harness: AsyncHarness) -> AsyncHarness:
        return async_postgresql_harness


class TestPostgreSqlRepository(_PostgreSql, RepositoryContract):
    pass


class TestAsyncPostgreSqlRepository(_AsyncPostgreSql, AsyncRepositoryContract):
    pass


class TestPostgreSqlTransaction(_PostgreSql, TransactionContract):
    pass


class TestAsyncPostgreSqlTransaction(_AsyncPostgreSql, AsyncTransactionContract):
    pass


class TestPostgreSqlConcurrency(_PostgreSql, ConcurrencyContract):
    pass


class TestAsyncPostgreSqlConcurrency(_AsyncPostgreSql, AsyncConcurrencyContract):
    pass


class TestPostgreSqlRoundTrip(_PostgreSql, RoundTripContract):
    pass


class TestAsyncPostgreSqlRoundTrip(_AsyncPostgreSql, AsyncRoundTripContract):
    pass
