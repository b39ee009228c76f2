"""The contract suite against every adapter: in memory, SQLite (a file) and PostgreSQL, sync and async.

Each contract class runs once per backend: the ``harness`` fixtures are parametrized, so
a test's id names its backend (``...[sqlite]``). The repository and round-trip contracts
also run on PostgreSQL and MariaDB traced (``postgresql_traced``, ``mariadb_traced``: OpenTelemetry's SQLAlchemy
instrumentation attached, the fast paths on, each of their statements a span).
"""

from __future__ import annotations

import pytest

from hexalchemy.testing.contracts import (
    AsyncConcurrencyContract,
    AsyncHarness,
    AsyncQueryContract,
    AsyncQueryHarness,
    AsyncRepositoryContract,
    AsyncRoundTripContract,
    AsyncTransactionContract,
    AsyncValueContract,
    ConcurrencyContract,
    Harness,
    QueryContract,
    QueryHarness,
    RepositoryContract,
    RoundTripContract,
    TransactionContract,
    ValueContract,
)

BACKENDS = ["memory", "sqlite", "postgresql", "mariadb"]
TRACED = [*BACKENDS, "postgresql_traced", "mariadb_traced"]


class _EveryBackend:
    @pytest.fixture(params=BACKENDS)
    def harness(self, request: pytest.FixtureRequest) -> Harness:
        harness: Harness = request.getfixturevalue(f"{request.param}_harness")
        return harness


class _EveryAsyncBackend:
    @pytest.fixture(params=BACKENDS)
    def harness(self, request: pytest.FixtureRequest) -> AsyncHarness:
        harness: AsyncHarness = request.getfixturevalue(f"async_{request.param}_harness")
        return harness


class _EveryBackendTraced:
    @pytest.fixture(params=TRACED)
    def harness(self, request: pytest.FixtureRequest) -> Harness:
        harness: Harness = request.getfixturevalue(f"{request.param}_harness")
        return harness


class _EveryAsyncBackendTraced:
    @pytest.fixture(params=TRACED)
    def harness(self, request: pytest.FixtureRequest) -> AsyncHarness:
        harness: AsyncHarness = request.getfixturevalue(f"async_{request.param}_harness")
        return harness


class TestRepository(_EveryBackendTraced, RepositoryContract):
    pass


class TestAsyncRepository(_EveryAsyncBackendTraced, AsyncRepositoryContract):
    pass


class TestTransaction(_EveryBackend, TransactionContract):
    pass


class TestAsyncTransaction(_EveryAsyncBackend, AsyncTransactionContract):
    pass


class TestConcurrency(_EveryBackend, ConcurrencyContract):
    pass


class TestAsyncConcurrency(_EveryAsyncBackend, AsyncConcurrencyContract):
    pass


class TestRoundTrip(_EveryBackendTraced, RoundTripContract):
    pass


class TestAsyncRoundTrip(_EveryAsyncBackendTraced, AsyncRoundTripContract):
    pass


class TestValues(_EveryBackend, ValueContract):
    pass


class TestAsyncValues(_EveryAsyncBackend, AsyncValueContract):
    pass


class _EveryQueryBackend:
    @pytest.fixture(params=BACKENDS)
    def harness(self, request: pytest.FixtureRequest) -> QueryHarness:
        harness: QueryHarness = request.getfixturevalue(f"{request.param}_harness")
        return harness


class _EveryAsyncQueryBackend:
    @pytest.fixture(params=BACKENDS)
    def harness(self, request: pytest.FixtureRequest) -> AsyncQueryHarness:
        harness: AsyncQueryHarness = request.getfixturevalue(f"async_{request.param}_harness")
        return harness


class TestQueries(_EveryQueryBackend, QueryContract):
    pass


class TestAsyncQueries(_EveryAsyncQueryBackend, AsyncQueryContract):
    pass
