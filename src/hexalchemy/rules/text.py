"""Text checks: whether a str, or every str inside a value, can be written as UTF-8."""

from __future__ import annotations

import json

from hexalchemy._guards import is_dict, is_instance, is_list_or_tuple, is_set
from hexalchemy.ports import InvalidArgumentError

__all__ = ["encodes_as_utf8", "holds_unencodable_text", "text_problem"]


def encodes_as_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: a Python str may hold lone surrogates, which no database takes."""
    if not is_instance(text, str):
        raise InvalidArgumentError("text", text, "must be a str")
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL, a lone surrogate), or None."""
    if not is_instance(text, str):
        raise InvalidArgumentError("text", text, "must be a str")
    if "\x00" in text:
        return "text must not contain NUL (\\x00): PostgreSQL refuses it"
    if not encodes_as_utf8(text):
        return "text must be valid Unicode (it holds a lone surrogate)"
    return None


def holds_unencodable_text(value: object) -> bool:
    """Whether ``value``, or a str anywhere inside its lists, tuples, sets and dicts (keys too), fails :func:`encodes_as_utf8`.

    A JSON-able value is checked through its JSON text, written in C; anything else by a walk.
    """
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return _walk_finds_unencodable_text(value)
    return not encodes_as_utf8(text)


def _walk_finds_unencodable_text(value: object) -> bool:
    stack: list[object] = [value]
    seen: set[int] = set()  # containers already walked: a value may hold itself
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not encodes_as_utf8(item):
                return True
        elif id(item) not in seen and (is_dict(item) or is_list_or_tuple(item) or is_set(item)):
            seen.add(id(item))
            stack.extend(item.items() if is_dict(item) else item)
    return False
