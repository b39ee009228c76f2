"""The agent-store contract against the SQL stores: SQLite files, PostgreSQL and MariaDB, sync and async."""

from __future__ import annotations

import pytest

from hexalchemy.testing.contracts.agents import (
    AgentHarness,
    AgentStoreContract,
    AsyncAgentHarness,
    AsyncAgentStoreContract,
)


class TestSqliteAgentStores(AgentStoreContract):
    @pytest.fixture
    def harness(self, sqlite_agents: AgentHarness) -> AgentHarness:
        return sqlite_agents


class TestAsyncSqliteAgentStores(AsyncAgentStoreContract):
    @pytest.fixture
    def harness(self, async_sqlite_agents: AsyncAgentHarness) -> AsyncAgentHarness:
        return async_sqlite_agents


@pytest.mark.postgresql
class TestPostgresqlAgentStores(AgentStoreContract):
    @pytest.fixture
    def harness(self, postgresql_agents: AgentHarness) -> AgentHarness:
        return postgresql_agents


@pytest.mark.postgresql
class TestAsyncPostgresqlAgentStores(AsyncAgentStoreContract):
    @pytest.fixture
    def harness(self, async_postgresql_agents: AsyncAgentHarness) -> AsyncAgentHarness:
        return async_postgresql_agents


class TestMariadbAgentStores(AgentStoreContract):
    @pytest.fixture
    def harness(self, mariadb_agents: AgentHarness) -> AgentHarness:
        return mariadb_agents


class TestAsyncMariadbAgentStores(AsyncAgentStoreContract):
    @pytest.fixture
    def harness(self, async_mariadb_agents: AsyncAgentHarness) -> AsyncAgentHarness:
        return async_mariadb_agents
