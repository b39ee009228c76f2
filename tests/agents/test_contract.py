"""The agent-store contract against the in-memory stores, sync and async."""

from __future__ import annotations

import pytest

from hexalchemy.pytest_plugin import AsyncMemoryAgentHarness, MemoryAgentHarness
from hexalchemy.testing.contracts.agents import (
    AgentHarness,
    AgentStoreContract,
    AsyncAgentHarness,
    AsyncAgentStoreContract,
)


class TestMemoryAgentStores(AgentStoreContract):
    @pytest.fixture
    def harness(self) -> AgentHarness:
        return MemoryAgentHarness()


class TestAsyncMemoryAgentStores(AsyncAgentStoreContract):
    @pytest.fixture
    def harness(self) -> AsyncAgentHarness:
        return AsyncMemoryAgentHarness()
