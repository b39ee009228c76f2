"""The rule of a JSON column (collections, and the value objects inside them).

A JSON value is stored as it is unstructured: its strings (object keys too) must hold no NUL
and no lone surrogate, and its floats must be finite (JSON has no NaN; PostgreSQL refuses
it). The check runs on the whole value: :func:`json_suspect` decides quickly, in C, whether
anything may be wrong, and :func:`json_problem` walks the value to name what is, as
``lines[0].sku`` (a field of a value object) or ``notes["door"]`` (a key of an object).
"""

from __future__ import annotations

import collections.abc
import contextlib
import enum
import json
import typing
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any, Final

import attrs

from hexalchemy._guards import is_attrs_instance, is_list_or_tuple, is_mapping, is_set
from hexalchemy.ports import InvalidArgumentError, field_types
from hexalchemy.ports.columns import split_optional, strip_newtype
from hexalchemy.rules.arguments import check_bool, check_iterable
from hexalchemy.rules.json_values import PLAIN_JSON
from hexalchemy.rules.text import text_problem
from hexalchemy.rules.values import (
    RefusedValueError,
    ValueRule,
    rule_for,
    value_object_rule,
)

__all__ = ["json_problem", "json_rule", "json_suspect", "json_value_rule"]

_NOT_FINITE: Final = "NaN and ±Infinity cannot be stored in JSON"

_SUSPECT_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
"""Built once: ``json.dumps`` with options other than its defaults builds an encoder per call (about 5 µs)."""


def json_suspect(value: object) -> bool:
    """Whether ``value`` may break the JSON rule; False means it certainly does not.

    One ``json.dumps`` in C: NaN and ±Infinity fail it; a NUL shows as ``\\u0000`` in its
    text and a lone surrogate makes the text unencodable. A value that ``json.dumps`` cannot
    write (not plain JSON) is suspect too, and left to :func:`json_problem`.
    """
    try:
        text = _SUSPECT_ENCODER.encode(value)
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

    Walks lists, tuples, sets, dicts (keys too) and attrs instances, in order: strings hold no
    NUL and no lone surrogate, floats are finite; other objects (what a
    converter's hooks unstructure) are let through. :data:`~hexalchemy.rules.json_values.PLAIN_JSON` is
    the stricter rule of a plain JSON value.
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
        elif is_mapping(item):
            walking.add(id(item))
            children: list[tuple[object, str]] = []
            for key, child in item.items():
                if isinstance(key, str) and text_problem(key) is not None:
                    return RefusedValueError(f"an object key: {text_problem(key)}", key, _key_path(at, key))
                children.append((child, _key_path(at, key)))
            stack.extend(reversed(children))
        elif is_list_or_tuple(item):
            walking.add(id(item))
            stack.extend(reversed([(child, f"{at}[{index}]") for index, child in enumerate(item)]))
        elif is_set(item):
            walking.add(id(item))
            stack.extend((child, f"{at}[*]") for child in item)
        elif is_attrs_instance(item):
            walking.add(id(item))
            fields = attrs.fields(typing.cast(Any, type(item)))
            stack.extend(reversed([(getattr(item, field.name), f"{at}.{field.name}") for field in fields]))
    return None


class _Elements:
    """Builds, once per type, the function that checks and normalises a value of that type inside JSON.

    Each function returns the value in stored form (the value itself when nothing changes) or
    raises :class:`RefusedValueError` whose ``at`` is the path inside the value. Types it does
    not know (a type registered on a schema's converter) are kept as given.
    """

    def __init__(self, kept: Collection[object]) -> None:
        self._built: dict[object, Callable[[Any], Any]] = dict.fromkeys(kept, _kept)

    def of(self, tp: Any) -> Callable[[Any], Any]:
        try:
            return self._built[tp]
        except (KeyError, TypeError):
            pass
        inner, optional = split_optional(tp)
        inner = strip_newtype(inner)
        built: Callable[[Any], Any]
        if optional:
            required = self.of(inner)

            def maybe(value: Any) -> Any:
                return None if value is None else required(value)

            built = maybe
        else:
            built = self._required(inner)
        with contextlib.suppress(TypeError):  # an unhashable type argument is built each time
            self._built[tp] = built
        return built

    def _required(self, tp: Any) -> Callable[[Any], Any]:
        if isinstance(tp, type) and attrs.has(tp):
            return self._value_object(tp)
        origin = typing.get_origin(tp)
        if origin in _SEQUENCES:
            return self._sequence(tp, _SEQUENCES[origin])
        if origin in _SETS:
            return self._set(tp, _SETS[origin])
        if origin in _MAPPINGS:
            key_type, value_type = typing.get_args(tp)
            return self._mapping(self.of(key_type), self.of(value_type))
        try:
            rule = rule_for(object, "", tp, None, optional=False)
        except InvalidArgumentError:  # not a type: a special form such as Any
            rule = None
        if rule is None:  # Any, a union: what it holds must at least be storable as JSON
            return _checked_as_json
        if tp is Decimal:  # the Decimal rule builds a new Decimal: keep the given one when it is the same
            return _same_decimal_kept(rule.normalize)
        return rule.normalize

    def _value_object(self, cls: type[object]) -> Callable[[Any], Any]:
        fields: list[tuple[str, str, Callable[[Any], Any]]] = []
        refuse = value_object_rule(cls, optional=False).normalize

        def normalize(value: Any) -> Any:
            if type(value) is not cls:
                refuse(value)
            changes: dict[str, object] = {}
            for name, init_name, check in fields:
                current = getattr(value, name)
                try:
                    new = check(current)
                except RefusedValueError as refused:
                    raise RefusedValueError(refused.reason, refused.value, f".{name}{refused.at}") from None
                if new is not current:
                    changes[init_name] = new
            if not changes:
                return value
            evolve: Callable[..., object] = attrs.evolve
            return evolve(value, **changes)

        self._built[cls] = normalize  # before the fields: a value object may hold its own class
        hints = field_types(cls)
        for attribute in attrs.fields(typing.cast(Any, cls)):
            if attribute.init:
                fields.append(
                    (attribute.name, attribute.alias or attribute.name, self.of(hints[attribute.name]))
                )
        return normalize

    def _sequence(self, tp: Any, made: Callable[[list[Any]], Any]) -> Callable[[Any], Any]:
        args = typing.get_args(tp)
        if made is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return self._fixed_tuple([self.of(arg) for arg in args])
        check = self.of(args[0])
        expected = "a list or a tuple"

        def normalize(value: Any) -> Any:
            if not is_list_or_tuple(value):
                _refuse_type(expected, value)
            items: list[Any] = []
            changed = type(value) is not made
            for index, item in enumerate(value):
                try:
                    new = check(item)
                except RefusedValueError as refused:
                    raise RefusedValueError(refused.reason, refused.value, f"[{index}]{refused.at}") from None
                changed = changed or new is not item
                items.append(new)
            return made(items) if changed else value

        return normalize

    def _fixed_tuple(self, checks: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
        def normalize(value: Any) -> Any:
            if not is_list_or_tuple(value):
                _refuse_type("a tuple", value)
            if len(value) != len(checks):
                raise RefusedValueError(f"expected a tuple of {len(checks)} items, not {len(value)}", value)
            items: list[Any] = []
            for index, (item, check) in enumerate(zip(value, checks, strict=True)):
                try:
                    items.append(check(item))
                except RefusedValueError as refused:
                    raise RefusedValueError(refused.reason, refused.value, f"[{index}]{refused.at}") from None
            if type(value) is tuple and all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return tuple(items)

        return normalize

    def _set(self, tp: Any, made: type[set[Any]] | type[frozenset[Any]]) -> Callable[[Any], Any]:
        check = self.of(typing.get_args(tp)[0])

        def normalize(value: Any) -> Any:
            if not is_set(value):
                _refuse_type("a set or a frozenset", value)
            items: list[Any] = []
            changed = type(value) is not made
            for item in value:
                try:
                    new = check(item)
                except RefusedValueError as refused:
                    raise RefusedValueError(refused.reason, refused.value, f"[*]{refused.at}") from None
                changed = changed or new is not item
                items.append(new)
            return made(items) if changed else value

        return normalize

    def _mapping(
        self, check_key: Callable[[Any], Any], check_value: Callable[[Any], Any]
    ) -> Callable[[Any], Any]:
        def normalize(value: Any) -> Any:
            if not is_mapping(value):
                _refuse_type("a dict", value)
            items: dict[Any, Any] = {}
            changed = type(value) is not dict
            for key, item in value.items():
                try:
                    new_key = check_key(key)
                except RefusedValueError as refused:
                    raise RefusedValueError(
                        f"an object key: {refused.reason}", key, _key_path("", key)
                    ) from None
                try:
                    new = check_value(item)
                except RefusedValueError as refused:
                    raise RefusedValueError(
                        refused.reason, refused.value, f"{_key_path('', key)}{refused.at}"
                    ) from None
                changed = changed or new is not item or new_key is not key
                items[new_key] = new
            return items if changed else value

        return normalize


def _kept(value: Any) -> Any:
    return value


def _checked_as_json(value: Any) -> Any:
    """A part of no declared element type (``Any``, a union): kept, once :func:`json_problem` finds nothing in it."""
    problem = json_problem(value)
    if problem is not None:
        raise problem
    return value


def _same_decimal_kept(normalize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def keep(value: Any) -> Any:
        new = normalize(value)
        return value if type(value) is Decimal and str(new) == str(value) else new

    return keep


def _refuse_type(expected: str, value: object) -> typing.NoReturn:
    if value is None:
        raise RefusedValueError("None is refused: the type is not Optional (X | None)", value)
    raise RefusedValueError(f"expected {expected}, not {type(value).__qualname__}", value)


_SEQUENCES: Final[dict[object, type[list[Any]] | type[tuple[Any, ...]]]] = {
    list: list,
    collections.abc.MutableSequence: list,
    tuple: tuple,
    collections.abc.Sequence: tuple,  # as cattrs structures it
}
_SETS: Final[dict[object, type[set[Any]] | type[frozenset[Any]]]] = {
    set: set,
    collections.abc.MutableSet: set,
    frozenset: frozenset,
    collections.abc.Set: frozenset,  # as cattrs structures it
}
_MAPPINGS: Final = frozenset({dict, collections.abc.Mapping, collections.abc.MutableMapping})


def json_rule(tp: Any, *, optional: bool, kept: Collection[object] = ()) -> ValueRule:
    """The rule of a JSON column holding values of ``tp`` (a collection type, its element types declared).

    Every part of the value is checked by the rule of its declared type, the same rule a
    column of that type has (so ``list[int]`` refuses ``1.5`` and a ``str``, ``list[Decimal]``
    refuses ``Decimal("NaN")``, a value object's fields are checked as its type says), and
    normalised the same way (datetimes to UTC, ``-0.0`` to ``0.0``); containers come back as
    the type the converter structures (``Sequence`` a tuple, ``Set`` a frozenset, ``Mapping``
    a dict). Values of the types in ``kept`` (types a schema's converter has hooks for) are
    kept as given. None is refused unless ``optional``. A refusal's ``at`` is the path inside
    the value: ``[0].sku``, ``["door"]``.
    """
    check_bool("optional", optional)
    kept_types = check_iterable("kept", kept)
    for index, item in enumerate(kept_types):
        try:
            hash(item)
        except TypeError:
            raise InvalidArgumentError(f"kept[{index}]", item, "must be a type") from None
    check = _Elements(kept_types).of(tp)

    def normalize(value: Any) -> Any:
        if value is None:
            if optional:
                return None
            raise RefusedValueError("None is refused: the field's type is not Optional (X | None)", value)
        return check(value)

    name = getattr(tp, "__name__", None) or repr(tp)
    return ValueRule(f"JSON {name}" if not optional else f"JSON {name} | None", normalize)


def json_value_rule(*, optional: bool) -> ValueRule:
    """The rule of a field declared ``ColumnOptions(json=True)``: any plain JSON value, in stored form.

    :data:`~hexalchemy.rules.json_values.PLAIN_JSON` decides: what it refuses is refused, naming the part
    (``metadata["tags"][2]``), and what it accepts is stored as it returns it (tuples as lists,
    ``-0.0`` as ``0.0``, floats of ``1e16`` or more as ints). None is refused unless
    ``optional``. No element type is checked: the field's annotation is a JSON union
    (``JsonValue``), not a collection type.
    """
    check_bool("optional", optional)

    def normalize(value: Any) -> Any:
        if value is None:
            if optional:
                return None
            raise RefusedValueError("None is refused: the field's type is not Optional (X | None)", value)
        return PLAIN_JSON.normalize(value)

    return ValueRule("JSON value | None" if optional else "JSON value", normalize)
