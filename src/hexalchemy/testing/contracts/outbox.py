"""The outbox contract: what every outbox writer and relay store must do, sync or async.

Subclass :class:`OutboxContract` (or :class:`AsyncOutboxContract`) and give it an
``outbox_harness`` fixture returning an :class:`OutboxHarness` (or
:class:`AsyncOutboxHarness`) on an empty outbox::

    from hexalchemy.testing.contracts.outbox import OutboxContract, OutboxHarness

    class TestMyOutbox(OutboxContract):
        @pytest.fixture
        def outbox_harness(self) -> OutboxHarness:
            return MyOutboxHarness(...)

The harness builds its writer with ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES`` and its
relay store with a policy of :data:`CONTRACT_MAX_ATTEMPTS`, :data:`CONTRACT_BASE_DELAY` and
:data:`CONTRACT_MAX_DELAY`, on the harness's transaction manager (so that the store can
refuse calls made inside one of its transactions). Its ``advance(delta)`` lets at least
``delta`` pass on the relay store's clock: move a fake clock, or sleep (the contract only
advances by fractions of a second).

The behaviour is written once, as async tests: :class:`OutboxContract` runs them against
the sync adapters through thin async wrappers, so both contracts need pytest-asyncio
(their tests are marked ``pytest.mark.asyncio``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any, Final, Protocol, cast

import attrs
import pytest

from hexalchemy.ports import (
    AcknowledgeResult,
    AsyncOutboxRelayStore,
    AsyncOutboxWriter,
    AsyncTransactionManager,
    DeadLetter,
    DeliveryResult,
    InvalidMessageError,
    IsolationLevel,
    Lease,
    NoActiveTransactionError,
    OutboxMessage,
    OutboxRelayStore,
    OutboxStats,
    OutboxWriter,
    PublishResult,
    ReadOnlyTransactionError,
    TransactionManager,
    TransactionUsageError,
)
from hexalchemy.ports.outbox import AsyncPublish, Publish
from hexalchemy.rules import new_message
from hexalchemy.rules.outbox_results import MISSING_RESULT

__all__ = [
    "CONTRACT_BASE_DELAY",
    "CONTRACT_MAX_ATTEMPTS",
    "CONTRACT_MAX_DELAY",
    "CONTRACT_MAX_PAYLOAD_BYTES",
    "AsyncOutboxContract",
    "AsyncOutboxHarness",
    "OutboxContract",
    "OutboxHarness",
]

CONTRACT_MAX_ATTEMPTS: Final = 3
"""The ``max_attempts`` of the relay store under test."""
CONTRACT_BASE_DELAY: Final = dt.timedelta(milliseconds=20)
"""The ``base_delay`` of the relay store under test."""
CONTRACT_MAX_DELAY: Final = dt.timedelta(milliseconds=40)
"""The ``max_delay`` of the relay store under test."""
CONTRACT_MAX_PAYLOAD_BYTES: Final = 1024
"""The ``max_payload_bytes`` of the writer under test."""

_SHORT: Final = dt.timedelta(milliseconds=25)
"""A lease or delay the test lets pass (with :data:`_PAST_SHORT`)."""
_PAST_SHORT: Final = _SHORT * 3
_LONG: Final = dt.timedelta(minutes=10)
"""A lease or delay that never passes during a test."""
_TOPIC: Final = "orders"


class OutboxHarness(Protocol):
    """The sync outbox adapters under test, on an empty outbox (see the module docstring)."""

    @property
    def transactions(self) -> TransactionManager:
        """The transaction manager whose transactions the writer writes in."""
        ...

    @property
    def writer(self) -> OutboxWriter:
        """The writer, with ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES``."""
        ...

    @property
    def relay(self) -> OutboxRelayStore:
        """The relay store, with the contract's policy, on :attr:`transactions`."""
        ...

    def advance(self, delta: dt.timedelta) -> None:
        """Let at least ``delta`` pass on the relay store's clock."""
        ...


class AsyncOutboxHarness(Protocol):
    """The async outbox adapters under test, on an empty outbox (see :class:`OutboxHarness`)."""

    @property
    def transactions(self) -> AsyncTransactionManager:
        """The transaction manager whose transactions the writer writes in."""
        ...

    @property
    def writer(self) -> AsyncOutboxWriter:
        """The writer, with ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES``."""
        ...

    @property
    def relay(self) -> AsyncOutboxRelayStore:
        """The relay store, with the contract's policy, on :attr:`transactions`."""
        ...

    async def advance(self, delta: dt.timedelta) -> None:
        """Let at least ``delta`` pass on the relay store's clock."""
        ...


# -- the sync adapters seen through async wrappers, so the tests are written once -----------


class _AsyncBlock(AbstractAsyncContextManager[None]):
    def __init__(self, block: AbstractContextManager[None]) -> None:
        self._block = block

    async def __aenter__(self) -> None:
        self._block.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._block.__exit__(exc_type, exc_value, traceback)


class _AsyncTransactions:
    def __init__(self, transactions: TransactionManager) -> None:
        self._transactions = transactions

    def begin(
        self, *, read_only: bool = False, isolation_level: IsolationLevel | None = None
    ) -> AbstractAsyncContextManager[None]:
        return _AsyncBlock(self._transactions.begin(read_only=read_only, isolation_level=isolation_level))

    @property
    def in_transaction(self) -> bool:
        return self._transactions.in_transaction


class _AsyncWriter:
    def __init__(self, writer: OutboxWriter) -> None:
        self._writer = writer

    async def add(self, message: OutboxMessage, /) -> bool:
        return self._writer.add(message)

    async def add_all(self, messages: Iterable[OutboxMessage], /) -> int:
        return self._writer.add_all(messages)


class _AsyncRelay:
    def __init__(self, relay: OutboxRelayStore) -> None:
        self._relay = relay

    async def claim(self, *, limit: int, lease_for: dt.timedelta) -> Lease:
        return self._relay.claim(limit=limit, lease_for=lease_for)

    async def acknowledge(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        return self._relay.acknowledge(lease, ids)

    async def reject(
        self, lease: Lease, id: uuid.UUID, error: str, /, *, retry_after: dt.timedelta | None = None
    ) -> AcknowledgeResult:
        return self._relay.reject(lease, id, error, retry_after=retry_after)

    async def dead_letter(self, lease: Lease, id: uuid.UUID, error: str, /) -> AcknowledgeResult:
        return self._relay.dead_letter(lease, id, error)

    async def release(self, lease: Lease, ids: Iterable[uuid.UUID], /) -> AcknowledgeResult:
        return self._relay.release(lease, ids)

    async def deliver(self, publish: AsyncPublish, /, *, limit: int) -> DeliveryResult:
        # A sync store cannot await an async publisher: the tests call _Subject.deliver.
        raise NotImplementedError("the contract delivers through _Subject.deliver")

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        return self._relay.dead_letters(limit=limit)

    async def requeue(self, ids: Iterable[uuid.UUID] | None = None, /) -> int:
        return self._relay.requeue(ids)

    async def purge(self, *, dead_before: dt.datetime) -> int:
        return self._relay.purge(dead_before=dead_before)

    async def stats(self) -> OutboxStats:
        return self._relay.stats()


@attrs.frozen
class _Subject:
    """The adapters under test, as the tests see them."""

    transactions: AsyncTransactionManager
    writer: AsyncOutboxWriter
    relay: AsyncOutboxRelayStore
    advance: Callable[[dt.timedelta], Awaitable[None]]
    deliver_with: Callable[[Publish, int], Awaitable[DeliveryResult]]

    @classmethod
    def of_sync(cls, harness: OutboxHarness) -> _Subject:
        async def advance(delta: dt.timedelta) -> None:
            harness.advance(delta)

        async def deliver_with(publish: Publish, limit: int) -> DeliveryResult:
            return harness.relay.deliver(publish, limit=limit)

        return cls(
            _AsyncTransactions(harness.transactions),
            _AsyncWriter(harness.writer),
            _AsyncRelay(harness.relay),
            advance,
            deliver_with,
        )

    @classmethod
    def of_async(cls, harness: AsyncOutboxHarness) -> _Subject:
        async def deliver_with(publish: Publish, limit: int) -> DeliveryResult:
            async def publish_async(messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
                return publish(messages)

            return await harness.relay.deliver(publish_async, limit=limit)

        return cls(harness.transactions, harness.writer, harness.relay, harness.advance, deliver_with)

    async def deliver(self, publish: Publish, *, limit: int = 100) -> DeliveryResult:
        """A locked delivery through the store under test, with a sync ``publish`` function."""
        return await self.deliver_with(publish, limit)

    async def commit(self, *messages: OutboxMessage) -> list[OutboxMessage]:
        """Add ``messages`` in a committed transaction and return them."""
        async with self.transactions.begin():
            await self.writer.add_all(messages)
        return list(messages)

    async def claim(self, *, limit: int = 100, lease_for: dt.timedelta = _LONG) -> Lease:
        return await self.relay.claim(limit=limit, lease_for=lease_for)

    async def claim_ids(self, *, limit: int = 100, lease_for: dt.timedelta = _LONG) -> list[uuid.UUID]:
        lease = await self.claim(limit=limit, lease_for=lease_for)
        return [message.id for message in lease.messages]


class _BoomError(Exception):
    """Raised by a test to make a transaction fail."""


class _Interrupt(BaseException):
    """Raised by a publisher to stand for the relay dying mid-batch (like ``KeyboardInterrupt``)."""


class _Broker:
    """A publisher that records what it was given; refuses the ids in ``refuse`` with their error."""

    def __init__(self, refuse: dict[uuid.UUID, str] | None = None) -> None:
        self.refuse = refuse or {}
        self.published: list[OutboxMessage] = []
        self.batches = 0

    def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
        self.batches += 1
        self.published.extend(message for message in messages if message.id not in self.refuse)
        return [PublishResult(message.id, self.refuse.get(message.id)) for message in messages]

    def ids(self) -> list[uuid.UUID]:
        return _ids(self.published)


def _message(
    payload: bytes = b"payload",
    *,
    topic: str = _TOPIC,
    ordering_key: str | None = None,
    idempotency_key: str | None = None,
    available_at: dt.datetime | None = None,
) -> OutboxMessage:
    return new_message(
        topic, payload, ordering_key=ordering_key, idempotency_key=idempotency_key, available_at=available_at
    )


def _ids(messages: Iterable[OutboxMessage]) -> list[uuid.UUID]:
    return [message.id for message in messages]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- the behaviour ---------------------------------------------------------------------------


@pytest.mark.asyncio
class _OutboxBehaviour:
    """The tests, written once against the async view of the adapters."""

    # -- atomicity with the business transaction ------------------------------------------------

    async def test_a_committed_message_is_claimable(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        assert await hx_outbox.claim_ids() == [message.id]

    async def test_a_rolled_back_transaction_leaves_no_message(self, hx_outbox: _Subject) -> None:
        with pytest.raises(_BoomError):
            async with hx_outbox.transactions.begin():
                assert await hx_outbox.writer.add(_message())
                raise _BoomError
        assert await hx_outbox.claim_ids() == []

    async def test_a_rolled_back_savepoint_drops_only_its_messages(self, hx_outbox: _Subject) -> None:
        kept, dropped = _message(b"kept"), _message(b"dropped")
        async with hx_outbox.transactions.begin():
            await hx_outbox.writer.add(kept)
            with pytest.raises(_BoomError):
                async with hx_outbox.transactions.begin():
                    await hx_outbox.writer.add(dropped)
                    raise _BoomError
        assert await hx_outbox.claim_ids() == [kept.id]

    async def test_add_outside_a_transaction_raises(self, hx_outbox: _Subject) -> None:
        with pytest.raises(NoActiveTransactionError):
            await hx_outbox.writer.add(_message())

    async def test_add_all_outside_a_transaction_raises(self, hx_outbox: _Subject) -> None:
        with pytest.raises(NoActiveTransactionError):
            await hx_outbox.writer.add_all([_message()])

    async def test_add_in_a_read_only_transaction_raises(self, hx_outbox: _Subject) -> None:
        async with hx_outbox.transactions.begin(read_only=True):
            with pytest.raises(ReadOnlyTransactionError):
                await hx_outbox.writer.add(_message())

    async def test_a_claimed_message_is_the_message_written(self, hx_outbox: _Subject) -> None:
        message = new_message(
            "billing.invoice-paid",
            bytes(range(256)),
            headers={"content-type": "application/octet-stream", "trace": ""},
            ordering_key="customer-7",
            idempotency_key="invoice-12",
        )
        await hx_outbox.commit(message)
        lease = await hx_outbox.claim()
        assert lease.messages == (attrs.evolve(message, attempts=1),)

    async def test_add_all_returns_how_many_were_added(self, hx_outbox: _Subject) -> None:
        async with hx_outbox.transactions.begin():
            assert await hx_outbox.writer.add_all([_message(), _message(), _message()]) == 3
            assert await hx_outbox.writer.add_all([]) == 0

    # -- idempotency keys -------------------------------------------------------------------------

    async def test_a_repeated_idempotency_key_is_ignored_in_one_transaction(
        self, hx_outbox: _Subject
    ) -> None:
        first, repeat = _message(b"1", idempotency_key="k"), _message(b"2", idempotency_key="k")
        async with hx_outbox.transactions.begin():
            assert await hx_outbox.writer.add(first)
            assert not await hx_outbox.writer.add(repeat)
        assert await hx_outbox.claim_ids() == [first.id]

    async def test_a_repeated_idempotency_key_is_ignored_in_a_later_transaction(
        self, hx_outbox: _Subject
    ) -> None:
        (first,) = await hx_outbox.commit(_message(b"1", idempotency_key="k"))
        async with hx_outbox.transactions.begin():
            assert not await hx_outbox.writer.add(_message(b"2", idempotency_key="k"))
        assert await hx_outbox.claim_ids() == [first.id]

    async def test_an_idempotency_key_is_per_topic(self, hx_outbox: _Subject) -> None:
        async with hx_outbox.transactions.begin():
            assert await hx_outbox.writer.add(_message(topic="a", idempotency_key="k"))
            assert await hx_outbox.writer.add(_message(topic="b", idempotency_key="k"))
        assert len(await hx_outbox.claim_ids()) == 2

    async def test_add_all_counts_only_the_messages_added(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message(idempotency_key="stored"))
        batch = [
            _message(idempotency_key="stored"),
            _message(idempotency_key="new"),
            _message(idempotency_key="new"),
            _message(),
        ]
        async with hx_outbox.transactions.begin():
            assert await hx_outbox.writer.add_all(batch) == 2
        assert len(await hx_outbox.claim_ids()) == 3

    async def test_the_same_message_added_twice_is_stored_once(self, hx_outbox: _Subject) -> None:
        message = _message()
        async with hx_outbox.transactions.begin():
            assert await hx_outbox.writer.add(message)
            assert not await hx_outbox.writer.add(message)
        assert await hx_outbox.claim_ids() == [message.id]

    async def test_an_idempotency_key_is_free_again_once_its_message_is_delivered(
        self, hx_outbox: _Subject
    ) -> None:
        await hx_outbox.commit(_message(idempotency_key="k"))
        lease = await hx_outbox.claim()
        await hx_outbox.relay.acknowledge(lease, _ids(lease.messages))
        async with hx_outbox.transactions.begin():
            assert await hx_outbox.writer.add(_message(idempotency_key="k"))

    # -- claims: limit and order ------------------------------------------------------------------

    async def test_a_claim_leases_at_most_limit_messages_in_created_order(self, hx_outbox: _Subject) -> None:
        messages = await hx_outbox.commit(*[_message(bytes([i])) for i in range(5)])
        assert await hx_outbox.claim_ids(limit=2) == _ids(messages[:2])
        assert await hx_outbox.claim_ids(limit=10) == _ids(messages[2:])

    async def test_messages_of_several_transactions_come_in_created_order(self, hx_outbox: _Subject) -> None:
        first = await hx_outbox.commit(_message(b"1"), _message(b"2"))
        second = await hx_outbox.commit(_message(b"3"))
        assert await hx_outbox.claim_ids() == _ids(first + second)

    async def test_a_claim_of_an_empty_outbox_is_an_empty_lease(self, hx_outbox: _Subject) -> None:
        before = _now()
        lease = await hx_outbox.claim(lease_for=_LONG)
        assert lease.messages == ()
        assert lease.expires_at > before

    async def test_a_lease_expires_lease_for_after_the_claim(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        before = _now()
        lease = await hx_outbox.claim(lease_for=_LONG)
        after = _now()
        slack = dt.timedelta(seconds=1)  # the store's clock may be the database's
        assert before + _LONG - slack <= lease.expires_at <= after + _LONG + slack

    async def test_a_claim_counts_an_attempt(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        assert [message.attempts for message in lease.messages] == [1]

    async def test_a_leased_message_is_not_claimed_again(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        assert len(await hx_outbox.claim_ids()) == 1
        assert await hx_outbox.claim_ids() == []

    async def test_a_message_is_claimable_from_its_available_at(self, hx_outbox: _Subject) -> None:
        later = await hx_outbox.commit(_message(available_at=_now() + _SHORT))
        await hx_outbox.commit(_message(available_at=_now() + _LONG))
        await hx_outbox.advance(_PAST_SHORT)
        assert await hx_outbox.claim_ids() == _ids(later)

    async def test_a_bad_claim_is_refused(self, hx_outbox: _Subject) -> None:
        with pytest.raises(ValueError, match="limit"):
            await hx_outbox.relay.claim(limit=0, lease_for=_LONG)
        with pytest.raises(ValueError, match="lease_for"):
            await hx_outbox.relay.claim(limit=1, lease_for=dt.timedelta(0))

    async def test_the_relay_store_refuses_calls_inside_a_transaction(self, hx_outbox: _Subject) -> None:
        async with hx_outbox.transactions.begin():
            with pytest.raises(TransactionUsageError):
                await hx_outbox.claim()

    # -- ordering keys ----------------------------------------------------------------------------

    async def test_only_the_first_message_of_each_key_is_claimable(self, hx_outbox: _Subject) -> None:
        a1, _a2, b1, free = await hx_outbox.commit(
            _message(ordering_key="a"), _message(ordering_key="a"), _message(ordering_key="b"), _message()
        )
        assert await hx_outbox.claim_ids() == [a1.id, b1.id, free.id]

    async def test_a_key_is_held_while_its_first_message_is_leased(self, hx_outbox: _Subject) -> None:
        a1, a2 = await hx_outbox.commit(_message(ordering_key="a"), _message(ordering_key="a"))
        lease = await hx_outbox.claim()
        (b1,) = await hx_outbox.commit(_message(ordering_key="b"))
        assert await hx_outbox.claim_ids() == [b1.id]
        await hx_outbox.relay.acknowledge(lease, [a1.id])
        assert await hx_outbox.claim_ids() == [a2.id]

    async def test_a_key_is_held_while_its_first_message_waits_for_a_retry(self, hx_outbox: _Subject) -> None:
        a1, _a2, b1 = await hx_outbox.commit(
            _message(ordering_key="a"), _message(ordering_key="a"), _message(ordering_key="b")
        )
        lease = await hx_outbox.claim()
        assert _ids(lease.messages) == [a1.id, b1.id]
        await hx_outbox.relay.reject(lease, a1.id, "broker down", retry_after=_LONG)
        await hx_outbox.relay.acknowledge(lease, [b1.id])
        (b2,) = await hx_outbox.commit(_message(ordering_key="b"))
        assert await hx_outbox.claim_ids() == [b2.id]

    async def test_the_messages_of_a_key_come_in_commit_order(self, hx_outbox: _Subject) -> None:
        created_first, created_second = _message(ordering_key="a"), _message(ordering_key="a")
        await hx_outbox.commit(created_second)
        await hx_outbox.commit(created_first)
        lease = await hx_outbox.claim()
        assert _ids(lease.messages) == [created_second.id]
        await hx_outbox.relay.acknowledge(lease, [created_second.id])
        assert await hx_outbox.claim_ids() == [created_first.id]

    # -- acknowledgements and leases --------------------------------------------------------------

    async def test_an_acknowledged_message_is_gone(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        lease = await hx_outbox.claim(lease_for=_SHORT)
        assert await hx_outbox.relay.acknowledge(lease, _ids(lease.messages)) == AcknowledgeResult(1, 0)
        await hx_outbox.advance(_PAST_SHORT)
        assert await hx_outbox.claim_ids() == []

    async def test_acknowledging_a_message_the_lease_does_not_hold_is_stale(
        self, hx_outbox: _Subject
    ) -> None:
        await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        result = await hx_outbox.relay.acknowledge(lease, [*_ids(lease.messages), uuid.uuid4()])
        assert result == AcknowledgeResult(1, 1)

    async def test_a_message_whose_lease_expired_is_claimable_again(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        first = await hx_outbox.claim(lease_for=_SHORT)
        await hx_outbox.advance(_PAST_SHORT)
        second = await hx_outbox.claim()
        assert _ids(second.messages) == [message.id]
        assert second.messages[0].attempts == 2
        assert second.token != first.token

    async def test_the_acknowledgement_of_an_expired_lease_is_stale_and_changes_nothing(
        self, hx_outbox: _Subject
    ) -> None:
        await hx_outbox.commit(_message())
        first = await hx_outbox.claim(lease_for=_SHORT)
        await hx_outbox.advance(_PAST_SHORT)
        second = await hx_outbox.claim()
        assert await hx_outbox.relay.acknowledge(first, _ids(first.messages)) == AcknowledgeResult(0, 1)
        assert await hx_outbox.relay.acknowledge(second, _ids(second.messages)) == AcknowledgeResult(1, 0)

    async def test_released_messages_are_claimable_at_once_without_an_attempt(
        self, hx_outbox: _Subject
    ) -> None:
        (message,) = await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        assert await hx_outbox.relay.release(lease, [message.id]) == AcknowledgeResult(1, 0)
        again = await hx_outbox.claim()
        assert [(m.id, m.attempts) for m in again.messages] == [(message.id, 1)]

    async def test_releasing_with_an_expired_lease_is_stale(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        first = await hx_outbox.claim(lease_for=_SHORT)
        await hx_outbox.advance(_PAST_SHORT)
        await hx_outbox.claim()
        assert await hx_outbox.relay.release(first, _ids(first.messages)) == AcknowledgeResult(0, 1)
        assert await hx_outbox.claim_ids() == []

    # -- rejections and backoff -------------------------------------------------------------------

    async def test_a_rejected_message_waits_for_retry_after(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        result = await hx_outbox.relay.reject(lease, message.id, "broker down", retry_after=_LONG)
        assert result == AcknowledgeResult(1, 0)
        assert await hx_outbox.claim_ids() == []
        stats = await hx_outbox.relay.stats()
        assert (stats.pending, stats.leased) == (1, 0)

    async def test_a_retried_message_keeps_its_attempts_and_error(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        await hx_outbox.relay.reject(lease, message.id, "broker down", retry_after=_SHORT)
        await hx_outbox.advance(_PAST_SHORT)
        again = await hx_outbox.claim()
        assert [(m.id, m.attempts, m.last_error) for m in again.messages] == [(message.id, 2, "broker down")]

    async def test_a_rejection_without_retry_after_backs_off_at_most_max_delay(
        self, hx_outbox: _Subject
    ) -> None:
        (message,) = await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        await hx_outbox.relay.reject(lease, message.id, "broker down")
        await hx_outbox.advance(CONTRACT_MAX_DELAY + _SHORT)
        assert await hx_outbox.claim_ids() == [message.id]

    async def test_a_rejection_with_an_expired_lease_is_stale(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        first = await hx_outbox.claim(lease_for=_SHORT)
        await hx_outbox.advance(_PAST_SHORT)
        second = await hx_outbox.claim()
        assert await hx_outbox.relay.reject(first, message.id, "late") == AcknowledgeResult(0, 1)
        assert await hx_outbox.relay.acknowledge(second, [message.id]) == AcknowledgeResult(1, 0)

    async def test_a_bad_retry_after_is_refused(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        with pytest.raises(ValueError, match="retry_after"):
            await hx_outbox.relay.reject(lease, message.id, "x", retry_after=dt.timedelta(seconds=-1))

    # -- locked delivery ---------------------------------------------------------------------------

    async def test_a_delivery_publishes_due_messages_in_order_and_removes_them(
        self, hx_outbox: _Subject
    ) -> None:
        messages = await hx_outbox.commit(_message(b"1"), _message(b"2"), _message(b"3"))
        broker = _Broker()
        result = await hx_outbox.deliver(broker.publish, limit=2)
        assert result == DeliveryResult(messages=2, published=2, retried=0, dead_lettered=0)
        assert result.error is None
        assert broker.ids() == _ids(messages[:2])
        assert await hx_outbox.claim_ids() == _ids(messages[2:])

    async def test_a_delivered_message_is_the_message_written_with_its_attempt_counted(
        self, hx_outbox: _Subject
    ) -> None:
        (message,) = await hx_outbox.commit(
            new_message(_TOPIC, b"body", headers={"h": "v"}, ordering_key="k", idempotency_key="i")
        )
        broker = _Broker()
        await hx_outbox.deliver(broker.publish)
        (delivered,) = broker.published
        assert delivered == attrs.evolve(message, attempts=1)

    async def test_a_delivery_of_an_empty_outbox_calls_no_publisher(self, hx_outbox: _Subject) -> None:
        broker = _Broker()
        assert await hx_outbox.deliver(broker.publish) == DeliveryResult(0, 0, 0, 0)
        assert broker.batches == 0

    async def test_a_delivery_takes_only_the_first_message_of_each_key(self, hx_outbox: _Subject) -> None:
        a1, a2, b1 = await hx_outbox.commit(
            _message(ordering_key="a"), _message(ordering_key="a"), _message(ordering_key="b")
        )
        broker = _Broker()
        await hx_outbox.deliver(broker.publish)
        assert broker.ids() == [a1.id, b1.id]
        await hx_outbox.deliver(broker.publish)
        assert broker.ids() == [a1.id, b1.id, a2.id]

    async def test_a_failed_message_is_retried_after_a_backoff_with_its_error(
        self, hx_outbox: _Subject
    ) -> None:
        ok, bad = await hx_outbox.commit(_message(b"ok"), _message(b"bad"))
        broker = _Broker(refuse={bad.id: "broker said no"})
        result = await hx_outbox.deliver(broker.publish)
        assert result == DeliveryResult(messages=2, published=1, retried=1, dead_lettered=0)
        await hx_outbox.advance(CONTRACT_MAX_DELAY * 2)  # the backoff is jittered: wait out its cap
        again = await hx_outbox.claim()
        assert [(m.id, m.attempts, m.last_error) for m in again.messages] == [(bad.id, 2, "broker said no")]
        assert ok.id not in _ids(again.messages)

    async def test_a_failed_first_message_holds_its_key(self, hx_outbox: _Subject) -> None:
        a1, a2 = await hx_outbox.commit(_message(ordering_key="a"), _message(ordering_key="a"))
        await hx_outbox.deliver(_Broker(refuse={a1.id: "no"}).publish)
        await hx_outbox.advance(CONTRACT_MAX_DELAY * 2)
        broker = _Broker()
        await hx_outbox.deliver(broker.publish)
        await hx_outbox.deliver(broker.publish)
        assert broker.ids() == [a1.id, a2.id]

    async def test_a_message_with_no_result_counts_as_failed(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        result = await hx_outbox.deliver(lambda _messages: [])
        assert (result.published, result.retried) == (0, 1)
        await hx_outbox.advance(CONTRACT_MAX_DELAY * 2)
        (again,) = (await hx_outbox.claim()).messages
        assert (again.id, again.last_error) == (message.id, MISSING_RESULT)

    async def test_a_publisher_exception_fails_the_batch_and_is_returned(self, hx_outbox: _Subject) -> None:
        first, second = await hx_outbox.commit(_message(b"1"), _message(b"2"))
        boom = _BoomError("broker down")

        def explode(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            raise boom

        result = await hx_outbox.deliver(explode)
        assert result == DeliveryResult(messages=2, published=0, retried=2, dead_lettered=0)
        assert result.error is boom
        await hx_outbox.advance(CONTRACT_MAX_DELAY * 2)
        again = await hx_outbox.claim()
        assert set(_ids(again.messages)) == {first.id, second.id}  # the backoff is jittered
        assert {m.last_error for m in again.messages} == {"the publisher raised _BoomError: broker down"}

    async def test_results_of_the_wrong_type_fail_the_batch(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        result = await hx_outbox.deliver(lambda _messages: cast(Any, ["not a result"]))
        assert (result.messages, result.published, result.retried) == (1, 0, 1)
        assert isinstance(result.error, TypeError)

    async def test_the_failure_at_max_attempts_dead_letters_the_message(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        broker = _Broker(refuse={message.id: "no"})
        for attempt in range(1, CONTRACT_MAX_ATTEMPTS + 1):
            result = await hx_outbox.deliver(broker.publish)
            assert result.dead_lettered == (1 if attempt == CONTRACT_MAX_ATTEMPTS else 0)
            await hx_outbox.advance(CONTRACT_MAX_DELAY * 2)
        assert await hx_outbox.claim_ids() == []
        (letter,) = await hx_outbox.relay.dead_letters()
        assert (letter.message.id, letter.message.attempts, letter.error) == (
            message.id,
            CONTRACT_MAX_ATTEMPTS,
            "no",
        )

    async def test_an_interrupted_delivery_gives_its_messages_back_untouched(
        self, hx_outbox: _Subject
    ) -> None:
        (message,) = await hx_outbox.commit(_message())

        def interrupt(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            raise _Interrupt

        with pytest.raises(_Interrupt):
            await hx_outbox.deliver(interrupt)
        (again,) = (await hx_outbox.claim()).messages
        assert (again.id, again.attempts, again.last_error) == (message.id, 1, None)

    async def test_a_delivery_and_leases_share_the_outbox(self, hx_outbox: _Subject) -> None:
        first, second = await hx_outbox.commit(_message(b"1"), _message(b"2"))
        lease = await hx_outbox.claim(limit=1)
        broker = _Broker()
        await hx_outbox.deliver(broker.publish)
        assert broker.ids() == [second.id]
        assert await hx_outbox.relay.acknowledge(lease, [first.id]) == AcknowledgeResult(1, 0)

    async def test_a_bad_delivery_limit_is_refused(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        broker = _Broker()
        for limit in (0, -1, cast(Any, "10"), cast(Any, True)):
            with pytest.raises(ValueError, match="limit"):
                await hx_outbox.deliver(broker.publish, limit=limit)
        assert broker.batches == 0
        assert len(await hx_outbox.claim_ids()) == 1

    async def test_a_delivery_inside_a_transaction_is_refused(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        broker = _Broker()
        async with hx_outbox.transactions.begin():
            with pytest.raises(TransactionUsageError):
                await hx_outbox.deliver(broker.publish)
        assert broker.batches == 0

    # -- dead letters ----------------------------------------------------------------------------

    async def test_the_rejection_at_max_attempts_dead_letters_the_message(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        for attempt in range(1, CONTRACT_MAX_ATTEMPTS + 1):
            lease = await hx_outbox.claim()
            assert _ids(lease.messages) == [message.id]
            result = await hx_outbox.relay.reject(
                lease, message.id, f"failure {attempt}", retry_after=dt.timedelta(0)
            )
            last = attempt == CONTRACT_MAX_ATTEMPTS
            assert result == AcknowledgeResult(1, 0, dead_lettered=1 if last else 0)
        assert await hx_outbox.claim_ids() == []
        (letter,) = await hx_outbox.relay.dead_letters()
        assert (letter.message.id, letter.message.attempts, letter.error) == (
            message.id,
            CONTRACT_MAX_ATTEMPTS,
            f"failure {CONTRACT_MAX_ATTEMPTS}",
        )

    async def test_a_claim_dead_letters_a_message_whose_leases_all_expired(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        for _ in range(CONTRACT_MAX_ATTEMPTS):
            assert await hx_outbox.claim_ids(lease_for=_SHORT) == [message.id]
            await hx_outbox.advance(_PAST_SHORT)
        assert await hx_outbox.claim_ids() == []
        (letter,) = await hx_outbox.relay.dead_letters()
        assert letter.message.id == message.id
        assert letter.message.attempts == CONTRACT_MAX_ATTEMPTS
        assert letter.error

    async def test_dead_letter_moves_a_leased_message_at_once(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message(b"poison"))
        lease = await hx_outbox.claim()
        before = _now()
        assert await hx_outbox.relay.dead_letter(lease, message.id, "cannot parse") == AcknowledgeResult(1, 0)
        (letter,) = await hx_outbox.relay.dead_letters()
        assert (letter.message.id, letter.message.payload, letter.error) == (
            message.id,
            b"poison",
            "cannot parse",
        )
        assert letter.failed_at >= before - dt.timedelta(seconds=1)

    async def test_dead_letter_with_an_expired_lease_is_stale(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        first = await hx_outbox.claim(lease_for=_SHORT)
        await hx_outbox.advance(_PAST_SHORT)
        await hx_outbox.claim()
        assert await hx_outbox.relay.dead_letter(first, message.id, "late") == AcknowledgeResult(0, 1)
        assert await hx_outbox.relay.dead_letters() == []

    async def test_a_dead_lettered_first_message_frees_its_key(self, hx_outbox: _Subject) -> None:
        a1, a2 = await hx_outbox.commit(_message(ordering_key="a"), _message(ordering_key="a"))
        lease = await hx_outbox.claim()
        await hx_outbox.relay.dead_letter(lease, a1.id, "poison")
        assert await hx_outbox.claim_ids() == [a2.id]

    async def test_dead_letters_come_oldest_first_up_to_limit(self, hx_outbox: _Subject) -> None:
        messages = await hx_outbox.commit(_message(b"1"), _message(b"2"), _message(b"3"))
        lease = await hx_outbox.claim()
        for message in messages:
            await hx_outbox.relay.dead_letter(lease, message.id, "poison")
            await hx_outbox.advance(dt.timedelta(milliseconds=2))
        letters = await hx_outbox.relay.dead_letters(limit=2)
        assert [letter.message.id for letter in letters] == _ids(messages[:2])

    # -- requeue and purge ------------------------------------------------------------------------

    async def test_requeue_moves_every_dead_letter_back_with_zero_attempts(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        await hx_outbox.relay.dead_letter(lease, message.id, "poison")
        assert await hx_outbox.relay.requeue() == 1
        assert await hx_outbox.relay.dead_letters() == []
        again = await hx_outbox.claim()
        assert [(m.id, m.attempts, m.last_error) for m in again.messages] == [(message.id, 1, "poison")]

    async def test_requeue_moves_only_the_dead_letters_named(self, hx_outbox: _Subject) -> None:
        first, second = await hx_outbox.commit(_message(b"1"), _message(b"2"))
        lease = await hx_outbox.claim()
        for message in (first, second):
            await hx_outbox.relay.dead_letter(lease, message.id, "poison")
        assert await hx_outbox.relay.requeue([first.id, uuid.uuid4()]) == 1
        assert [letter.message.id for letter in await hx_outbox.relay.dead_letters()] == [second.id]
        assert await hx_outbox.claim_ids() == [first.id]

    async def test_a_requeued_message_keeps_its_place_in_its_key(self, hx_outbox: _Subject) -> None:
        a1, _a2 = await hx_outbox.commit(_message(ordering_key="a"), _message(ordering_key="a"))
        lease = await hx_outbox.claim()
        await hx_outbox.relay.dead_letter(lease, a1.id, "poison")
        assert await hx_outbox.relay.requeue([a1.id]) == 1
        assert await hx_outbox.claim_ids() == [a1.id]

    async def test_a_dead_letter_whose_idempotency_key_is_in_use_stays(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message(idempotency_key="k"))
        lease = await hx_outbox.claim()
        await hx_outbox.relay.dead_letter(lease, message.id, "poison")
        await hx_outbox.commit(_message(idempotency_key="k"))
        assert await hx_outbox.relay.requeue() == 0
        assert [letter.message.id for letter in await hx_outbox.relay.dead_letters()] == [message.id]

    async def test_purge_deletes_the_dead_letters_older_than_the_cutoff(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message())
        lease = await hx_outbox.claim()
        await hx_outbox.relay.dead_letter(lease, message.id, "poison")
        assert await hx_outbox.relay.purge(dead_before=_now() - dt.timedelta(hours=1)) == 0
        assert await hx_outbox.relay.purge(dead_before=_now() + dt.timedelta(hours=1)) == 1
        assert await hx_outbox.relay.dead_letters() == []

    # -- stats ------------------------------------------------------------------------------------

    async def test_the_stats_of_an_empty_outbox(self, hx_outbox: _Subject) -> None:
        assert await hx_outbox.relay.stats() == OutboxStats(0, 0, 0, None)

    async def test_the_stats_count_pending_leased_and_dead_messages(self, hx_outbox: _Subject) -> None:
        first, second, _third = await hx_outbox.commit(_message(b"1"), _message(b"2"), _message(b"3"))
        lease = await hx_outbox.claim(limit=2)
        assert _ids(lease.messages) == [first.id, second.id]
        await hx_outbox.relay.dead_letter(lease, first.id, "poison")
        stats = await hx_outbox.relay.stats()
        assert (stats.pending, stats.leased, stats.dead) == (1, 1, 1)
        assert stats.oldest_pending_age is not None
        assert dt.timedelta(0) <= stats.oldest_pending_age < dt.timedelta(minutes=1)

    async def test_a_message_whose_lease_expired_counts_as_pending(self, hx_outbox: _Subject) -> None:
        await hx_outbox.commit(_message())
        await hx_outbox.claim(lease_for=_SHORT)
        await hx_outbox.advance(_PAST_SHORT)
        stats = await hx_outbox.relay.stats()
        assert (stats.pending, stats.leased) == (1, 0)

    # -- bad input --------------------------------------------------------------------------------

    async def _refused(self, subject: _Subject, message: OutboxMessage, field: str) -> None:
        """Adding ``message`` (after a valid one, in one batch) raises and writes nothing."""
        async with subject.transactions.begin():
            with pytest.raises(InvalidMessageError) as raised:
                await subject.writer.add_all([_message(), message])
            with pytest.raises(InvalidMessageError):
                await subject.writer.add(message)
        assert raised.value.field.startswith(field)
        assert await subject.claim_ids() == []

    async def test_a_blank_topic_is_refused(self, hx_outbox: _Subject) -> None:
        await self._refused(hx_outbox, attrs.evolve(_message(), topic="  "), "topic")

    async def test_text_with_a_lone_surrogate_is_refused(self, hx_outbox: _Subject) -> None:
        # A Python str may hold one; no database takes it.
        await self._refused(hx_outbox, attrs.evolve(_message(), topic="t\ud800"), "topic")
        await self._refused(hx_outbox, attrs.evolve(_message(), headers={"h": "\udc00"}), "headers")

    async def test_a_payload_that_is_not_bytes_is_refused(self, hx_outbox: _Subject) -> None:
        not_bytes: Any = "text"
        await self._refused(hx_outbox, attrs.evolve(_message(), payload=not_bytes), "payload")

    async def test_an_oversized_payload_is_refused(self, hx_outbox: _Subject) -> None:
        oversized = attrs.evolve(_message(), payload=b"x" * (CONTRACT_MAX_PAYLOAD_BYTES + 1))
        await self._refused(hx_outbox, oversized, "payload")

    async def test_a_payload_of_the_largest_size_is_accepted(self, hx_outbox: _Subject) -> None:
        (message,) = await hx_outbox.commit(_message(b"x" * CONTRACT_MAX_PAYLOAD_BYTES))
        assert await hx_outbox.claim_ids() == [message.id]

    async def test_headers_that_are_not_strings_are_refused(self, hx_outbox: _Subject) -> None:
        bad_headers: Any = {"retries": 3}
        await self._refused(hx_outbox, attrs.evolve(_message(), headers=bad_headers), "headers")

    async def test_naive_datetimes_are_refused(self, hx_outbox: _Subject) -> None:
        naive = dt.datetime.now().replace(tzinfo=None)
        await self._refused(hx_outbox, attrs.evolve(_message(), created_at=naive), "created_at")
        await self._refused(hx_outbox, attrs.evolve(_message(), available_at=naive), "available_at")


class OutboxContract(_OutboxBehaviour):
    """Behaviour every sync outbox writer and relay store shares; needs an ``outbox_harness`` fixture (:class:`OutboxHarness`)."""

    @pytest.fixture
    def hx_outbox(self, outbox_harness: OutboxHarness) -> _Subject:
        """The sync adapters of ``outbox_harness``, seen through async wrappers."""
        return _Subject.of_sync(outbox_harness)


class AsyncOutboxContract(_OutboxBehaviour):
    """Behaviour every async outbox writer and relay store shares; needs an ``outbox_harness`` fixture (:class:`AsyncOutboxHarness`)."""

    @pytest.fixture
    def hx_outbox(self, outbox_harness: AsyncOutboxHarness) -> _Subject:
        """The adapters of ``outbox_harness``."""
        return _Subject.of_async(outbox_harness)
