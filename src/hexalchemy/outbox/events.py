"""Domain events recorded in the outbox by the repository that saves their aggregate.

An aggregate names a field of pending events in its :class:`~hexalchemy.ports.EntitySpec`
(``EntitySpec(Order, key="id", version="version", events="events")``). Wrap its repository
in :class:`EventRecordingRepository`: ``save`` then stores the aggregate, writes one outbox
message per pending event in the same ambient transaction, and returns the aggregate
with no pending events. The events commit or roll back with the aggregate.

Events are serialised with a cattrs converter to JSON; each message carries the topic
chosen by ``topic_for`` (the event's class name by default), the aggregate's key as its
ordering key (so one aggregate's events are delivered in order), and headers naming the
event and aggregate types.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Generic, TypeVar

import attrs
import cattrs

from hexalchemy.ports import (
    AsyncOutboxWriter,
    AsyncRepository,
    EntitySpec,
    MappingError,
    OutboxMessage,
    OutboxWriter,
    Repository,
)
from hexalchemy.rules import new_message

__all__ = ["AsyncEventRecordingRepository", "EventRecordingRepository", "EventSerializer"]

T = TypeVar("T")
K = TypeVar("K")


def _class_name(event: object) -> str:
    return type(event).__name__


@attrs.frozen
class EventSerializer:
    """Turns domain events into outbox messages with a cattrs converter.

    ``topic_for`` picks the topic of an event (default: its class name). The converter
    defaults to cattrs' JSON preconfigured converter.
    """

    converter: cattrs.Converter = attrs.field(factory=lambda: _json_converter())
    topic_for: Callable[[object], str] = _class_name

    def messages(
        self, spec: EntitySpec[Any, Any], aggregate: object, events: Iterable[object]
    ) -> list[OutboxMessage]:
        """One validated message per event of ``aggregate``, in the order raised."""
        key = spec.key_of(aggregate)
        ordering_key = f"{spec.cls.__qualname__}:{key}"
        messages = []
        for event in events:
            payload = json.dumps(self.converter.unstructure(event), separators=(",", ":")).encode()
            messages.append(
                new_message(
                    self.topic_for(event),
                    payload,
                    headers={
                        "event-type": f"{type(event).__module__}.{type(event).__qualname__}",
                        "aggregate-type": spec.cls.__qualname__,
                        "aggregate-id": str(key),
                    },
                    ordering_key=ordering_key,
                )
            )
        return messages


def _json_converter() -> cattrs.Converter:
    from cattrs.preconf.json import make_converter

    converter = make_converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_unstructure_hook(uuid.UUID, str)
    return converter


def _require_events_field(spec: EntitySpec[Any, Any]) -> None:
    if spec.events_field is None:
        raise MappingError(
            spec.cls, "EntitySpec has no events field: pass events='<field>' to record domain events"
        )


class _EventBatch(Generic[T]):
    """What one save writes: the aggregates to store (without events) and the messages."""

    def __init__(
        self, spec: EntitySpec[T, Any], serializer: EventSerializer, aggregates: Iterable[T]
    ) -> None:
        self.bare: list[T] = []
        self.messages: list[OutboxMessage] = []
        for aggregate in aggregates:
            self.messages.extend(serializer.messages(spec, aggregate, spec.pending_events(aggregate)))
            self.bare.append(spec.without_events(aggregate))


class EventRecordingRepository(Generic[T, K]):
    """A ``Repository[T, K]`` that records its aggregates' pending events in the outbox.

    Wraps any repository (SQL or in-memory) and an outbox writer built on the same
    transaction manager, so the aggregate and its events commit together. Every message
    is validated before anything is written.
    """

    def __init__(
        self,
        repository: Repository[T, K],
        writer: OutboxWriter,
        spec: EntitySpec[T, K],
        *,
        serializer: EventSerializer | None = None,
    ) -> None:
        _require_events_field(spec)
        self.repository = repository
        self.writer = writer
        self.spec = spec
        self.serializer = serializer if serializer is not None else EventSerializer()

    def get(self, id: K, /) -> T:
        """Return the aggregate with this key (see ``Repository.get``)."""
        return self.repository.get(id)

    def get_or_none(self, id: K, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        return self.repository.get_or_none(id)

    def contains(self, id: K, /) -> bool:
        """Return whether an aggregate with this key exists."""
        return self.repository.contains(id)

    def range(self, ids: Iterable[K], /) -> list[T]:
        """Return the aggregates with these keys, in the order of ``ids``."""
        return self.repository.range(ids)

    def save(self, aggregate: T, /) -> T:
        """Save the aggregate and write its pending events to the outbox; return it without them."""
        batch = _EventBatch(self.spec, self.serializer, [aggregate])
        saved = self.repository.save(batch.bare[0])
        if batch.messages:
            self.writer.add_all(batch.messages)
        return saved

    def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates and write all their pending events to the outbox."""
        batch = _EventBatch(self.spec, self.serializer, aggregates)
        saved = self.repository.save_all(batch.bare)
        if batch.messages:
            self.writer.add_all(batch.messages)
        return saved

    def delete(self, aggregate: T, /) -> None:
        """Delete the aggregate, recording its pending events (a deletion event, say)."""
        batch = _EventBatch(self.spec, self.serializer, [aggregate])
        self.repository.delete(batch.bare[0])
        if batch.messages:
            self.writer.add_all(batch.messages)

    def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates, recording their pending events."""
        batch = _EventBatch(self.spec, self.serializer, aggregates)
        self.repository.delete_all(batch.bare)
        if batch.messages:
            self.writer.add_all(batch.messages)


class AsyncEventRecordingRepository(Generic[T, K]):
    """An ``AsyncRepository[T, K]`` that records its aggregates' pending events in the outbox."""

    def __init__(
        self,
        repository: AsyncRepository[T, K],
        writer: AsyncOutboxWriter,
        spec: EntitySpec[T, K],
        *,
        serializer: EventSerializer | None = None,
    ) -> None:
        _require_events_field(spec)
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
        batch = _EventBatch(self.spec, self.serializer, [aggregate])
        saved = await self.repository.save(batch.bare[0])
        if batch.messages:
            await self.writer.add_all(batch.messages)
        return saved

    async def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates and write all their pending events to the outbox."""
        batch = _EventBatch(self.spec, self.serializer, aggregates)
        saved = await self.repository.save_all(batch.bare)
        if batch.messages:
            await self.writer.add_all(batch.messages)
        return saved

    async def delete(self, aggregate: T, /) -> None:
        """Delete the aggregate, recording its pending events."""
        batch = _EventBatch(self.spec, self.serializer, [aggregate])
        await self.repository.delete(batch.bare[0])
        if batch.messages:
            await self.writer.add_all(batch.messages)

    async def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates, recording their pending events."""
        batch = _EventBatch(self.spec, self.serializer, aggregates)
        await self.repository.delete_all(batch.bare)
        if batch.messages:
            await self.writer.add_all(batch.messages)
