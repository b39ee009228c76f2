"""Runtime checks of values whose static type says nothing reliable (user input, JSON, rows).

Typing helpers for every layer (the ports included): they know only the standard library
and attrs, and hold no rule of the domain.

``isinstance(value, list)`` on an ``object`` tells a type checker "a list of unknown items";
these say "a list of objects", so that what is read from the value is checked in turn
instead of being Unknown.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TypeGuard

import attrs

__all__ = [
    "is_attrs_instance",
    "is_async_context_manager",
    "is_class_of",
    "is_context_manager",
    "is_enum_class",
    "is_instance",
    "is_list_or_tuple",
    "is_mapping",
    "is_sequence",
    "is_set",
]


def is_list_or_tuple(value: object) -> TypeGuard[list[object] | tuple[object, ...]]:
    """``value`` is a list or a tuple."""
    return isinstance(value, list | tuple)


def is_set(value: object) -> TypeGuard[set[object] | frozenset[object]]:
    """``value`` is a set or a frozenset."""
    return isinstance(value, set | frozenset)


def is_mapping(value: object) -> TypeGuard[Mapping[object, object]]:
    """``value`` is a mapping (its keys are checked by the caller); a ``dict`` is told without the ABC's check."""
    return type(value) is dict or isinstance(value, Mapping)


def is_sequence(value: object) -> TypeGuard[Sequence[object]]:
    """``value`` is a sequence (a str is one too: the caller decides)."""
    return isinstance(value, Sequence)


def is_attrs_instance(value: object) -> bool:
    """``value`` is an instance of an attrs class."""
    return attrs.has(type(value))


def is_instance(value: object, kind: type | types.UnionType | tuple[type, ...]) -> bool:
    """``isinstance`` for a value whose declared type a caller may not have kept.

    hexalchemy checks what public calls receive even where the annotation already says it
    (untyped callers, ``Any``, ``cast``): a type checker calls such an ``isinstance``
    unnecessary, so those checks go through this function, which says why they are there.
    """
    return isinstance(value, kind)


def is_class_of(value: object, kind: type) -> bool:
    """``value`` is ``kind`` or a subclass of it (checked as :func:`is_instance` is, for the same reason)."""
    return isinstance(value, type) and issubclass(value, kind)


def is_context_manager(value: object) -> TypeGuard[AbstractContextManager[object]]:
    """``value`` is a context manager (``with``); what it gives on entry is the caller's to check."""
    return isinstance(value, AbstractContextManager)


def is_async_context_manager(value: object) -> TypeGuard[AbstractAsyncContextManager[object]]:
    """``value`` is an async context manager (``async with``); what it gives on entry is the caller's to check."""
    return isinstance(value, AbstractAsyncContextManager)


def is_enum_class(value: object) -> TypeGuard[type[enum.Enum]]:
    """``value`` is an :class:`enum.Enum` subclass (a type annotation that may be anything)."""
    return isinstance(value, type) and issubclass(value, enum.Enum)


def is_iterable(value: object) -> TypeGuard[Iterable[object]]:
    """``value`` is iterable (a str is too: the caller decides)."""
    return isinstance(value, Iterable)


def is_dict(value: object) -> TypeGuard[dict[object, object]]:
    """``value`` is a dict (its keys are checked by the caller)."""
    return isinstance(value, dict)
