# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The in-memory inbox: :class:`AsyncInMemoryInbox`; see :mod:`hexalchemy.testing.inbox`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from hexalchemy.testing._inbox_core import InboxCore
from hexalchemy.testing._memory_core import core_of
from hexalchemy.testing.memory import AsyncInMemoryTransactionManager


class AsyncInMemoryInbox:
    """One consumer's inbox in the ambient transaction of an in-memory manager; implements ``AsyncInbox``.

    Entries appear at commit and vanish on rollback, with the transaction's other writes.
    ``clock`` (returning an aware datetime) stamps ``received_at``.
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        transactions: AsyncInMemoryTransactionManager,
        *,
        consumer: str,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._core = InboxCore(core_of(transactions, AsyncInMemoryTransactionManager), consumer, clock)

    @property
    def consumer(self) -> str:
        """The consumer whose entries this inbox records."""
        return self._core.consumer

    async def record(self, message_id: uuid.UUID, /) -> bool:
        """Record ``message_id``: True the first time (apply the effects), False if it was already recorded."""
        return self._core.record(message_id)

    async def purge(self, *, received_before: dt.datetime) -> int:
        """Forget this consumer's entries received before ``received_before``; return how many."""
        return self._core.purge(received_before)
