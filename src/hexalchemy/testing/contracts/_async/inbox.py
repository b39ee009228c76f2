# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The inbox contract for an :class:`AsyncInbox`; see :mod:`hexalchemy.testing.contracts.inbox`."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import pytest

from hexalchemy.ports import (
    AsyncInbox,
    AsyncTransactionManager,
    DuplicateEntityError,
    HexalchemyError,
    InvalidArgumentError,
    NoActiveTransactionError,
    ReadOnlyTransactionError,
)
from hexalchemy.testing.contracts._support import AsyncContract, BoomError, run_concurrently

_FAR_FUTURE = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
_FAR_PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class AsyncInboxHarness(Protocol):
    """The inbox under test, on an empty inbox table (see :mod:`hexalchemy.testing.contracts.inbox`)."""

    @property
    def transactions(self) -> AsyncTransactionManager:
        """The transaction manager whose transactions the inboxes record in."""
        ...

    def inbox(self, consumer: str) -> AsyncInbox:
        """An inbox of ``consumer`` on :attr:`transactions` (every consumer shares one table)."""
        ...


async def _record(harness: AsyncInboxHarness, message_id: uuid.UUID, consumer: str = "billing") -> bool:
    inbox = harness.inbox(consumer)
    async with harness.transactions.begin():
        return await inbox.record(message_id)


class AsyncInboxContract(AsyncContract):
    """What every async inbox must do; subclass it with a ``harness`` fixture."""

    async def test_the_first_record_of_an_id_is_new(self, harness: AsyncInboxHarness) -> None:
        assert await _record(harness, uuid.uuid4()) is True

    async def test_a_committed_id_is_not_new_again(self, harness: AsyncInboxHarness) -> None:
        message_id = uuid.uuid4()
        await _record(harness, message_id)
        assert await _record(harness, message_id) is False

    async def test_an_id_recorded_twice_in_one_transaction_is_new_once(
        self, harness: AsyncInboxHarness
    ) -> None:
        inbox = harness.inbox("billing")
        message_id = uuid.uuid4()
        async with harness.transactions.begin():
            first = await inbox.record(message_id)
            second = await inbox.record(message_id)
        assert (first, second) == (True, False)

    async def test_a_rolled_back_record_is_forgotten(self, harness: AsyncInboxHarness) -> None:
        inbox = harness.inbox("billing")
        message_id = uuid.uuid4()
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                await inbox.record(message_id)
                raise BoomError
        assert await _record(harness, message_id) is True

    async def test_a_rolled_back_savepoint_forgets_its_record(self, harness: AsyncInboxHarness) -> None:
        inbox = harness.inbox("billing")
        message_id = uuid.uuid4()
        async with harness.transactions.begin():
            with pytest.raises(BoomError):
                async with harness.transactions.begin():
                    await inbox.record(message_id)
                    raise BoomError
            assert await inbox.record(message_id) is True

    async def test_consumers_record_the_same_id_apart(self, harness: AsyncInboxHarness) -> None:
        message_id = uuid.uuid4()
        assert await _record(harness, message_id, "billing") is True
        assert await _record(harness, message_id, "shipping") is True
        assert await _record(harness, message_id, "shipping") is False

    async def test_record_outside_a_transaction_raises(self, harness: AsyncInboxHarness) -> None:
        with pytest.raises(NoActiveTransactionError):
            await harness.inbox("billing").record(uuid.uuid4())

    async def test_record_in_a_read_only_transaction_raises(self, harness: AsyncInboxHarness) -> None:
        inbox = harness.inbox("billing")
        with pytest.raises(ReadOnlyTransactionError):
            async with harness.transactions.begin(read_only=True):
                await inbox.record(uuid.uuid4())

    @pytest.mark.parametrize("bad", ["0b6f6b9e-6c8a-4c47-9a59-0c4f1d1f2b6a", 7, None, b"id"])
    async def test_record_refuses_an_id_that_is_not_a_uuid(
        self, harness: AsyncInboxHarness, bad: Any
    ) -> None:
        inbox = harness.inbox("billing")
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="message_id"):
                await inbox.record(bad)

    async def test_concurrent_records_of_one_id_commit_one_effect(self, harness: AsyncInboxHarness) -> None:
        message_id = uuid.uuid4()

        def attempt() -> Callable[[], Awaitable[bool]]:
            async def run() -> bool:
                inbox = harness.inbox("billing")
                async with harness.transactions.begin():
                    new = await inbox.record(message_id)
                    await asyncio.sleep(0.05)
                return new

            return run

        outcomes = await run_concurrently([attempt() for _ in range(3)])
        applied = [outcome for outcome in outcomes if outcome is True]
        assert len(applied) == 1, outcomes
        # the others saw the id (False), or their commit was refused (an adapter that checks at commit)
        assert all(
            o is False or isinstance(o, DuplicateEntityError | HexalchemyError)
            for o in outcomes
            if o is not True
        )
        assert await _record(harness, message_id) is False

    async def test_purge_forgets_the_entries_received_before(self, harness: AsyncInboxHarness) -> None:
        inbox = harness.inbox("billing")
        message_id = uuid.uuid4()
        await _record(harness, message_id)
        async with harness.transactions.begin():
            assert await inbox.purge(received_before=_FAR_PAST) == 0
            assert await inbox.purge(received_before=_FAR_FUTURE) == 1
        assert await _record(harness, message_id) is True

    async def test_purge_keeps_the_other_consumers_entries(self, harness: AsyncInboxHarness) -> None:
        message_id = uuid.uuid4()
        await _record(harness, message_id, "billing")
        await _record(harness, message_id, "shipping")
        async with harness.transactions.begin():
            assert await harness.inbox("billing").purge(received_before=_FAR_FUTURE) == 1
        assert await _record(harness, message_id, "shipping") is False

    async def test_purge_refuses_a_naive_datetime(self, harness: AsyncInboxHarness) -> None:
        inbox = harness.inbox("billing")
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="received_before"):
                await inbox.purge(received_before=dt.datetime(2020, 1, 1))
