# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The outbox contract for an :class:`AsyncOutboxWriter` and :class:`AsyncOutboxRelayStore`; see :mod:`hexalchemy.testing.contracts.outbox`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final, Protocol, cast

import attrs
import pytest

from hexalchemy.ports import (
    AcknowledgeResult,
    AsyncOutboxRelayStore,
    AsyncOutboxWriter,
    AsyncTransactionManager,
    DeliveryResult,
    InvalidArgumentError,
    InvalidMessageError,
    Lease,
    NoActiveTransactionError,
    OutboxMessage,
    OutboxStats,
    PublishResult,
    ReadOnlyTransactionError,
    TransactionUsageError,
)
from hexalchemy.ports.outbox import AsyncPublish
from hexalchemy.rules import new_message
from hexalchemy.rules.arguments import MAX_BATCH, MAX_DURATION
from hexalchemy.rules.outbox_results import MISSING_RESULT
from hexalchemy.testing.contracts._support import AsyncContract, BoomError

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


class AsyncOutboxHarness(Protocol):
    """The outbox adapters under test, on an empty outbox (see :mod:`hexalchemy.testing.contracts.outbox`)."""

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


class _Interrupt(BaseException):
    """Raised by a publisher to stand for the relay dying mid-batch (like ``KeyboardInterrupt``)."""


class _Broker:
    """A publisher that records what it was given; refuses the ids in ``refuse`` with their error."""

    def __init__(self, refuse: dict[uuid.UUID, str] | None = None) -> None:
        self.refuse = refuse or {}
        self.published: list[OutboxMessage] = []
        self.batches = 0

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
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


async def _commit(harness: AsyncOutboxHarness, *messages: OutboxMessage) -> list[OutboxMessage]:
    """Add ``messages`` in a committed transaction and return them."""
    async with harness.transactions.begin():
        await harness.writer.add_all(messages)
    return list(messages)


async def _claim(harness: AsyncOutboxHarness, *, limit: int = 100, lease_for: dt.timedelta = _LONG) -> Lease:
    return await harness.relay.claim(limit=limit, lease_for=lease_for)


async def _claim_ids(
    harness: AsyncOutboxHarness, *, limit: int = 100, lease_for: dt.timedelta = _LONG
) -> list[uuid.UUID]:
    lease = await _claim(harness, limit=limit, lease_for=lease_for)
    return _ids(lease.messages)


async def _deliver(harness: AsyncOutboxHarness, publish: AsyncPublish, *, limit: int = 100) -> DeliveryResult:
    """A locked delivery through the relay store under test."""
    return await harness.relay.deliver(publish, limit=limit)


class AsyncOutboxContract(AsyncContract):
    """Behaviour every outbox writer and relay store shares; needs a ``harness`` fixture (:class:`AsyncOutboxHarness`)."""

    # -- atomicity with the business transaction ------------------------------------------------

    async def test_a_committed_message_is_claimable(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())
        assert await _claim_ids(harness) == [message.id]

    async def test_a_rolled_back_transaction_leaves_no_message(self, harness: AsyncOutboxHarness) -> None:
        with pytest.raises(BoomError):
            async with harness.transactions.begin():
                assert await harness.writer.add(_message())
                raise BoomError
        assert await _claim_ids(harness) == []

    async def test_a_rolled_back_savepoint_drops_only_its_messages(self, harness: AsyncOutboxHarness) -> None:
        kept, dropped = _message(b"kept"), _message(b"dropped")
        async with harness.transactions.begin():
            await harness.writer.add(kept)
            with pytest.raises(BoomError):
                async with harness.transactions.begin():
                    await harness.writer.add(dropped)
                    raise BoomError
        assert await _claim_ids(harness) == [kept.id]

    async def test_add_outside_a_transaction_raises(self, harness: AsyncOutboxHarness) -> None:
        with pytest.raises(NoActiveTransactionError):
            await harness.writer.add(_message())

    async def test_add_all_outside_a_transaction_raises(self, harness: AsyncOutboxHarness) -> None:
        with pytest.raises(NoActiveTransactionError):
            await harness.writer.add_all([_message()])

    async def test_add_in_a_read_only_transaction_raises(self, harness: AsyncOutboxHarness) -> None:
        async with harness.transactions.begin(read_only=True):
            with pytest.raises(ReadOnlyTransactionError):
                await harness.writer.add(_message())

    async def test_a_claimed_message_is_the_message_written(self, harness: AsyncOutboxHarness) -> None:
        message = new_message(
            "billing.invoice-paid",
            bytes(range(256)),
            headers={"content-type": "application/octet-stream", "trace": ""},
            ordering_key="customer-7",
            idempotency_key="invoice-12",
        )
        await _commit(harness, message)
        lease = await _claim(harness)
        assert lease.messages == (attrs.evolve(message, attempts=1),)

    async def test_add_all_returns_how_many_were_added(self, harness: AsyncOutboxHarness) -> None:
        async with harness.transactions.begin():
            assert await harness.writer.add_all([_message(), _message(), _message()]) == 3
            assert await harness.writer.add_all([]) == 0

    # -- idempotency keys -------------------------------------------------------------------------

    async def test_a_repeated_idempotency_key_is_ignored_in_one_transaction(
        self, harness: AsyncOutboxHarness
    ) -> None:
        first, repeat = _message(b"1", idempotency_key="k"), _message(b"2", idempotency_key="k")
        async with harness.transactions.begin():
            assert await harness.writer.add(first)
            assert not await harness.writer.add(repeat)
        assert await _claim_ids(harness) == [first.id]

    async def test_a_repeated_idempotency_key_is_ignored_in_a_later_transaction(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (first,) = await _commit(harness, _message(b"1", idempotency_key="k"))
        async with harness.transactions.begin():
            assert not await harness.writer.add(_message(b"2", idempotency_key="k"))
        assert await _claim_ids(harness) == [first.id]

    async def test_an_idempotency_key_is_per_topic(self, harness: AsyncOutboxHarness) -> None:
        async with harness.transactions.begin():
            assert await harness.writer.add(_message(topic="a", idempotency_key="k"))
            assert await harness.writer.add(_message(topic="b", idempotency_key="k"))
        assert len(await _claim_ids(harness)) == 2

    async def test_add_all_counts_only_the_messages_added(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message(idempotency_key="stored"))
        batch = [
            _message(idempotency_key="stored"),
            _message(idempotency_key="new"),
            _message(idempotency_key="new"),
            _message(),
        ]
        async with harness.transactions.begin():
            assert await harness.writer.add_all(batch) == 2
        assert len(await _claim_ids(harness)) == 3

    async def test_the_same_message_added_twice_is_stored_once(self, harness: AsyncOutboxHarness) -> None:
        message = _message()
        async with harness.transactions.begin():
            assert await harness.writer.add(message)
            assert not await harness.writer.add(message)
        assert await _claim_ids(harness) == [message.id]

    async def test_an_idempotency_key_is_free_again_once_its_message_is_delivered(
        self, harness: AsyncOutboxHarness
    ) -> None:
        await _commit(harness, _message(idempotency_key="k"))
        lease = await _claim(harness)
        await harness.relay.acknowledge(lease, _ids(lease.messages))
        async with harness.transactions.begin():
            assert await harness.writer.add(_message(idempotency_key="k"))

    # -- claims: limit and order ------------------------------------------------------------------

    async def test_a_claim_leases_at_most_limit_messages_in_created_order(
        self, harness: AsyncOutboxHarness
    ) -> None:
        messages = await _commit(harness, *[_message(bytes([i])) for i in range(5)])
        assert await _claim_ids(harness, limit=2) == _ids(messages[:2])
        assert await _claim_ids(harness, limit=10) == _ids(messages[2:])

    async def test_messages_of_several_transactions_come_in_created_order(
        self, harness: AsyncOutboxHarness
    ) -> None:
        first = await _commit(harness, _message(b"1"), _message(b"2"))
        second = await _commit(harness, _message(b"3"))
        assert await _claim_ids(harness) == _ids(first + second)

    async def test_a_claim_of_an_empty_outbox_is_an_empty_lease(self, harness: AsyncOutboxHarness) -> None:
        before = _now()
        lease = await _claim(harness, lease_for=_LONG)
        assert lease.messages == ()
        assert lease.expires_at > before

    async def test_a_lease_expires_lease_for_after_the_claim(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        before = _now()
        lease = await _claim(harness, lease_for=_LONG)
        after = _now()
        slack = dt.timedelta(seconds=1)  # the store's clock may be the database's
        assert before + _LONG - slack <= lease.expires_at <= after + _LONG + slack

    async def test_a_claim_counts_an_attempt(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        lease = await _claim(harness)
        assert [message.attempts for message in lease.messages] == [1]

    async def test_a_leased_message_is_not_claimed_again(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        assert len(await _claim_ids(harness)) == 1
        assert await _claim_ids(harness) == []

    async def test_a_message_is_claimable_from_its_available_at(self, harness: AsyncOutboxHarness) -> None:
        later = await _commit(harness, _message(available_at=_now() + _SHORT))
        await _commit(harness, _message(available_at=_now() + _LONG))
        await harness.advance(_PAST_SHORT)
        assert await _claim_ids(harness) == _ids(later)

    async def test_a_bad_claim_is_refused(self, harness: AsyncOutboxHarness) -> None:
        with pytest.raises(InvalidArgumentError, match="limit"):
            await harness.relay.claim(limit=0, lease_for=_LONG)
        with pytest.raises(InvalidArgumentError, match="lease_for"):
            await harness.relay.claim(limit=1, lease_for=dt.timedelta(0))

    @pytest.mark.parametrize("limit", [MAX_BATCH + 1, 2**63])
    async def test_a_claim_above_the_batch_bound_is_refused(
        self, harness: AsyncOutboxHarness, limit: int
    ) -> None:
        await _commit(harness, _message())
        with pytest.raises(InvalidArgumentError, match="limit"):
            await harness.relay.claim(limit=limit, lease_for=_LONG)
        assert len(await _claim_ids(harness)) == 1

    @pytest.mark.parametrize("lease_for", [MAX_DURATION + dt.timedelta(seconds=1), dt.timedelta.max])
    async def test_a_lease_longer_than_the_bound_is_refused(
        self, harness: AsyncOutboxHarness, lease_for: dt.timedelta
    ) -> None:
        await _commit(harness, _message())
        with pytest.raises(InvalidArgumentError, match="lease_for"):
            await harness.relay.claim(limit=1, lease_for=lease_for)
        assert len(await _claim_ids(harness)) == 1

    async def test_outcomes_refuse_what_is_not_a_lease(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        not_a_lease: Any = lease.token
        with pytest.raises(InvalidArgumentError, match="lease"):
            await harness.relay.acknowledge(not_a_lease, [message.id])
        with pytest.raises(InvalidArgumentError, match="lease"):
            await harness.relay.reject(not_a_lease, message.id, "x")
        assert await harness.relay.acknowledge(lease, [message.id]) == AcknowledgeResult(1, 0)

    @pytest.mark.parametrize("ids", [5, "not ids", [None], [str(uuid.UUID(int=1))]])
    async def test_ids_must_be_an_iterable_of_uuids(self, harness: AsyncOutboxHarness, ids: Any) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        with pytest.raises(InvalidArgumentError, match="ids"):
            await harness.relay.acknowledge(lease, ids)
        with pytest.raises(InvalidArgumentError, match="ids"):
            await harness.relay.release(lease, ids)
        with pytest.raises(InvalidArgumentError, match="ids"):
            await harness.relay.requeue(ids)
        assert await harness.relay.acknowledge(lease, [message.id]) == AcknowledgeResult(1, 0)

    @pytest.mark.parametrize("limit", [0, -1, MAX_BATCH + 1, cast(Any, "10")])
    async def test_a_bad_dead_letters_limit_is_refused(self, harness: AsyncOutboxHarness, limit: int) -> None:
        with pytest.raises(InvalidArgumentError, match="limit"):
            await harness.relay.dead_letters(limit=limit)

    @pytest.mark.parametrize(
        "dead_before",
        [
            dt.datetime(2024, 1, 1),
            dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            cast(Any, "2024-01-01"),
        ],
    )
    async def test_purge_refuses_a_naive_or_out_of_range_time(
        self, harness: AsyncOutboxHarness, dead_before: dt.datetime
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="dead_before"):
            await harness.relay.purge(dead_before=dead_before)

    @pytest.mark.parametrize("messages", [5, None, "message"])
    async def test_add_all_refuses_what_is_not_an_iterable(
        self, harness: AsyncOutboxHarness, messages: Any
    ) -> None:
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="messages"):
                await harness.writer.add_all(messages)
        assert await _claim_ids(harness) == []

    async def test_a_message_time_beyond_year_9999_in_utc_is_refused(
        self, harness: AsyncOutboxHarness
    ) -> None:
        late = dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone(-dt.timedelta(hours=1)))
        async with harness.transactions.begin():
            with pytest.raises(InvalidMessageError, match="available_at"):
                await harness.writer.add(attrs.evolve(_message(), available_at=late))
        assert await _claim_ids(harness) == []

    async def test_the_relay_store_refuses_calls_inside_a_transaction(
        self, harness: AsyncOutboxHarness
    ) -> None:
        async with harness.transactions.begin():
            with pytest.raises(TransactionUsageError):
                await _claim(harness)

    # -- ordering keys ----------------------------------------------------------------------------

    async def test_only_the_first_message_of_each_key_is_claimable(self, harness: AsyncOutboxHarness) -> None:
        a1, _a2, b1, free = await _commit(
            harness,
            _message(ordering_key="a"),
            _message(ordering_key="a"),
            _message(ordering_key="b"),
            _message(),
        )
        assert await _claim_ids(harness) == [a1.id, b1.id, free.id]

    async def test_a_key_is_held_while_its_first_message_is_leased(self, harness: AsyncOutboxHarness) -> None:
        a1, a2 = await _commit(harness, _message(ordering_key="a"), _message(ordering_key="a"))
        lease = await _claim(harness)
        (b1,) = await _commit(harness, _message(ordering_key="b"))
        assert await _claim_ids(harness) == [b1.id]
        await harness.relay.acknowledge(lease, [a1.id])
        assert await _claim_ids(harness) == [a2.id]

    async def test_a_key_is_held_while_its_first_message_waits_for_a_retry(
        self, harness: AsyncOutboxHarness
    ) -> None:
        a1, _a2, b1 = await _commit(
            harness, _message(ordering_key="a"), _message(ordering_key="a"), _message(ordering_key="b")
        )
        lease = await _claim(harness)
        assert _ids(lease.messages) == [a1.id, b1.id]
        await harness.relay.reject(lease, a1.id, "broker down", retry_after=_LONG)
        await harness.relay.acknowledge(lease, [b1.id])
        (b2,) = await _commit(harness, _message(ordering_key="b"))
        assert await _claim_ids(harness) == [b2.id]

    async def test_the_messages_of_a_key_come_in_commit_order(self, harness: AsyncOutboxHarness) -> None:
        created_first, created_second = _message(ordering_key="a"), _message(ordering_key="a")
        await _commit(harness, created_second)
        await _commit(harness, created_first)
        lease = await _claim(harness)
        assert _ids(lease.messages) == [created_second.id]
        await harness.relay.acknowledge(lease, [created_second.id])
        assert await _claim_ids(harness) == [created_first.id]

    # -- acknowledgements and leases --------------------------------------------------------------

    async def test_an_acknowledged_message_is_gone(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        # a lease no wall-clock delay before the acknowledgement can outlive (a 25 ms one could
        # expire first on a loaded machine); gone, not leased: neither pending, leased nor dead
        lease = await _claim(harness)
        assert await harness.relay.acknowledge(lease, _ids(lease.messages)) == AcknowledgeResult(1, 0)
        stats = await harness.relay.stats()
        assert (stats.pending, stats.leased, stats.dead) == (0, 0, 0)
        assert await _claim_ids(harness) == []

    async def test_acknowledging_a_message_the_lease_does_not_hold_is_stale(
        self, harness: AsyncOutboxHarness
    ) -> None:
        await _commit(harness, _message())
        lease = await _claim(harness)
        result = await harness.relay.acknowledge(lease, [*_ids(lease.messages), uuid.uuid4()])
        assert result == AcknowledgeResult(1, 1)

    async def test_a_message_whose_lease_expired_is_claimable_again(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        first = await _claim(harness, lease_for=_SHORT)
        await harness.advance(_PAST_SHORT)
        second = await _claim(harness)
        assert _ids(second.messages) == [message.id]
        assert second.messages[0].attempts == 2
        assert second.token != first.token

    async def test_the_acknowledgement_of_an_expired_lease_is_stale_and_changes_nothing(
        self, harness: AsyncOutboxHarness
    ) -> None:
        await _commit(harness, _message())
        first = await _claim(harness, lease_for=_SHORT)
        await harness.advance(_PAST_SHORT)
        second = await _claim(harness)
        assert await harness.relay.acknowledge(first, _ids(first.messages)) == AcknowledgeResult(0, 1)
        assert await harness.relay.acknowledge(second, _ids(second.messages)) == AcknowledgeResult(1, 0)

    async def test_released_messages_are_claimable_at_once_without_an_attempt(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        assert await harness.relay.release(lease, [message.id]) == AcknowledgeResult(1, 0)
        again = await _claim(harness)
        assert [(m.id, m.attempts) for m in again.messages] == [(message.id, 1)]

    async def test_releasing_with_an_expired_lease_is_stale(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        first = await _claim(harness, lease_for=_SHORT)
        await harness.advance(_PAST_SHORT)
        await _claim(harness)
        assert await harness.relay.release(first, _ids(first.messages)) == AcknowledgeResult(0, 1)
        assert await _claim_ids(harness) == []

    # -- rejections and backoff -------------------------------------------------------------------

    async def test_a_rejected_message_waits_for_retry_after(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        result = await harness.relay.reject(lease, message.id, "broker down", retry_after=_LONG)
        assert result == AcknowledgeResult(1, 0)
        assert await _claim_ids(harness) == []
        stats = await harness.relay.stats()
        assert (stats.pending, stats.leased) == (1, 0)

    async def test_a_retried_message_keeps_its_attempts_and_error(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        await harness.relay.reject(lease, message.id, "broker down", retry_after=_SHORT)
        await harness.advance(_PAST_SHORT)
        again = await _claim(harness)
        assert [(m.id, m.attempts, m.last_error) for m in again.messages] == [(message.id, 2, "broker down")]

    async def test_a_rejection_without_retry_after_backs_off_at_most_max_delay(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        await harness.relay.reject(lease, message.id, "broker down")
        await harness.advance(CONTRACT_MAX_DELAY + _SHORT)
        assert await _claim_ids(harness) == [message.id]

    async def test_a_rejection_with_an_expired_lease_is_stale(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())
        first = await _claim(harness, lease_for=_SHORT)
        await harness.advance(_PAST_SHORT)
        second = await _claim(harness)
        assert await harness.relay.reject(first, message.id, "late") == AcknowledgeResult(0, 1)
        assert await harness.relay.acknowledge(second, [message.id]) == AcknowledgeResult(1, 0)

    async def test_a_bad_retry_after_is_refused(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        with pytest.raises(InvalidArgumentError, match="retry_after"):
            await harness.relay.reject(lease, message.id, "x", retry_after=dt.timedelta(seconds=-1))

    # -- locked delivery ---------------------------------------------------------------------------

    async def test_a_delivery_publishes_due_messages_in_order_and_removes_them(
        self, harness: AsyncOutboxHarness
    ) -> None:
        messages = await _commit(harness, _message(b"1"), _message(b"2"), _message(b"3"))
        broker = _Broker()
        result = await _deliver(harness, broker.publish, limit=2)
        assert result == DeliveryResult(messages=2, published=2, retried=0, dead_lettered=0)
        assert result.error is None
        assert broker.ids() == _ids(messages[:2])
        assert await _claim_ids(harness) == _ids(messages[2:])

    async def test_a_delivered_message_is_the_message_written_with_its_attempt_counted(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(
            harness, new_message(_TOPIC, b"body", headers={"h": "v"}, ordering_key="k", idempotency_key="i")
        )
        broker = _Broker()
        await _deliver(harness, broker.publish)
        (delivered,) = broker.published
        assert delivered == attrs.evolve(message, attempts=1)

    async def test_a_delivery_of_an_empty_outbox_calls_no_publisher(
        self, harness: AsyncOutboxHarness
    ) -> None:
        broker = _Broker()
        assert await _deliver(harness, broker.publish) == DeliveryResult(0, 0, 0, 0)
        assert broker.batches == 0

    async def test_a_delivery_takes_only_the_first_message_of_each_key(
        self, harness: AsyncOutboxHarness
    ) -> None:
        a1, a2, b1 = await _commit(
            harness, _message(ordering_key="a"), _message(ordering_key="a"), _message(ordering_key="b")
        )
        broker = _Broker()
        await _deliver(harness, broker.publish)
        assert broker.ids() == [a1.id, b1.id]
        await _deliver(harness, broker.publish)
        assert broker.ids() == [a1.id, b1.id, a2.id]

    async def test_a_failed_message_is_retried_after_a_backoff_with_its_error(
        self, harness: AsyncOutboxHarness
    ) -> None:
        ok, bad = await _commit(harness, _message(b"ok"), _message(b"bad"))
        broker = _Broker(refuse={bad.id: "broker said no"})
        result = await _deliver(harness, broker.publish)
        assert result == DeliveryResult(messages=2, published=1, retried=1, dead_lettered=0)
        await harness.advance(CONTRACT_MAX_DELAY * 2)  # the backoff is jittered: wait out its cap
        again = await _claim(harness)
        assert [(m.id, m.attempts, m.last_error) for m in again.messages] == [(bad.id, 2, "broker said no")]
        assert ok.id not in _ids(again.messages)

    async def test_a_failed_first_message_holds_its_key(self, harness: AsyncOutboxHarness) -> None:
        a1, a2 = await _commit(harness, _message(ordering_key="a"), _message(ordering_key="a"))
        await _deliver(harness, _Broker(refuse={a1.id: "no"}).publish)
        await harness.advance(CONTRACT_MAX_DELAY * 2)
        broker = _Broker()
        await _deliver(harness, broker.publish)
        await _deliver(harness, broker.publish)
        assert broker.ids() == [a1.id, a2.id]

    async def test_a_message_with_no_result_counts_as_failed(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())

        async def no_results(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            return []

        result = await _deliver(harness, no_results)
        assert (result.published, result.retried) == (0, 1)
        await harness.advance(CONTRACT_MAX_DELAY * 2)
        (again,) = (await _claim(harness)).messages
        assert (again.id, again.last_error) == (message.id, MISSING_RESULT)

    async def test_a_publisher_exception_fails_the_batch_and_is_returned(
        self, harness: AsyncOutboxHarness
    ) -> None:
        first, second = await _commit(harness, _message(b"1"), _message(b"2"))
        boom = BoomError("broker down")

        async def explode(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            raise boom

        result = await _deliver(harness, explode)
        assert result == DeliveryResult(messages=2, published=0, retried=2, dead_lettered=0)
        assert result.error is boom
        await harness.advance(CONTRACT_MAX_DELAY * 2)
        again = await _claim(harness)
        assert set(_ids(again.messages)) == {first.id, second.id}  # the backoff is jittered
        assert {m.last_error for m in again.messages} == {"the publisher raised BoomError: broker down"}

    async def test_results_of_the_wrong_type_fail_the_batch(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())

        async def wrong_results(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            not_results: Any = ["not a result"]
            return cast(Sequence[PublishResult], not_results)

        result = await _deliver(harness, wrong_results)
        assert (result.messages, result.published, result.retried) == (1, 0, 1)
        assert isinstance(result.error, InvalidArgumentError)

    async def test_the_failure_at_max_attempts_dead_letters_the_message(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        broker = _Broker(refuse={message.id: "no"})
        for attempt in range(1, CONTRACT_MAX_ATTEMPTS + 1):
            result = await _deliver(harness, broker.publish)
            assert result.dead_lettered == (1 if attempt == CONTRACT_MAX_ATTEMPTS else 0)
            await harness.advance(CONTRACT_MAX_DELAY * 2)
        assert await _claim_ids(harness) == []
        (letter,) = await harness.relay.dead_letters()
        assert (letter.message.id, letter.message.attempts, letter.error) == (
            message.id,
            CONTRACT_MAX_ATTEMPTS,
            "no",
        )

    async def test_an_interrupted_delivery_counts_its_attempt(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())

        async def interrupt(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            raise _Interrupt

        with pytest.raises(_Interrupt):
            await _deliver(harness, interrupt)
        broker = _Broker()
        result = await _deliver(harness, broker.publish)
        assert result == DeliveryResult(messages=1, published=1, retried=0, dead_lettered=0, isolated=1)
        (again,) = broker.published
        assert (again.id, again.attempts, again.last_error) == (message.id, 2, None)

    async def test_the_messages_of_an_interrupted_delivery_are_published_alone(
        self, harness: AsyncOutboxHarness
    ) -> None:
        first, second = await _commit(harness, _message(b"1"), _message(b"2"))

        async def interrupt(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            raise _Interrupt

        with pytest.raises(_Interrupt):
            await _deliver(harness, interrupt)
        (later,) = await _commit(harness, _message(b"3"))
        broker = _Broker()
        batches: list[list[uuid.UUID]] = []
        for _ in range(3):
            before = len(broker.published)
            await _deliver(harness, broker.publish)
            batches.append(broker.ids()[before:])
        assert batches == [[first.id], [second.id], [later.id]]
        assert [m.attempts for m in broker.published] == [2, 2, 1]

    async def test_a_message_that_interrupts_every_delivery_is_dead_lettered_at_max_attempts(
        self, harness: AsyncOutboxHarness
    ) -> None:
        innocent, poison, other = await _commit(harness, _message(b"1"), _message(b"poison"), _message(b"3"))
        broker = _Broker()
        interrupts = 0

        async def dying(messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            nonlocal interrupts
            if any(message.id == poison.id for message in messages):
                interrupts += 1
                raise _Interrupt
            return await broker.publish(messages)

        for _ in range(3 * CONTRACT_MAX_ATTEMPTS):
            try:
                if (await _deliver(harness, dying)).messages == 0:
                    break
            except _Interrupt:
                pass
        assert interrupts == CONTRACT_MAX_ATTEMPTS
        assert sorted(broker.ids()) == sorted([innocent.id, other.id])  # each once
        assert {m.attempts for m in broker.published} == {2}  # one interrupted delivery each
        (letter,) = await harness.relay.dead_letters()
        assert (letter.message.id, letter.message.attempts) == (poison.id, CONTRACT_MAX_ATTEMPTS)
        assert str(CONTRACT_MAX_ATTEMPTS) in letter.error
        assert await harness.relay.stats() == OutboxStats(
            pending=0, leased=0, dead=1, oldest_pending_age=None
        )

    async def test_a_requeued_message_forgets_its_interrupted_deliveries(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())

        async def interrupt(_messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
            raise _Interrupt

        for _ in range(CONTRACT_MAX_ATTEMPTS):
            with pytest.raises(_Interrupt):
                await _deliver(harness, interrupt)
        broker = _Broker()
        assert await _deliver(harness, broker.publish) == DeliveryResult(0, 0, 0, 0)
        assert await harness.relay.requeue() == 1
        result = await _deliver(harness, broker.publish)
        assert (result.published, result.isolated) == (1, 0)
        assert [(m.id, m.attempts) for m in broker.published] == [(message.id, 1)]

    async def test_a_delivery_and_leases_share_the_outbox(self, harness: AsyncOutboxHarness) -> None:
        first, second = await _commit(harness, _message(b"1"), _message(b"2"))
        lease = await _claim(harness, limit=1)
        broker = _Broker()
        await _deliver(harness, broker.publish)
        assert broker.ids() == [second.id]
        assert await harness.relay.acknowledge(lease, [first.id]) == AcknowledgeResult(1, 0)

    async def test_a_bad_delivery_limit_is_refused(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        broker = _Broker()
        for limit in (0, -1, cast(Any, "10"), cast(Any, True)):
            with pytest.raises(InvalidArgumentError, match="limit"):
                await _deliver(harness, broker.publish, limit=limit)
        assert broker.batches == 0
        assert len(await _claim_ids(harness)) == 1

    async def test_a_delivery_inside_a_transaction_is_refused(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        broker = _Broker()
        async with harness.transactions.begin():
            with pytest.raises(TransactionUsageError):
                await _deliver(harness, broker.publish)
        assert broker.batches == 0

    # -- dead letters ----------------------------------------------------------------------------

    async def test_the_rejection_at_max_attempts_dead_letters_the_message(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        for attempt in range(1, CONTRACT_MAX_ATTEMPTS + 1):
            lease = await _claim(harness)
            assert _ids(lease.messages) == [message.id]
            result = await harness.relay.reject(
                lease, message.id, f"failure {attempt}", retry_after=dt.timedelta(0)
            )
            last = attempt == CONTRACT_MAX_ATTEMPTS
            assert result == AcknowledgeResult(1, 0, dead_lettered=1 if last else 0)
        assert await _claim_ids(harness) == []
        (letter,) = await harness.relay.dead_letters()
        assert (letter.message.id, letter.message.attempts, letter.error) == (
            message.id,
            CONTRACT_MAX_ATTEMPTS,
            f"failure {CONTRACT_MAX_ATTEMPTS}",
        )

    async def test_a_claim_dead_letters_a_message_whose_leases_all_expired(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        for _ in range(CONTRACT_MAX_ATTEMPTS):
            assert await _claim_ids(harness, lease_for=_SHORT) == [message.id]
            await harness.advance(_PAST_SHORT)
        assert await _claim_ids(harness) == []
        (letter,) = await harness.relay.dead_letters()
        assert letter.message.id == message.id
        assert letter.message.attempts == CONTRACT_MAX_ATTEMPTS
        assert letter.error

    async def test_dead_letter_moves_a_leased_message_at_once(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message(b"poison"))
        lease = await _claim(harness)
        before = _now()
        assert await harness.relay.dead_letter(lease, message.id, "cannot parse") == AcknowledgeResult(1, 0)
        (letter,) = await harness.relay.dead_letters()
        assert (letter.message.id, letter.message.payload, letter.error) == (
            message.id,
            b"poison",
            "cannot parse",
        )
        assert letter.failed_at >= before - dt.timedelta(seconds=1)

    async def test_dead_letter_with_an_expired_lease_is_stale(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message())
        first = await _claim(harness, lease_for=_SHORT)
        await harness.advance(_PAST_SHORT)
        await _claim(harness)
        assert await harness.relay.dead_letter(first, message.id, "late") == AcknowledgeResult(0, 1)
        assert await harness.relay.dead_letters() == []

    async def test_a_dead_lettered_first_message_frees_its_key(self, harness: AsyncOutboxHarness) -> None:
        a1, a2 = await _commit(harness, _message(ordering_key="a"), _message(ordering_key="a"))
        lease = await _claim(harness)
        await harness.relay.dead_letter(lease, a1.id, "poison")
        assert await _claim_ids(harness) == [a2.id]

    async def test_dead_letters_come_oldest_first_up_to_limit(self, harness: AsyncOutboxHarness) -> None:
        messages = await _commit(harness, _message(b"1"), _message(b"2"), _message(b"3"))
        lease = await _claim(harness)
        for message in messages:
            await harness.relay.dead_letter(lease, message.id, "poison")
            await harness.advance(dt.timedelta(milliseconds=2))
        letters = await harness.relay.dead_letters(limit=2)
        assert [letter.message.id for letter in letters] == _ids(messages[:2])

    # -- requeue and purge ------------------------------------------------------------------------

    async def test_requeue_moves_every_dead_letter_back_with_zero_attempts(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        await harness.relay.dead_letter(lease, message.id, "poison")
        assert await harness.relay.requeue() == 1
        assert await harness.relay.dead_letters() == []
        again = await _claim(harness)
        assert [(m.id, m.attempts, m.last_error) for m in again.messages] == [(message.id, 1, "poison")]

    async def test_requeue_moves_only_the_dead_letters_named(self, harness: AsyncOutboxHarness) -> None:
        first, second = await _commit(harness, _message(b"1"), _message(b"2"))
        lease = await _claim(harness)
        for message in (first, second):
            await harness.relay.dead_letter(lease, message.id, "poison")
        assert await harness.relay.requeue([first.id, uuid.uuid4()]) == 1
        assert [letter.message.id for letter in await harness.relay.dead_letters()] == [second.id]
        assert await _claim_ids(harness) == [first.id]

    async def test_a_requeued_message_keeps_its_place_in_its_key(self, harness: AsyncOutboxHarness) -> None:
        a1, _a2 = await _commit(harness, _message(ordering_key="a"), _message(ordering_key="a"))
        lease = await _claim(harness)
        await harness.relay.dead_letter(lease, a1.id, "poison")
        assert await harness.relay.requeue([a1.id]) == 1
        assert await _claim_ids(harness) == [a1.id]

    async def test_a_dead_letter_whose_idempotency_key_is_in_use_stays(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message(idempotency_key="k"))
        lease = await _claim(harness)
        await harness.relay.dead_letter(lease, message.id, "poison")
        await _commit(harness, _message(idempotency_key="k"))
        assert await harness.relay.requeue() == 0
        assert [letter.message.id for letter in await harness.relay.dead_letters()] == [message.id]

    async def test_purge_deletes_the_dead_letters_older_than_the_cutoff(
        self, harness: AsyncOutboxHarness
    ) -> None:
        (message,) = await _commit(harness, _message())
        lease = await _claim(harness)
        await harness.relay.dead_letter(lease, message.id, "poison")
        assert await harness.relay.purge(dead_before=_now() - dt.timedelta(hours=1)) == 0
        assert await harness.relay.purge(dead_before=_now() + dt.timedelta(hours=1)) == 1
        assert await harness.relay.dead_letters() == []

    # -- stats ------------------------------------------------------------------------------------

    async def test_the_stats_of_an_empty_outbox(self, harness: AsyncOutboxHarness) -> None:
        assert await harness.relay.stats() == OutboxStats(0, 0, 0, None)

    async def test_the_stats_count_pending_leased_and_dead_messages(
        self, harness: AsyncOutboxHarness
    ) -> None:
        first, second, _third = await _commit(harness, _message(b"1"), _message(b"2"), _message(b"3"))
        lease = await _claim(harness, limit=2)
        assert _ids(lease.messages) == [first.id, second.id]
        await harness.relay.dead_letter(lease, first.id, "poison")
        stats = await harness.relay.stats()
        assert (stats.pending, stats.leased, stats.dead) == (1, 1, 1)
        assert stats.oldest_pending_age is not None
        assert dt.timedelta(0) <= stats.oldest_pending_age < dt.timedelta(minutes=1)

    async def test_a_message_whose_lease_expired_counts_as_pending(self, harness: AsyncOutboxHarness) -> None:
        await _commit(harness, _message())
        await _claim(harness, lease_for=_SHORT)
        await harness.advance(_PAST_SHORT)
        stats = await harness.relay.stats()
        assert (stats.pending, stats.leased) == (1, 0)

    # -- bad input --------------------------------------------------------------------------------

    async def _refused(self, harness: AsyncOutboxHarness, message: OutboxMessage, field: str) -> None:
        """Adding ``message`` (after a valid one, in one batch) raises and writes nothing."""
        async with harness.transactions.begin():
            with pytest.raises(InvalidMessageError) as raised:
                await harness.writer.add_all([_message(), message])
            with pytest.raises(InvalidMessageError):
                await harness.writer.add(message)
        assert raised.value.field.startswith(field)
        assert await _claim_ids(harness) == []

    async def test_a_blank_topic_is_refused(self, harness: AsyncOutboxHarness) -> None:
        await self._refused(harness, attrs.evolve(_message(), topic="  "), "topic")

    async def test_text_with_a_lone_surrogate_is_refused(self, harness: AsyncOutboxHarness) -> None:
        # A Python str may hold one; no database takes it.
        await self._refused(harness, attrs.evolve(_message(), topic="t\ud800"), "topic")
        await self._refused(harness, attrs.evolve(_message(), headers={"h": "\udc00"}), "headers")

    async def test_a_payload_that_is_not_bytes_is_refused(self, harness: AsyncOutboxHarness) -> None:
        not_bytes: Any = "text"
        await self._refused(harness, attrs.evolve(_message(), payload=not_bytes), "payload")

    async def test_an_oversized_payload_is_refused(self, harness: AsyncOutboxHarness) -> None:
        oversized = attrs.evolve(_message(), payload=b"x" * (CONTRACT_MAX_PAYLOAD_BYTES + 1))
        await self._refused(harness, oversized, "payload")

    async def test_a_payload_of_the_largest_size_is_accepted(self, harness: AsyncOutboxHarness) -> None:
        (message,) = await _commit(harness, _message(b"x" * CONTRACT_MAX_PAYLOAD_BYTES))
        assert await _claim_ids(harness) == [message.id]

    async def test_headers_that_are_not_strings_are_refused(self, harness: AsyncOutboxHarness) -> None:
        bad_headers: Any = {"retries": 3}
        await self._refused(harness, attrs.evolve(_message(), headers=bad_headers), "headers")

    async def test_naive_datetimes_are_refused(self, harness: AsyncOutboxHarness) -> None:
        naive = dt.datetime.now().replace(tzinfo=None)
        await self._refused(harness, attrs.evolve(_message(), created_at=naive), "created_at")
        await self._refused(harness, attrs.evolve(_message(), available_at=naive), "available_at")
