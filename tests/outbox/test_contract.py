"""The outbox contract against the in-memory, SQLite, PostgreSQL and MariaDB adapters, sync and async."""

from __future__ import annotations

import pytest

from hexalchemy.testing.contracts.outbox import (
    AsyncOutboxContract,
    AsyncOutboxHarness,
    OutboxContract,
    OutboxHarness,
)


class TestMemoryOutbox(OutboxContract):
    @pytest.fixture
    def harness(self, memory_outbox: OutboxHarness) -> OutboxHarness:
        return memory_outbox


class TestAsyncMemoryOutbox(AsyncOutboxContract):
    @pytest.fixture
    def harness(self, async_memory_outbox: AsyncOutboxHarness) -> AsyncOutboxHarness:
        return async_memory_outbox


class TestSqliteOutbox(OutboxContract):
    @pytest.fixture
    def harness(self, sqlite_outbox: OutboxHarness) -> OutboxHarness:
        return sqlite_outbox


class TestAsyncSqliteOutbox(AsyncOutboxContract):
    @pytest.fixture
    def harness(self, async_sqlite_outbox: AsyncOutboxHarness) -> AsyncOutboxHarness:
        return async_sqlite_outbox


@pytest.mark.postgresql
class TestPostgresqlOutbox(OutboxContract):
    @pytest.fixture
    def harness(self, postgresql_outbox: OutboxHarness) -> OutboxHarness:
        return postgresql_outbox


@pytest.mark.postgresql
class TestAsyncPostgresqlOutbox(AsyncOutboxContract):
    @pytest.fixture
    def harness(self, async_postgresql_outbox: AsyncOutboxHarness) -> AsyncOutboxHarness:
        return async_postgresql_outbox


class TestMariadbOutbox(OutboxContract):
    @pytest.fixture
    def harness(self, mariadb_outbox: OutboxHarness) -> OutboxHarness:
        return mariadb_outbox


class TestAsyncMariadbOutbox(AsyncOutboxContract):
    @pytest.fixture
    def harness(self, async_mariadb_outbox: AsyncOutboxHarness) -> AsyncOutboxHarness:
        return async_mariadb_outbox
