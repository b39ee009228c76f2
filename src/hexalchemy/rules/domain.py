"""An entity's value rules, compiled once from its spec: check and normalise an aggregate, or a key.

The in-memory repository uses :class:`EntityDomain` to refuse and normalise exactly what the
SQL mapping's generated ``to_row`` refuses and normalises (both take their rules from
:mod:`hexalchemy.rules.values` and :mod:`hexalchemy.rules.json_columns`).
"""

from __future__ import annotations

import collections.abc
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar

import attrs

from hexalchemy._guards import is_mapping
from hexalchemy.ports import ConfigError, EntitySpec, MappingError, field_types
from hexalchemy.ports.columns import split_optional, strip_newtype
from hexalchemy.rules.json_columns import json_rule
from hexalchemy.rules.values import ValueRule, bind_rule, rule_for, value_object_rule

__all__ = ["COLLECTION_ORIGINS", "EntityDomain"]

T = TypeVar("T")
K = TypeVar("K")

COLLECTION_ORIGINS: Final[frozenset[object]] = frozenset(
    {
        list,
        tuple,
        set,
        frozenset,
        dict,
        collections.abc.Sequence,
        collections.abc.MutableSequence,
        collections.abc.Set,
        collections.abc.MutableSet,
        collections.abc.Mapping,
        collections.abc.MutableMapping,
    }
)
"""The generic origins a field's type is a collection of (stored as JSON, its items checked one by one)."""


@attrs.frozen
class _Field:
    name: str
    init_name: str
    check: Callable[[Any], Any] | None  # None: a type outside the domain, kept as given
    node: _Node | None  # a nested value object


@attrs.frozen
class _Node:
    cls: type[object]
    fields: tuple[_Field, ...]


class EntityDomain(Generic[T, K]):
    """The value rules of one entity, compiled from its :class:`~hexalchemy.ports.EntitySpec`.

    Every stored field gets the rule of its type and declared options: the scalar rules of
    :func:`~hexalchemy.rules.rule_for`, the JSON rule for collections, the value-object rule
    (then the rules of its fields) for a nested attrs class. A type outside the domain (one a
    SQL schema would register) is kept as given, unless ``types`` gives its rule (a SQL
    schema's :attr:`~hexalchemy.sqlalchemy.Schema.type_rules`: the rule the SQL mapping holds
    that type to). Options that cannot apply raise :class:`~hexalchemy.ports.MappingError`.
    """

    def __init__(self, spec: EntitySpec[T, K], *, types: Mapping[object, ValueRule] | None = None) -> None:
        self.spec = spec
        self._types = _checked_types(types)
        self._used: set[str] = set()
        self._root = self._plan(spec.cls, "", skip=spec.events_field, seen=(spec.cls,))
        unused = sorted(set(spec.column_options) - self._used)
        if unused:
            raise MappingError(
                spec.cls,
                "column options apply to a field stored in one column, not a value object",
                field=unused[0],
            )
        by_name = {field.name: field for field in self._root.fields}
        self._key_checks = tuple(by_name[name].check for name in spec.key_fields)

    def _plan(
        self, cls: type[object], prefix: str, *, skip: str | None, seen: tuple[type[object], ...]
    ) -> _Node:
        hints = field_types(cls)
        fields: list[_Field] = []
        for attribute in attrs.fields(typing.cast(Any, cls)):
            if attribute.name == skip:
                continue
            path = f"{prefix}{attribute.name}"
            tp, optional = split_optional(hints[attribute.name])
            tp = strip_newtype(tp)
            init_name = attribute.alias or attribute.name
            registered = self._types.get(tp)
            if registered is not None:  # stored in one column, as its rule says (before a value object)
                rule = _or_none(registered) if optional else registered
                fields.append(_Field(attribute.name, init_name, bind_rule(rule, self.spec.cls, path), None))
                continue
            if isinstance(tp, type) and attrs.has(tp) and tp not in seen:
                rule = value_object_rule(tp, optional=optional)
                node = self._plan(tp, f"{path}.", skip=None, seen=(*seen, tp))
                fields.append(_Field(attribute.name, init_name, bind_rule(rule, self.spec.cls, path), node))
                continue
            options = self.spec.column_options.get(path)
            if options is not None:
                self._used.add(path)
            scalar = rule_for(self.spec.cls, path, tp, options, optional=optional)
            if scalar is None and typing.get_origin(tp) in COLLECTION_ORIGINS:
                scalar = json_rule(tp, optional=optional)
            check = None if scalar is None else bind_rule(scalar, self.spec.cls, path)
            fields.append(_Field(attribute.name, init_name, check, None))
        return _Node(cls, tuple(fields))

    def normalize(self, aggregate: T) -> T:
        """Return ``aggregate`` in stored form (itself when nothing changes); raise ``InvalidValueError`` naming the first value refused."""
        return typing.cast(T, self._normalize_node(self._root, aggregate))

    def _normalize_node(self, node: _Node, value: object) -> object:
        changes: dict[str, object] = {}
        for field in node.fields:
            current = getattr(value, field.name)
            new = current if field.check is None else field.check(current)
            if field.node is not None and new is not None:
                new = self._normalize_node(field.node, new)
            if new is not current:
                changes[field.init_name] = new
        if not changes:
            return value
        evolve: Callable[..., object] = attrs.evolve
        return evolve(value, **changes)

    def normalize_key(self, key: K) -> K:
        """Return ``key`` checked against the key fields' rules, in stored form; raise ``InvalidValueError`` otherwise."""
        values = self.spec.key_values(key)
        checked = tuple(
            value if check is None else check(value)
            for value, check in zip(values, self._key_checks, strict=True)
        )
        return self.spec.key_from_values(checked)


def _checked_types(types: object) -> dict[object, ValueRule]:
    """``EntityDomain(types=...)``: a mapping of types to :class:`ValueRule`; ``ConfigError`` otherwise."""
    if types is None:
        return {}
    if not is_mapping(types):
        raise ConfigError("types", types, "must be a mapping of types to ValueRule (Schema.type_rules)")
    checked: dict[object, ValueRule] = {}
    for tp, rule in types.items():
        if not isinstance(rule, ValueRule):
            raise ConfigError(f"types[{tp!r}]", rule, "must be a ValueRule (Schema.type_rules gives them)")
        checked[tp] = rule
    return checked


def _or_none(rule: ValueRule) -> ValueRule:
    """``rule`` that also accepts None (the field is ``X | None``)."""
    inner = rule.normalize

    def normalize(value: Any) -> Any:
        return None if value is None else inner(value)

    return ValueRule(f"{rule.name} | None", normalize)
