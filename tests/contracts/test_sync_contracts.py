"""The sync contracts need no event loop: plain test functions, no ``asyncio`` mark.

They are generated from the async ones (``make generate``); a sync contract that still
awaited, or carried pytest-asyncio's mark, would need pytest-asyncio to run the sync adapters.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from hexalchemy.testing.contracts import (
    AgentStoreContract,
    ConcurrencyContract,
    OutboxContract,
    QueryContract,
    RepositoryContract,
    RoundTripContract,
    TransactionContract,
    ValueContract,
)

SYNC_CONTRACTS: list[type[Any]] = [
    RepositoryContract,
    TransactionContract,
    ConcurrencyContract,
    RoundTripContract,
    ValueContract,
    OutboxContract,
    AgentStoreContract,
    QueryContract,
]


@pytest.mark.parametrize("contract", SYNC_CONTRACTS, ids=lambda contract: contract.__name__)
def test_a_sync_contract_is_plain_test_functions_without_an_asyncio_mark(contract: type[Any]) -> None:
    tests = {name: member for name, member in inspect.getmembers(contract) if name.startswith("test_")}
    assert tests
    assert [name for name, test in tests.items() if inspect.iscoroutinefunction(test)] == []
    marks = [mark for cls in contract.__mro__ for mark in getattr(cls, "pytestmark", [])]
    assert "asyncio" not in {mark.name for mark in marks}
