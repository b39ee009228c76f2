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
from typing import Any, Final, Generic, TypeVar

import attrs
import cattrs

from hexalchemy.ports import (
    AsyncOutboxWriter,
    AsyncRepository,
    ConfigError,
    EntitySpec,
    InvalidValueError,
    MappingError,
    OutboxMessage,
    OutboxWriter,
    Repository,
)
from hexalchemy.rules import (
    check_callable,
    check_has_methods,
    check_instance,
    check_items,
    check_iterable,
    new_message,
)

__all__ = ["AsyncEventRecordingRepository", "EventRecordingRepository", "EventSerializer"]

T = TypeVar("T")
K = TypeVar("K")


def _class_name(event: object) -> str:
    return type(event).__name__


def _check_converter(_instance: object, _attribute: object, value: object) -> None:
    check_instance("converter", value, cattrs.Converter, error=ConfigError)


def _check_topic_for(_instance: object, _attribute: object, value: object) -> None:
    check_callable("topic_for", value, error=ConfigError)


@attrs.frozen
class EventSerializer:
    """Turns domain events into outbox messages with a cattrs converter.

    ``topic_for`` picks the topic of an event (default: its class name). The converter
    defaults to cattrs' JSON preconfigured converter.
    """

    converter: cattrs.Converter = attrs.field(factory=lambda: _json_converter(), validator=_check_converter)
    topic_for: Callable[[object], str] = attrs.field(default=_class_name, validator=_check_topic_for)

    def messages(
        self, spec: EntitySpec[Any, Any], aggregate: object, events: Iterable[object]
    ) -> list[OutboxMessage]:
        """One validated message per event of ``aggregate``, in the order raised."""
        check_instance("spec", spec, EntitySpec)
        check_instance("aggregate", aggregate, spec.cls)
        key = spec.key_of(aggregate)
        ordering_key = f"{spec.cls.__qualname__}:{key}"
        messages = []
        for event in check_iterable("events", events):
            try:
                payload = json.dumps(self.converter.unstructure(event), separators=(",", ":")).encode()
            except (TypeError, ValueError, RecursionError) as exc:
                raise InvalidValueError(
                    spec.cls,
                    spec.events_field or "events",
                    event,
                    f"the event cannot be serialised to JSON: {exc}",
                ) from exc
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


_REPOSITORY_METHODS: Final = (
    "get",
    "get_or_none",
    "contains",
    "range",
    "save",
    "save_all",
    "delete",
    "delete_all",
)


def _check_wiring(repository: object, writer: object, spec: object, serializer: object) -> None:
    """Refuse what cannot be wired (``ConfigError`` naming it), and a spec with no events field (``MappingError``)."""
    check_has_methods("repository", repository, _REPOSITORY_METHODS, error=ConfigError)
    check_has_methods("writer", writer, ("add", "add_all"), error=ConfigError)
    checked = check_instance("spec", spec, EntitySpec, error=ConfigError)
    if serializer is not None:
        check_instance("serializer", serializer, EventSerializer, error=ConfigError)
    _require_events_field(checked)


def _require_events_field(spec: EntitySpec[Any, Any]) -> None:
    if spec.events_field is None:
        raise MappingError(
            spec.cls, "EntitySpec has no events field: pass events='<field>' to record domain events"
        )


class _EventBatch(Generic[T]):
    """What one save writes: the aggregates to store (without events) and the messages.

    ``argument`` names what the caller gave (``aggregate`` for one, ``aggregates`` for many):
    it must hold instances of the spec's class (``InvalidArgumentError`` otherwise).
    """

    def __init__(
        self, spec: EntitySpec[T, Any], serializer: EventSerializer, argument: str, aggregates: object
    ) -> None:
        self.bare: list[T] = []
        self.messages: list[OutboxMessage] = []
        if argument == "aggregate":
            checked = [check_instance(argument, aggregates, spec.cls)]
        else:
            checked = check_items(argument, aggregates, spec.cls)
        for aggregate in checked:
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
        _check_wiring(repository, writer, spec, serializer)
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
        batch = _EventBatch(self.spec, self.serializer, "aggregate", aggregate)
        saved = self.repository.save(batch.bare[0])
        if batch.messages:
            self.writer.add_all(batch.messages)
        return saved

    def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates and write all their pending events to the outbox."""
        batch = _EventBatch(self.spec, self.serializer, "aggregates", aggregates)
        saved = self.repository.save_all(batch.bare)
        if batch.messages:
            self.writer.add_all(batch.messages)
        return saved

    def delete(self, aggregate: T, /) -> None:
        """Delete the aggregate, recording its pending events (a deletion event, say)."""
        batch = _EventBatch(self.spec, self.serializer, "aggregate", aggregate)
        self.repository.delete(batch.bare[0])
        if batch.messages:
            self.writer.add_all(batch.messages)

    def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates, recording their pending events."""
        batch = _EventBatch(self.spec, self.serializer, "aggregates", aggregates)
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
        _check_wiring(repository, writer, spec, serializer)
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
        batch = _EventBatch(self.spec, self.serializer, "aggregate", aggregate)
        saved = await self.repository.save(batch.bare[0])
        if batch.messages:
            await self.writer.add_all(batch.messages)
        return saved

    async def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates and write all their pending events to the outbox."""
        batch = _EventBatch(self.spec, self.serializer, "aggregates", aggregates)
        saved = await self.repository.save_all(batch.bare)
        if batch.messages:
            await self.writer.add_all(batch.messages)
        return saved

    async def delete(self, aggregate: T, /) -> None:
        """Delete the aggregate, recording its pending events."""
        batch = _EventBatch(self.spec, self.serializer, "aggregate", aggregate)
        await self.repository.delete(batch.bare[0])
        if batch.messages:
            await self.writer.add_all(batch.messages)

    async def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates, recording their pending events."""
        batch = _EventBatch(self.spec, self.serializer, "aggregates", aggregates)
        await self.repository.delete_all(batch.bare)
        if batch.messages:
            await self.writer.add_all(batch.messages)
