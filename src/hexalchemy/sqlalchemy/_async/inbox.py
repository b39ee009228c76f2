# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The inbox on SQLAlchemy Core: :class:`AsyncSqlAlchemyInbox`; see :mod:`hexalchemy.sqlalchemy.inbox`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from hexalchemy.ports import ConfigError, InboxEntry
from hexalchemy.rules import check_instance
from hexalchemy.sqlalchemy._inbox_core import InboxCore
from hexalchemy.sqlalchemy._operations import run_plan_async
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.transaction import AsyncSqlAlchemyTransactionManager


class AsyncSqlAlchemyInbox:
    """One consumer's inbox in the ambient transaction of ``transactions``; implements ``AsyncInbox``.

    ``mapping`` is :func:`~hexalchemy.sqlalchemy.inbox.inbox_mapping`'s; ``consumer`` names
    the consumer (consumers sharing the table apply each message once each); ``clock``
    (returning an aware datetime) stamps ``received_at``, the UTC wall clock by default.
    """

    def __init__(
        self,
        mapping: TableMapping[InboxEntry, Any],
        transactions: AsyncSqlAlchemyTransactionManager,
        *,
        consumer: str,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.transactions = check_instance(
            "transactions", transactions, AsyncSqlAlchemyTransactionManager, error=ConfigError
        )
        self._core = InboxCore(mapping, transactions.core, consumer, clock)

    @property
    def consumer(self) -> str:
        """The consumer whose entries this inbox records."""
        return self._core.consumer

    async def record(self, message_id: uuid.UUID, /) -> bool:
        """Record ``message_id``: True the first time (apply the effects), False if it was already recorded."""
        return await run_plan_async(self._core.record(message_id))

    async def purge(self, *, received_before: dt.datetime) -> int:
        """Forget this consumer's entries received before ``received_before``; return how many."""
        return await run_plan_async(self._core.purge(received_before))
