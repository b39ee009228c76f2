# The async classes in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The event-recording repository: :class:`AsyncEventRecordingRepository`; see :mod:`hexalchemy.outbox.events`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from hexalchemy.outbox._events_core import EventBatch, EventSerializer, check_wiring
from hexalchemy.ports import AsyncOutboxWriter, AsyncRepository, EntitySpec

T = TypeVar("T")
K = TypeVar("K")


class AsyncEventRecordingRepository(Generic[T, K]):
    """A repository (``AsyncRepository[T, K]``) that records its aggregates' pending events in the outbox.

    Wraps any repository (SQL or in-memory) and an outbox writer built on the same
    transaction manager, so the aggregate and its events commit together. Every message
    is validated before anything is written.
    """

    def __init__(
        self,
        repository: AsyncRepository[T, K],
        writer: AsyncOutboxWriter,
        spec: EntitySpec[T, K],
        *,
        serializer: EventSerializer | None = None,
    ) -> None:
        check_wiring(repository, writer, spec, serializer)
        self.repository = repository
        self.writer = writer
        self.spec = spec
        self.serializer = serializer if serializer is not None else EventSerializer()

    async def get(self, id: K, /) -> T:
        """Return the aggregate with this key (see ``AsyncRepository.get``)."""
        return await self.repository.get(id)

    async def get_or_none(self, id: K, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        return await self.repository.get_or_none(id)

    async def contains(self, id: K, /) -> bool:
        """Return whether an aggregate with this key exists."""
        return await self.repository.contains(id)

    async def range(self, ids: Iterable[K], /) -> list[T]:
        """Return the aggregates with these keys, in the order of ``ids``."""
        return await self.repository.range(ids)

    async def save(self, aggregate: T, /) -> T:
        """Save the aggregate and write its pending events to the outbox; return it without them."""
        batch = EventBatch(self.spec, self.serializer, "aggregate", aggregate)
        saved = await self.repository.save(batch.bare[0])
        if batch.messages:
            await self.writer.add_all(batch.messages)
        return saved

    async def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates and write all their pending events to the outbox."""
        batch = EventBatch(self.spec, self.serializer, "aggregates", aggregates)
        saved = await self.repository.save_all(batch.bare)
        if batch.messages:
            await self.writer.add_all(batch.messages)
        return saved

    async def delete(self, aggregate: T, /) -> None:
        """Delete the aggregate, recording its pending events (a deletion event, say)."""
        batch = EventBatch(self.spec, self.serializer, "aggregate", aggregate)
        await self.repository.delete(batch.bare[0])
        if batch.messages:
            await self.writer.add_all(batch.messages)

    async def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates, recording their pending events."""
        batch = EventBatch(self.spec, self.serializer, "aggregates", aggregates)
        await self.repository.delete_all(batch.bare)
        if batch.messages:
            await self.writer.add_all(batch.messages)
