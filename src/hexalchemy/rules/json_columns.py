"""The rule of a JSON column (collections, and the value objects inside them).

A JSON value is stored as it is unstructured: its strings (object keys too) must hold no NUL
and no lone surrogate, and its floats must be finite (JSON has no NaN; PostgreSQL refuses
it). The check runs on the whole value: :func:`json_suspect` decides quickly, in C, whether
anything may be wrong, and :func:`json_problem` walks the value to name what is, as
``lines[0].sku`` (a field of a value object) or ``notes["door"]`` (a key of an object).
"""

from __future__ import annotations

import enum
import json
import typing
from collections.abc import Mapping
from typing import Any, Final

import attrs

from hexalchemy.rules.text import text_problem
from hexalchemy.rules.values import RefusedValueError, ValueRule

__all__ = ["json_problem", "json_rule", "json_suspect"]

_NOT_FINITE: Final = "NaN and ±Infinity cannot be stored in JSON"


def json_suspect(value: object) -> bool:
    """Whether ``value`` may break the JSON rule; False means it certainly does not.

    One ``json.dumps`` in C: NaN and ±Infinity fail it; a NUL shows as ``\\u0000`` in its
    text and a lone surrogate makes the text unencodable. A value that ``json.dumps`` cannot
    write (not plain JSON) is suspect too, and left to :func:`json_problem`.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return True
    if "\\u0000" in text:
        return True
    if text.isascii():
        return False
    return text_problem(text) is not None


def _key_path(at: str, key: object) -> str:
    shown = json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)
    return f"{at}[{shown}]"


def json_problem(value: object) -> RefusedValueError | None:
    """The first part of ``value`` that breaks the JSON rule, as a :class:`RefusedValueError` whose ``at`` is its path; or None.

    Walks lists, tuples, sets, dicts (keys too) and attrs instances, in order.
    """
    stack: list[tuple[object, str]] = [(value, "")]
    walking: set[int] = set()  # containers already walked: a value may hold itself
    while stack:
        item, at = stack.pop()
        if isinstance(item, enum.Enum):
            item = item.value
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return RefusedValueError(problem, item, at)
        elif isinstance(item, float):
            if item - item != 0.0:
                return RefusedValueError(_NOT_FINITE, item, at)
        elif id(item) in walking:
            continue
        elif isinstance(item, Mapping):
            walking.add(id(item))
            children: list[tuple[object, str]] = []
            for key, child in item.items():
                if isinstance(key, str) and text_problem(key) is not None:
                    return RefusedValueError(f"an object key: {text_problem(key)}", key, _key_path(at, key))
                children.append((child, _key_path(at, key)))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            walking.add(id(item))
            stack.extend(reversed([(child, f"{at}[{index}]") for index, child in enumerate(item)]))
        elif isinstance(item, set | frozenset):
            walking.add(id(item))
            stack.extend((child, f"{at}[*]") for child in item)
        elif attrs.has(type(item)):
            walking.add(id(item))
            fields = attrs.fields(typing.cast(Any, type(item)))
            stack.extend(reversed([(getattr(item, field.name), f"{at}.{field.name}") for field in fields]))
    return None


def json_rule(*, optional: bool) -> ValueRule:
    """The rule of a JSON column: :func:`json_problem` finds nothing (None only when ``optional``); the value is kept as is."""

    def normalize(value: Any) -> Any:
        if value is None:
            if optional:
                return None
            raise RefusedValueError("None is refused: the field's type is not Optional (X | None)", value)
        problem = json_problem(value)
        if problem is not None:
            raise problem
        return value

    return ValueRule("JSON" if not optional else "JSON | None", normalize)
