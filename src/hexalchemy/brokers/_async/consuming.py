# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The inbox handler: :class:`AsyncInboxHandler`; see :mod:`hexalchemy.brokers.consuming`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from hexalchemy.ports import AsyncInbox, AsyncTransactionManager, ConfigError
from hexalchemy.rules import check_callable, check_has_methods, check_uuid

M = TypeVar("M")


class AsyncInboxHandler(Generic[M]):
    """Applies a delivered message's effects once: the inbox record and the effects in one transaction.

    ``handle(message_id, message)`` opens a transaction of ``transactions``, records
    ``message_id`` in ``inbox`` and, the first time only, awaits ``effect(message)`` in the
    same transaction; it returns after the commit, True when the effects were applied now,
    False for a duplicate. Acknowledge the message to the broker only after it returned:
    a crash before the commit leaves the message unacknowledged (the broker delivers it
    again) and nothing applied; a crash between the commit and the acknowledgement makes
    the broker deliver it again, and the inbox drops it.
    """

    def __init__(
        self,
        transactions: AsyncTransactionManager,
        inbox: AsyncInbox,
        effect: Callable[[M], Awaitable[None]],
    ) -> None:
        self._transactions = check_has_methods("transactions", transactions, ("begin",), error=ConfigError)
        self._inbox = check_has_methods("inbox", inbox, ("record",), error=ConfigError)
        self._effect = check_callable("effect", effect, error=ConfigError)

    async def handle(self, message_id: uuid.UUID, message: M) -> bool:
        """Record ``message_id`` and apply ``message``'s effects in one transaction, once; True if applied now."""
        check_uuid("message_id", message_id)
        async with self._transactions.begin():
            if not await self._inbox.record(message_id):
                return False
            await self._effect(message)
        return True
