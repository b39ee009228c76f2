"""The inbox contract against the in-memory, SQLite, PostgreSQL and MariaDB adapters, sync and async."""

from __future__ import annotations

import pytest

from hexalchemy.testing.contracts.inbox import (
    AsyncInboxContract,
    AsyncInboxHarness,
    InboxContract,
    InboxHarness,
)
from tests.inbox._async.harness import AsyncMemoryInboxHarness
from tests.inbox._sync.harness import MemoryInboxHarness


class TestMemoryInbox(InboxContract):
    @pytest.fixture
    def harness(self) -> InboxHarness:
        return MemoryInboxHarness()


class TestAsyncMemoryInbox(AsyncInboxContract):
    @pytest.fixture
    def harness(self) -> AsyncInboxHarness:
        return AsyncMemoryInboxHarness()


class TestSqliteInbox(InboxContract):
    @pytest.fixture
    def harness(self, sqlite_inbox: InboxHarness) -> InboxHarness:
        return sqlite_inbox


class TestAsyncSqliteInbox(AsyncInboxContract):
    @pytest.fixture
    def harness(self, async_sqlite_inbox: AsyncInboxHarness) -> AsyncInboxHarness:
        return async_sqlite_inbox


@pytest.mark.postgresql
class TestPostgresqlInbox(InboxContract):
    @pytest.fixture
    def harness(self, postgresql_inbox: InboxHarness) -> InboxHarness:
        return postgresql_inbox


@pytest.mark.postgresql
class TestAsyncPostgresqlInbox(AsyncInboxContract):
    @pytest.fixture
    def harness(self, async_postgresql_inbox: AsyncInboxHarness) -> AsyncInboxHarness:
        return async_postgresql_inbox


class TestMariadbInbox(InboxContract):
    @pytest.fixture
    def harness(self, mariadb_inbox: InboxHarness) -> InboxHarness:
        return mariadb_inbox


class TestAsyncMariadbInbox(AsyncInboxContract):
    @pytest.fixture
    def harness(self, async_mariadb_inbox: AsyncInboxHarness) -> AsyncInboxHarness:
        return async_mariadb_inbox
