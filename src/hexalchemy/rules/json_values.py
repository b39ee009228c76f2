"""JSON values: which values a JSON field accepts, as what they are stored, and their canonical text.

One rule for every plain JSON value hexalchemy stores (a field declared
``ColumnOptions(json=True)``, agent metadata, signal and evidence payloads), on every
adapter: :data:`PLAIN_JSON` gives the value as every database stores and reads it back,
or names the part that cannot be stored.
"""

from __future__ import annotations

import json
import typing
from typing import Final

from hexalchemy.ports import InvalidAgentDataError, InvalidArgumentError, JsonValue
from hexalchemy.rules.agent_limits import MAX_AGENT_PAYLOAD_BYTES
from hexalchemy.rules.arguments import MAX_BIGINT, check_positive_int
from hexalchemy.rules.text import encodes_as_utf8, text_problem
from hexalchemy.rules.values import RefusedValueError, ValueRule

__all__ = ["MAX_JSON_DEPTH", "PLAIN_JSON", "canonical_json", "normalize_json"]

MAX_JSON_DEPTH: Final = 200
"""How deeply lists and objects may nest in a JSON value: deeper, reading it back could exhaust Python's stack."""

_EXPONENT_FLOAT: Final = 1e16
"""Floats this large are written with an exponent (``1e+16``); PostgreSQL's ``jsonb`` writes them back
as plain digits, which JSON reads as an int: every adapter stores them as that int."""

_CANONICAL: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_NOT_JSON: Final = "is not a JSON value (None, bool, int, float, str, a list or tuple, a dict with str keys)"


def _stored_float(text: str) -> float | int:
    value = float(text)
    if value == 0.0:
        return 0.0  # -0.0: PostgreSQL keeps no negative zero
    if abs(value) >= _EXPONENT_FLOAT:
        return int(value)
    return value


def _key_path(at: str, key: object) -> str:
    shown = json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)
    return f"{at}[{shown}]"


def _json_refusal(value: object) -> RefusedValueError | None:
    """The first part of ``value`` that :data:`PLAIN_JSON` refuses, as a :class:`RefusedValueError` whose ``at`` is its path; or None.

    Walks without recursion, in order, so that any depth and any cycle is named, not crashed on.
    """
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    ancestors: list[int] = []  # the ids of the containers around the part walked (a cycle repeats one)
    while stack:
        item, at, depth = stack.pop()
        del ancestors[depth:]
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return RefusedValueError(problem, item, at)
        elif isinstance(item, float):
            if item - item != 0.0:
                return RefusedValueError("NaN and ±Infinity cannot be stored in JSON", item, at)
        elif isinstance(item, dict | list | tuple):
            container = typing.cast("dict[object, object] | list[object] | tuple[object, ...]", item)
            if id(container) in ancestors:
                return RefusedValueError(
                    "a list or dict that holds itself cannot be stored in JSON", "<cycle>", at
                )
            if depth >= MAX_JSON_DEPTH:
                return RefusedValueError(
                    f"lists and dicts nest more than {MAX_JSON_DEPTH} deep", "<nested value>"
                )
            ancestors.append(id(container))
            children: list[tuple[object, str, int]] = []
            if isinstance(container, dict):
                for key, child in container.items():
                    if not isinstance(key, str):
                        return RefusedValueError(
                            f"an object key must be a str, not {type(key).__name__} (JSON would make it one)",
                            key,
                            _key_path(at, key),
                        )
                    problem = text_problem(key)
                    if problem is not None:
                        return RefusedValueError(f"an object key: {problem}", key, _key_path(at, key))
                    children.append((child, _key_path(at, key), depth + 1))
            else:
                children = [(child, f"{at}[{index}]", depth + 1) for index, child in enumerate(container)]
            stack.extend(reversed(children))
        else:
            return RefusedValueError(f"{type(item).__qualname__} {_NOT_JSON}", item, at)
    return None


def _plain_json(value: object) -> JsonValue:
    """``value`` as every adapter stores and reads it back, or raise :class:`RefusedValueError` naming the part refused.

    Accepted: None, bools, ints (of any size: every database keeps a JSON number digit for
    digit, unlike an int column), finite floats, strs without NUL or lone
    surrogates, lists and tuples, dicts with str keys, nested at most :data:`MAX_JSON_DEPTH`
    deep, no list or dict inside itself. Stored form: tuples become lists, ``-0.0`` becomes
    ``0.0`` and a float of magnitude ``1e16`` or more the equal int (as PostgreSQL's ``jsonb``
    gives them back), so that ``loaded == saved`` on every adapter. The refusal's ``at`` is
    the path to the part (``["lines"][2]``).
    """
    try:
        text = _CANONICAL.encode(value)
    except (TypeError, ValueError, RecursionError):
        raise _refused(value) from None
    if "\\u0000" in text or not encodes_as_utf8(
        text
    ):  # a NUL or a lone surrogate, or text that only looks so
        refusal = _json_refusal(value)
        if refusal is not None:
            raise refusal
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:  # it may nest too deeply: the walk measures
        refusal = _json_refusal(value)
        if refusal is not None:
            raise refusal
    try:
        loaded: JsonValue = json.loads(text, parse_float=_stored_float)
    except RecursionError:
        raise _refused(value) from None
    if loaded != value:  # tuples, or keys JSON turned into str: the walk refuses the latter
        refusal = _json_refusal(value)
        if refusal is not None:
            raise refusal
    return loaded


PLAIN_JSON: Final = ValueRule("JSON value", _plain_json)
"""The rule of a plain JSON value: ``PLAIN_JSON.normalize(value)`` is its stored form (above), or raises
:class:`~hexalchemy.rules.values.RefusedValueError` whose ``at`` is the path to the part refused."""


def _refused(value: object) -> RefusedValueError:
    return _json_refusal(value) or RefusedValueError(_NOT_JSON, value)


def normalize_json(field: str, value: object, *, limit: int = MAX_AGENT_PAYLOAD_BYTES) -> JsonValue:
    """Return ``value`` as stored (:data:`PLAIN_JSON`), or raise :class:`InvalidAgentDataError` naming ``field``.

    Also refuses a value whose canonical JSON text is larger than ``limit`` bytes. The error
    names the field and, inside the message, where the part refused is (``payload["a"][1]``).
    """
    check_positive_int("limit", limit, maximum=MAX_BIGINT)
    try:
        stored = _plain_json(value)
    except RefusedValueError as refused:
        where = f" (at {field}{refused.at})" if refused.at else ""
        raise InvalidAgentDataError(field, refused.value, f"{refused.reason}{where}") from None
    text = _CANONICAL.encode(stored)
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > limit:
        raise InvalidAgentDataError(field, f"<{size} bytes>", f"is larger than {limit} bytes")
    return stored


def canonical_json(value: object) -> str:
    """The canonical JSON text of a JSON-able ``value``: sorted keys, no whitespace, characters as they are.

    What evidence hashes cover and how a validated payload is stored. Raises
    :class:`~hexalchemy.ports.InvalidArgumentError` for a value JSON cannot hold
    (``normalize_json`` validates first, naming the field).
    """
    try:
        return _CANONICAL.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidArgumentError("value", value, f"must be JSON-able ({exc})") from None
