"""The outbox contract: what every outbox writer and relay store must do, sync or async.

Subclass :class:`OutboxContract` (or :class:`AsyncOutboxContract`) and give it a
``harness`` fixture returning an :class:`OutboxHarness` (or :class:`AsyncOutboxHarness`)
on an empty outbox::

    from hexalchemy.testing.contracts.outbox import OutboxContract, OutboxHarness

    class TestMyOutbox(OutboxContract):
        @pytest.fixture
        def harness(self) -> OutboxHarness:
            return MyOutboxHarness(...)

The harness builds its writer with ``max_payload_bytes=CONTRACT_MAX_PAYLOAD_BYTES`` and its
relay store with a policy of :data:`CONTRACT_MAX_ATTEMPTS`, :data:`CONTRACT_BASE_DELAY` and
:data:`CONTRACT_MAX_DELAY`, on the harness's transaction manager (so that the store can
refuse calls made inside one of its transactions). Its ``advance(delta)`` lets at least
``delta`` pass on the relay store's clock: move a fake clock, or sleep (the contract only
advances by fractions of a second).

The tests are written once, async, in ``_async/outbox.py``; the sync contract is generated
from them into ``_sync/outbox.py`` by ``make generate``. The sync contract calls the sync
adapters directly and needs no event loop; the async one is marked ``pytest.mark.asyncio``.
"""

from hexalchemy.testing.contracts._async.outbox import (
    CONTRACT_BASE_DELAY,
    CONTRACT_MAX_ATTEMPTS,
    CONTRACT_MAX_DELAY,
    CONTRACT_MAX_PAYLOAD_BYTES,
    AsyncOutboxContract,
    AsyncOutboxHarness,
)
from hexalchemy.testing.contracts._sync.outbox import OutboxContract, OutboxHarness

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
