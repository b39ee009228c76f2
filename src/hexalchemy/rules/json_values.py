"""JSON values: which values a JSON field accepts, as what they are stored, and their canonical text."""

from __future__ import annotations

import json
from collections.abc import Iterable

from hexalchemy._guards import is_dict, is_list_or_tuple
from hexalchemy.ports import InvalidAgentDataError, InvalidArgumentError, JsonValue
from hexalchemy.rules.agent_limits import MAX_AGENT_PAYLOAD_BYTES
from hexalchemy.rules.arguments import MAX_BIGINT, check_positive_int

__all__ = ["canonical_json", "normalize_json"]


def _encode_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_keys(field: str, value: object) -> None:
    """Raise :class:`InvalidAgentDataError` on the first mapping key, at any depth, that is not a str.

    ``json.dumps`` would silently turn an int, float, bool or None key into a str (``{1: "a"}``
    is stored as ``{"1": "a"}``), so such a value would not come back as it was given.
    ``value`` has been encoded already (no cycles); the walk is iterative, so depth is no limit.
    """
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        children: Iterable[tuple[object, object]]
        if is_dict(item):
            for key in item:
                if not isinstance(key, str):
                    where = f"{field}{path}"
                    raise InvalidAgentDataError(
                        field, key, f"mapping keys must be str, not {type(key).__name__} (a key of {where})"
                    )
            children = item.items()
        elif is_list_or_tuple(item):
            children = enumerate(item)
        else:
            continue
        for key, child in children:
            if is_dict(child) or is_list_or_tuple(child):
                stack.append((child, f"{path}[{key!r}]"))


def normalize_json(field: str, value: object, *, limit: int = MAX_AGENT_PAYLOAD_BYTES) -> JsonValue:
    """Return ``value`` as stored (dicts and lists), or raise :class:`InvalidAgentDataError` naming ``field``.

    Refuses values JSON cannot hold (NaN, objects, values nested too deeply), mapping keys
    that are not str at any depth (JSON would turn ``{1: "a"}`` into ``{"1": "a"}``), NUL
    characters in strings, and encodings larger than ``limit`` bytes.
    """
    check_positive_int("limit", limit, maximum=MAX_BIGINT)
    try:
        text = _encode_json(value)
    except (TypeError, ValueError) as exc:
        raise InvalidAgentDataError(field, value, f"must be JSON-able ({exc})") from exc
    except RecursionError as exc:
        raise InvalidAgentDataError(field, "<nested value>", "is nested too deeply") from exc
    if "\\u0000" in text:
        raise InvalidAgentDataError(field, value, "must not contain NUL characters")
    try:
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidAgentDataError(
            field, value, "must be valid Unicode (a str holds a lone surrogate)"
        ) from exc
    if size > limit:
        raise InvalidAgentDataError(field, f"<{size} bytes>", f"is larger than {limit} bytes")
    try:
        loaded: JsonValue = json.loads(text)
        changed = loaded != value
    except RecursionError as exc:
        raise InvalidAgentDataError(field, "<nested value>", "is nested too deeply") from exc
    if changed:
        # A key JSON turned into a str ({1: "a"} came back as {"1": "a"}), or only tuples
        # that came back as lists: the walk tells which (and raises on the first bad key).
        _check_keys(field, value)
    return loaded


def canonical_json(value: object) -> str:
    """The canonical JSON text of a JSON-able ``value``: sorted keys, no whitespace, characters as they are.

    What evidence hashes cover and how a validated payload is stored. Raises
    :class:`~hexalchemy.ports.InvalidArgumentError` for a value JSON cannot hold
    (``normalize_json`` validates first, naming the field).
    """
    try:
        return _encode_json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidArgumentError("value", value, f"must be JSON-able ({exc})") from None
