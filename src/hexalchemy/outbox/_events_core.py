"""What the event-recording repositories do, written once: the serializer, the wiring checks, a save's batch.

:class:`~hexalchemy.outbox.EventRecordingRepository` is generated from
:class:`~hexalchemy.outbox.AsyncEventRecordingRepository` (``_async/events.py``); both
check their wiring with :func:`check_wiring` and turn what they are given into an
:class:`EventBatch` (the aggregates without their events, and one outbox message per event).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Final, Generic, TypeGuard, TypeVar

import attrs
import cattrs

from hexalchemy.ports import (
    ConfigError,
    EntitySpec,
    InvalidValueError,
    MappingError,
    OutboxMessage,
)
from hexalchemy.rules import (
    check_callable,
    check_has_methods,
    check_instance,
    check_items,
    check_iterable,
    new_message,
)

T = TypeVar("T")


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
        messages: list[OutboxMessage] = []
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


def _entity_spec(spec: object) -> EntitySpec[Any, Any]:
    """``spec`` if it is an :class:`~hexalchemy.ports.EntitySpec` (of any class and key); else ``ConfigError``."""
    if not _is_entity_spec(spec):
        raise ConfigError("spec", spec, f"must be a {EntitySpec.__qualname__}")
    return spec


def _is_entity_spec(value: object) -> TypeGuard[EntitySpec[Any, Any]]:
    """``value`` is an EntitySpec (``isinstance`` cannot tell its class and key types)."""
    return isinstance(value, EntitySpec)


def check_wiring(repository: object, writer: object, spec: object, serializer: object) -> None:
    """Refuse what cannot be wired (``ConfigError`` naming it), and a spec with no events field (``MappingError``)."""
    check_has_methods("repository", repository, _REPOSITORY_METHODS, error=ConfigError)
    check_has_methods("writer", writer, ("add", "add_all"), error=ConfigError)
    checked = _entity_spec(spec)
    if serializer is not None:
        check_instance("serializer", serializer, EventSerializer, error=ConfigError)
    _require_events_field(checked)


def _require_events_field(spec: EntitySpec[Any, Any]) -> None:
    if spec.events_field is None:
        raise MappingError(
            spec.cls, "EntitySpec has no events field: pass events='<field>' to record domain events"
        )


class EventBatch(Generic[T]):
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
