"""The relay's and the publishers' sync and async twins expose the same API."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from hexalchemy.outbox import AsyncLoggingPublisher, AsyncOutboxRelay, LoggingPublisher, OutboxRelay
from hexalchemy.ports import AsyncPublisher, Publisher
from hexalchemy.testing.publishers import AsyncCollectingPublisher, CollectingPublisher
from tests.test_sync_async_parity import describe, function_of, kind_of, public_members

TWINS: list[tuple[type[Any], type[Any]]] = [
    (OutboxRelay, AsyncOutboxRelay),
    (LoggingPublisher, AsyncLoggingPublisher),
    (CollectingPublisher, AsyncCollectingPublisher),
]


def described(function: Callable[..., Any]) -> str:
    # the stop event is a threading.Event on one side and an asyncio.Event on the other
    return repr(describe(function)).replace("threading.Event", "Event").replace("asyncio.Event", "Event")


@pytest.mark.parametrize(("sync", "async_"), TWINS, ids=[sync.__name__ for sync, _ in TWINS])
def test_twins_have_the_same_members_and_signatures(sync: type[Any], async_: type[Any]) -> None:
    sync_members, async_members = public_members(sync), public_members(async_)
    assert sorted(sync_members) == sorted(async_members)
    assert described(sync.__init__) == described(async_.__init__)
    for name, member in sync_members.items():
        other = async_members[name]
        assert kind_of(member) == kind_of(other), name
        if kind_of(member) == "attribute":
            continue
        assert described(function_of(member)) == described(function_of(other)), name
        assert not inspect.iscoroutinefunction(function_of(member)), name


@pytest.mark.parametrize(("sync", "async_"), TWINS, ids=[sync.__name__ for sync, _ in TWINS])
def test_exactly_the_io_methods_are_coroutines(sync: type[Any], async_: type[Any]) -> None:
    coroutines = {
        name
        for name, member in public_members(async_).items()
        if kind_of(member) == "method" and inspect.iscoroutinefunction(member)
    }
    assert coroutines == ({"drain", "run", "run_once"} if sync is OutboxRelay else {"publish"})


def test_publishers_match_the_ports() -> None:
    sync_publishers: list[Publisher] = [LoggingPublisher(), CollectingPublisher()]
    async_publishers: list[AsyncPublisher] = [AsyncLoggingPublisher(), AsyncCollectingPublisher()]
    assert len(sync_publishers) == len(async_publishers) == 2
