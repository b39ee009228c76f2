"""The query rules: field references built and checked, queries checked against an entity, and what every adapter shares.

:func:`field_ref` builds a :class:`~hexalchemy.ports.Field` from a class and a path, and
raises :class:`~hexalchemy.ports.MappingError` naming a field that is not stored in a
column of its own, when the reference is built. :class:`QueryRules` checks a query against
one entity's spec and value rules, before any statement (a comparison value is normalised
by its field's rule, so a wrong type is an ``InvalidValueError`` naming the field), makes
its order total, and holds the semantics the adapters share: the in-memory evaluation
(three-valued, as SQL), the order, and the keyset cursors (opaque, checked: a cursor of
another query, or a tampered one, is an :class:`~hexalchemy.ports.InvalidArgumentError`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import hashlib
import json
import typing
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Generic, TypeGuard, TypeVar, overload

import attrs

from hexalchemy._codegen import compile_function
from hexalchemy.ports import (
    EntitySpec,
    InvalidArgumentError,
    MappingError,
    field_types,
    split_optional,
    strip_newtype,
)
from hexalchemy.ports.columns import COLUMN_OPTIONS_KEY, ColumnOptions
from hexalchemy.ports.query import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Field,
    IsNone,
    Not,
    OneOf,
    Ordering,
    Query,
    TextMatch,
)
from hexalchemy.rules.arguments import check_instance, check_int, check_list, check_positive_int
from hexalchemy.rules.values import bind_rule, rule_for

__all__ = [
    "MAX_PAGE_SIZE",
    "CheckedQuery",
    "FieldRef",
    "QueryRules",
    "check_find_limit",
    "check_page_size",
    "field_ref",
    "orderable",
]

E = TypeVar("E")
T = TypeVar("T")
V = TypeVar("V")
V_contra = TypeVar("V_contra", contravariant=True)

MAX_PAGE_SIZE: Final = 10_000
"""The largest page, chunk or limit a query takes."""

_SCALARS: Final[frozenset[object]] = frozenset(
    {str, int, float, bool, Decimal, uuid.UUID, dt.date, dt.datetime}
)
_CURSOR_PERSON: Final = b"hx-cursor"
_NO_ORDER: Final[tuple[()]] = ()
_OPERATORS: Final = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
_MAX_REMEMBERED: Final = 1024
"""How many fields and orders a :class:`QueryRules` remembers as checked (all are forgotten when one more comes)."""


def _is_scalar(tp: object) -> bool:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return True
    return tp in _SCALARS


class _Recorder:
    """What a path lambda is called with: records the attributes it reads."""

    __slots__ = ("hx_path",)

    def __init__(self, path: tuple[str, ...]) -> None:
        self.hx_path = path

    def __getattr__(self, name: str) -> _Recorder:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Recorder((*self.hx_path, name))


def _record(entity: type[object], path: Callable[[Any], object]) -> tuple[str, ...]:
    hint = "a field reference reads attributes only, as `lambda o: o.ship_to.city`"
    try:
        found = path(_Recorder(()))
    except Exception as exc:
        raise MappingError(entity, f"{hint} ({exc!r})") from exc
    if not isinstance(found, _Recorder) or not found.hx_path:
        raise MappingError(entity, hint)
    return found.hx_path


def _resolve(entity: type[object], path: tuple[str, ...]) -> tuple[Any, bool]:
    """The leaf type (Optional and NewType removed) of ``path`` and whether a None may be on the way; MappingError otherwise."""
    dotted = ".".join(path)
    cls: Any = entity
    optional = False
    for index, part in enumerate(path):
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise MappingError(
                entity, f"{'.'.join(path[:index])} is not a value object: it has no fields", field=dotted
            )
        hints = field_types(cls)
        if part not in hints:
            raise MappingError(entity, "the class has no such field", field=dotted)
        tp, is_optional = split_optional(hints[part])
        optional = optional or is_optional
        cls = strip_newtype(tp)
    if not _is_scalar(cls):
        what = "a value object: refer to one of its fields" if attrs.has(cls) else f"of type {cls!r}"
        raise MappingError(
            entity,
            f"the field is {what}; queries compare and order the scalars stored in a column of their own "
            "(str, int, float, bool, Decimal, UUID, date, datetime, enums)",
            field=dotted,
        )
    return cls, optional


# Runtime checks of what a caller passed (typed ``object``: a query may come from anywhere);
# each guard names the generic type it proves with its parameters left open.
def _is_field(value: object) -> TypeGuard[Field[Any]]:
    return isinstance(value, Field)


def _is_field_ref(value: object) -> TypeGuard[FieldRef[Any, Any]]:
    return isinstance(value, FieldRef)


def _is_condition(value: object) -> TypeGuard[Condition[Any]]:
    return isinstance(value, Condition)


def _is_query(value: object) -> TypeGuard[Query[Any]]:
    return isinstance(value, Query)


def _is_ordering(value: object) -> TypeGuard[Ordering[Any]]:
    return isinstance(value, Ordering)


def _is_attrs_class(value: object) -> bool:
    return isinstance(value, type) and attrs.has(value)


def _is_list(value: object) -> TypeGuard[list[object]]:
    return isinstance(value, list)


def _is_tuple_or_list(value: object) -> TypeGuard[tuple[object, ...] | list[object]]:
    return isinstance(value, tuple | list)


def _sequence_or_none(value: object) -> Sequence[object] | None:
    """``value`` if it is a sequence other than a str (an ``order_by`` as given), else None."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return None
    return typing.cast("Sequence[object]", value)


class FieldRef(Generic[E, V_contra]):
    """A typed reference to a stored scalar of aggregates ``E`` whose values are ``V``: build it with :func:`field_ref`.

    Its methods build the conditions and orderings of :mod:`hexalchemy.ports.query`, and take
    values of the field's type only (checked by mypy and pyright); ``field`` is the
    :class:`~hexalchemy.ports.Field` they name.
    """

    __slots__ = ("field",)

    def __init__(self, field: Field[E]) -> None:
        check_instance("field", field, Field)
        self.field = field

    @property
    def dotted_path(self) -> str:
        """The field's path, as ``ship_to.city``."""
        return ".".join(self.field.path)

    def eq(self, value: V_contra) -> Condition[E]:
        """The value equals ``value`` (``eq(None)``: the value is None)."""
        return Comparison(self.field, "eq", value)

    def ne(self, value: V_contra) -> Condition[E]:
        """The value differs from ``value`` (unknown when the value is None; ``ne(None)``: it is not None)."""
        return Comparison(self.field, "ne", value)

    def lt(self, value: V_contra) -> Condition[E]:
        """The value is less than ``value``."""
        return Comparison(self.field, "lt", value)

    def le(self, value: V_contra) -> Condition[E]:
        """The value is at most ``value``."""
        return Comparison(self.field, "le", value)

    def gt(self, value: V_contra) -> Condition[E]:
        """The value is greater than ``value``."""
        return Comparison(self.field, "gt", value)

    def ge(self, value: V_contra) -> Condition[E]:
        """The value is at least ``value``."""
        return Comparison(self.field, "ge", value)

    def in_(self, values: Iterable[V_contra]) -> Condition[E]:
        """The value is one of ``values`` (none of an empty list; a None among them matches a None value)."""
        return OneOf(self.field, tuple(check_list("values", values)))

    def is_none(self) -> Condition[E]:
        """The value (or a value object on its way) is None."""
        return IsNone(self.field)

    def is_not_none(self) -> Condition[E]:
        """The value is not None."""
        return Not(IsNone(self.field))

    def startswith(self: FieldRef[E, str], prefix: str) -> Condition[E]:
        """The text starts with ``prefix`` (case-sensitive, no wildcards)."""
        return TextMatch(self.field, "prefix", prefix)

    def contains(self: FieldRef[E, str], text: str) -> Condition[E]:
        """The text contains ``text`` (case-sensitive, no wildcards)."""
        return TextMatch(self.field, "contains", text)

    def asc(self) -> Ordering[E]:
        """Order by this value, ascending (None first)."""
        return Ordering(self.field, descending=False)

    def desc(self) -> Ordering[E]:
        """Order by this value, descending (None last)."""
        return Ordering(self.field, descending=True)

    def __repr__(self) -> str:
        return f"field_ref({self.field.entity.__qualname__}, {self.dotted_path!r})"


@overload
def field_ref(entity: type[E], path: attrs.Attribute[V], /) -> FieldRef[E, V]: ...


@overload
def field_ref(entity: type[E], path: Callable[[E], V], /) -> FieldRef[E, V]: ...


def field_ref(entity: type[E], path: Any, /) -> FieldRef[E, Any]:
    """A typed reference to a stored scalar of ``entity``: ``field_ref(Order, lambda o: o.ship_to.city)``.

    ``path`` is a lambda reading attributes (nested value objects included) or one of
    ``attrs.fields(Order)``. The value type is the one a type checker infers for the
    lambda, so ``field_ref(Order, lambda o: o.total).eq("x")`` fails the type check.
    Raise :class:`MappingError` naming the field when it does not exist, is a value object,
    a collection (stored as JSON) or a type outside the scalars.
    """
    if not _is_attrs_class(entity):
        raise MappingError(entity, "not an attrs class (decorate it with @attrs.define or @attrs.frozen)")
    if isinstance(path, attrs.Attribute):
        own: dict[str, object] = {field.name: field for field in attrs.fields(typing.cast(Any, entity))}
        if own.get(path.name) is not path:
            raise MappingError(entity, "the attribute is not one of attrs.fields(entity)", field=path.name)
        parts: tuple[str, ...] = (path.name,)
    elif callable(path):
        parts = _record(entity, path)
    else:
        raise MappingError(entity, f"a field reference takes a lambda or an attrs attribute, not {path!r}")
    value_type, optional = _resolve(entity, parts)
    return FieldRef(Field(entity, parts, value_type, optional))


def orderable(value: object) -> object:
    """The value a field's value is compared and ordered by: an enum's value, the value itself otherwise."""
    return value.value if isinstance(value, enum.Enum) else value


class CheckedQuery(Generic[T]):
    """A query checked against its entity: its condition with normalised values, its total order, its fingerprint.

    ``shape`` and ``values`` are the condition taken apart by the same check: an adapter
    that builds one statement per shape binds the values to it, in this order. Built by
    :meth:`QueryRules.check_query` and read only: a plain slotted class rather than a
    frozen attrs one, as one is made per query call.
    """

    __slots__ = ("condition", "entity", "ordering", "shape", "values")

    def __init__(
        self,
        condition: Condition[T] | None,
        ordering: tuple[Ordering[T], ...],
        entity: type[T],
        shape: tuple[object, ...] = (),
        values: tuple[object, ...] = (),
    ) -> None:
        self.condition = condition
        """The condition, every field checked and every value normalised (None: every aggregate)."""
        self.ordering = ordering
        """The total order: the query's orderings, each field once, ended by the key fields."""
        self.entity = entity
        """The entity the query reads."""
        self.shape = shape
        """What the condition's SQL depends on besides its values: its fields, operators, the number of values of each ``in_``, the kind of each text match."""
        self.values = values
        """The condition's values, normalised, in the order the shape names them (a text match's text; an ``in_``'s values in turn)."""

    def __repr__(self) -> str:
        return f"CheckedQuery({self.condition!r}, {self.ordering!r}, {self.entity.__qualname__})"

    @property
    def fingerprint(self) -> bytes:
        """A digest of the entity, the condition and the order: what a cursor is bound to (computed for pages only)."""
        parts = [self.entity.__module__, self.entity.__qualname__, _described(self.condition)]
        parts.extend(f"{'.'.join(order.field.path)} {order.descending}" for order in self.ordering)
        return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).digest()


def _described(condition: Condition[Any] | None) -> str:
    """A checked condition as text that tells it from any other: its fields, operators and values (typed)."""
    if condition is None:
        return ""
    if isinstance(condition, Comparison | OneOf | TextMatch):
        values = (
            condition.values
            if isinstance(condition, OneOf)
            else (condition.value if isinstance(condition, Comparison) else condition.text,)
        )
        operator = (
            "in"
            if isinstance(condition, OneOf)
            else (condition.operator if isinstance(condition, Comparison) else condition.kind)
        )
        described = ",".join(f"{type(value).__qualname__}:{value!r}" for value in values)
        return f"{operator}({'.'.join(condition.field.path)};{described})"
    if isinstance(condition, IsNone):
        return f"none({'.'.join(condition.field.path)})"
    if isinstance(condition, AllOf | AnyOf):
        name = "and" if isinstance(condition, AllOf) else "or"
        return f"{name}({';'.join(_described(part) for part in condition.conditions)})"
    if isinstance(condition, Not):
        return f"not({_described(condition.condition)})"
    raise AssertionError(condition)  # pragma: no cover - checked conditions only


def _compare(left: object, right: object) -> int:
    """-1, 0 or 1, with None before every value."""
    if left is None or right is None:
        return (left is not None) - (right is not None)
    a: Any = orderable(left)
    b: Any = orderable(right)
    return -1 if a < b else (1 if a > b else 0)


class QueryRules(Generic[T]):
    """What an adapter needs to run queries on one entity: their checks, order, evaluation and cursors."""

    def __init__(self, spec: EntitySpec[T, Any]) -> None:
        check_instance("spec", spec, EntitySpec)
        self.spec = spec
        self.entity: type[T] = spec.cls
        self.key_fields: tuple[Field[T], ...] = tuple(
            Field(spec.cls, (name,), *_resolve(spec.cls, (name,))) for name in spec.key_fields
        )
        self._value_checks: dict[tuple[str, ...], Callable[[Any], Any]] = {}
        # check_field's verdict by (path, value type, optional, compared): resolved once, not per query
        self._checked_fields: set[tuple[tuple[str, ...], Any, bool, bool]] = set()
        # the Field objects accepted, by id (the object kept, so an id is never reused), for compared
        # and for is_none only: a query names the same field_ref's Field again and again
        self._accepted: tuple[dict[int, Field[T]], dict[int, Field[T]]] = ({}, {})
        # the total order of each order_by seen (orderings compare by value)
        self._orders: dict[tuple[object, ...], tuple[Ordering[T], ...]] = {}
        self._key_order: tuple[Ordering[T], ...] = tuple(Ordering(field) for field in self.key_fields)

    # -- checks --------------------------------------------------------------------------------

    def _non_finite(self, path: tuple[str, ...]) -> bool:
        dotted = ".".join(path)
        options = self.spec.column_options.get(dotted)
        if options is None:
            cls: Any = self.entity
            for part in path[:-1]:
                cls = strip_newtype(split_optional(field_types(cls)[part])[0])
            found = {field.name: field for field in attrs.fields(cls)}[path[-1]]
            options = found.metadata.get(COLUMN_OPTIONS_KEY)
        return isinstance(options, ColumnOptions) and options.allow_non_finite

    def check_field(self, field: object, *, compared: bool = True) -> Field[T]:
        """Return ``field`` if it is a stored scalar of this entity (MappingError naming it otherwise)."""
        accepted = self._accepted[compared]
        known = accepted.get(id(field))
        if known is not None and known is field:  # an accepted Field (a FieldRef never is one)
            return known
        if _is_field_ref(field):
            field = field.field
            known = accepted.get(id(field))
            if known is not None and known is field:
                return known
        if not _is_field(field):
            raise InvalidArgumentError("field", field, "must be a Field (build it with field_ref)")
        if field.entity is not self.entity:
            raise MappingError(
                self.entity,
                f"the field belongs to {getattr(field.entity, '__qualname__', field.entity)!r}, "
                "not to this query's entity",
                field=".".join(field.path),
            )
        verdict: tuple[tuple[str, ...], Any, bool, bool] | None = (
            field.path,
            field.value_type,
            field.optional,
            compared,
        )
        try:
            if verdict in self._checked_fields:
                return typing.cast("Field[T]", field)
        except TypeError:  # an unhashable path or type: checked below, then refused
            verdict = None
        value_type, optional = _resolve(self.entity, field.path)
        if (value_type, optional) != (field.value_type, field.optional):
            raise MappingError(
                self.entity, "the field reference does not match the class", field=".".join(field.path)
            )
        if field.path[0] == self.spec.events_field:
            raise MappingError(self.entity, "the events field is never stored", field=".".join(field.path))
        if compared and self._non_finite(field.path):
            raise MappingError(
                self.entity,
                "a field that allows NaN and ±Infinity is compared and ordered differently by each "
                "database; only is_none() applies to it",
                field=".".join(field.path),
            )
        if verdict is not None:
            self._checked_fields.add(verdict)
        if len(accepted) >= _MAX_REMEMBERED:
            accepted.clear()
        accepted[id(field)] = checked = typing.cast("Field[T]", field)
        return checked

    def _normalize(self, field: Field[T], value: object) -> object:
        check = self._value_checks.get(field.path)
        if check is None:
            check = self._value_checks[field.path] = self._value_check(field)
        return check(value)

    def _value_check(self, field: Field[T]) -> Callable[[Any], Any]:
        """The field's rule as one function: its ``quick`` test inline (a value in stored form costs no call), else its check."""
        dotted = ".".join(field.path)
        rule = rule_for(self.entity, dotted, field.value_type, None, optional=False)
        if rule is None:  # pragma: no cover - every scalar has a rule
            raise AssertionError(field)
        check = bind_rule(rule, self.entity, dotted)
        quick = rule.quick_source("value", "q")
        if quick is None:
            return check
        expression, names = quick
        source = f"def check(value):\n    if {expression}:\n        return value\n    return slow(value)\n"
        return compile_function("check", source, {**names, "slow": check}, f"query value {dotted}")

    def check_condition(self, condition: object) -> Condition[T]:
        """``condition`` with every field checked and every value normalised by its field's rule."""
        if not _is_condition(condition):
            raise InvalidArgumentError("condition", condition, "must be a Condition (built from a Field)")
        checked, _ = self._checked(condition, [])
        return checked

    def _checked(
        self, condition: Condition[Any], values: list[object]
    ) -> tuple[Condition[T], tuple[object, ...]]:
        """``condition`` checked (see :meth:`check_condition`) and its shape; its values appended to ``values`` in the shape's order.

        Typed a Condition, but a query's or a part's may be anything at run time: what is
        none of the conditions below is refused at the end, as ``check_condition`` refuses it.
        """
        if isinstance(condition, Comparison):
            field = self.check_field(condition.field)
            operator = condition.operator
            if operator not in _OPERATORS:
                raise InvalidArgumentError("operator", operator, "must be one of eq ne lt le gt ge")
            if condition.value is None:
                if operator == "eq":
                    return IsNone(field), ("none", field.path)
                if operator == "ne":
                    return Not(IsNone(field)), ("not", ("none", field.path))
                raise InvalidArgumentError(
                    ".".join(field.path), None, f"{operator}(None) compares with nothing"
                )
            check = self._value_checks.get(field.path)
            # the field's check called here once made (_normalize makes it): one call less a comparison
            value = self._normalize(field, condition.value) if check is None else check(condition.value)
            values.append(value)
            shape: tuple[object, ...] = ("c", field.path, operator)
            if value is condition.value and field is condition.field and type(condition) is Comparison:
                return condition, shape  # already as checked (a frozen value): no copy
            return Comparison(field, operator, value), shape
        if isinstance(condition, OneOf):
            field = self.check_field(condition.field)
            options = tuple(
                dict.fromkeys(
                    self._normalize(field, value) for value in condition.values if value is not None
                )
            )
            values.extend(options)
            one_of: Condition[T] = OneOf(field, options)
            in_shape = ("in", field.path, len(options))
            if None in condition.values:
                return AnyOf((one_of, IsNone(field))), ("or", in_shape, ("none", field.path))
            return one_of, in_shape
        if isinstance(condition, IsNone):
            field = self.check_field(condition.field, compared=False)
            return IsNone(field), ("none", field.path)
        if isinstance(condition, TextMatch):
            field = self.check_field(condition.field)
            if field.value_type is not str:
                raise MappingError(
                    self.entity, "startswith and contains apply to text", field=".".join(field.path)
                )
            if condition.kind not in ("prefix", "contains"):
                raise InvalidArgumentError("kind", condition.kind, "must be 'prefix' or 'contains'")
            text = typing.cast(str, self._normalize(field, condition.text))
            values.append(text)
            return TextMatch(field, condition.kind, text), ("text", field.path, condition.kind)
        if isinstance(condition, AllOf | AnyOf):
            parts: list[Condition[T]] = []
            shapes: list[object] = ["and" if isinstance(condition, AllOf) else "or"]
            for part in condition.conditions:
                checked, part_shape = self._checked(part, values)
                parts.append(checked)
                shapes.append(part_shape)
            return (AllOf(tuple(parts)) if isinstance(condition, AllOf) else AnyOf(tuple(parts))), tuple(
                shapes
            )
        if isinstance(condition, Not):
            checked, inner = self._checked(condition.condition, values)
            return Not(checked), ("not", inner)
        raise InvalidArgumentError("condition", condition, "must be a Condition (built from a Field)")

    def check_query(self, query: object) -> CheckedQuery[T]:
        """``query`` checked against this entity, its order made total by the key fields."""
        if not _is_query(query):
            raise InvalidArgumentError("query", query, f"must be a Query of {self.entity.__qualname__}")
        if query.entity is not self.entity:
            raise InvalidArgumentError(
                "query",
                query,
                f"is a query of {getattr(query.entity, '__qualname__', query.entity)!r}, "
                f"not of {self.entity.__qualname__}",
            )
        order_by = query.order_by
        ordering = self._key_order if order_by is _NO_ORDER else self._total_order(order_by)
        if query.where is None:
            return CheckedQuery(None, ordering, self.entity)
        values: list[object] = []
        condition, shape = self._checked(query.where, values)
        return CheckedQuery(condition, ordering, self.entity, shape, tuple(values))

    def _total_order(self, order_by: object) -> tuple[Ordering[T], ...]:
        """``order_by`` checked, each field once, ended by the key fields (remembered for each order_by seen)."""
        if order_by is _NO_ORDER:  # Query's default (the empty tuple is one object): the key order
            return self._key_order
        key: tuple[object, ...] | None = None
        if _is_tuple_or_list(order_by):
            key = tuple(order_by)
            try:
                found = self._orders.get(key)
            except TypeError:  # an unhashable ordering: checked below, then refused
                found, key = None, None
            if found is not None:
                return found
        orders = _sequence_or_none(order_by)
        if orders is None:
            raise InvalidArgumentError("order_by", order_by, "must be a sequence of orderings")
        ordering: list[Ordering[T]] = []
        seen: set[tuple[str, ...]] = set()
        for order in orders:
            if not _is_ordering(order):
                raise InvalidArgumentError(
                    "ordering", order, "must be an Ordering (field.asc() or field.desc())"
                )
            field = self.check_field(order.field)
            if field.path not in seen:  # a field ordered twice: the first one decides
                seen.add(field.path)
                ordering.append(Ordering(field, descending=bool(order.descending)))
        # the key ends the order, in the direction of the last ordering (so one direction stays one)
        descending = ordering[-1].descending if ordering else False
        for key_field in self.key_fields:
            if key_field.path not in seen:
                seen.add(key_field.path)
                ordering.append(Ordering(key_field, descending=descending))
        total = tuple(ordering)
        if key is not None:
            if len(self._orders) >= _MAX_REMEMBERED:
                self._orders.clear()
            self._orders[key] = total
        return total

    def check_condition_of(self, condition: object) -> Condition[T]:
        """A ``delete_where`` condition: a Condition of this entity, checked."""
        return self.check_condition(condition)

    # -- evaluation (the in-memory adapter) ------------------------------------------------

    @staticmethod
    def value_of(aggregate: object, field: Field[Any]) -> object:
        """The value ``field`` names on ``aggregate`` (None when a value object on the way is None)."""
        value: object = aggregate
        for part in field.path:
            if value is None:
                return None
            value = getattr(value, part)
        return value

    def truth(self, condition: Condition[T], aggregate: T) -> bool | None:
        """Whether a checked ``condition`` holds for ``aggregate``: True, False or None (unknown, as in SQL)."""
        if isinstance(condition, Comparison):
            value = self.value_of(aggregate, condition.field)
            if value is None:
                return None
            order = _compare(value, condition.value)
            return {
                "eq": order == 0,
                "ne": order != 0,
                "lt": order < 0,
                "le": order <= 0,
                "gt": order > 0,
                "ge": order >= 0,
            }[condition.operator]
        if isinstance(condition, OneOf):
            value = self.value_of(aggregate, condition.field)
            if not condition.values:
                return False
            if value is None:
                return None
            return any(_compare(value, option) == 0 for option in condition.values)
        if isinstance(condition, IsNone):
            return self.value_of(aggregate, condition.field) is None
        if isinstance(condition, TextMatch):
            text = self.value_of(aggregate, condition.field)
            if text is None:
                return None
            assert isinstance(text, str)
            return text.startswith(condition.text) if condition.kind == "prefix" else condition.text in text
        if isinstance(condition, AllOf):
            results = [self.truth(part, aggregate) for part in condition.conditions]
            return False if False in results else (None if None in results else True)
        if isinstance(condition, AnyOf):
            results = [self.truth(part, aggregate) for part in condition.conditions]
            return True if True in results else (None if None in results else False)
        if isinstance(condition, Not):
            result = self.truth(condition.condition, aggregate)
            return None if result is None else not result
        raise AssertionError(condition)  # pragma: no cover - checked conditions only

    def matches(self, checked: CheckedQuery[T], aggregate: T) -> bool:
        """Whether ``aggregate`` matches the checked query's condition."""
        return checked.condition is None or self.truth(checked.condition, aggregate) is True

    def sort_values(self, checked: CheckedQuery[T], aggregate: T) -> tuple[object, ...]:
        """The values ``aggregate`` is ordered by, in the query's total order."""
        return tuple(self.value_of(aggregate, order.field) for order in checked.ordering)

    def compare_positions(
        self, checked: CheckedQuery[T], left: Sequence[object], right: Sequence[object]
    ) -> int:
        """-1, 0 or 1: whether ``left`` comes before, at or after ``right`` in the query's order."""
        for order, a, b in zip(checked.ordering, left, right, strict=True):
            found = _compare(a, b)
            if found:
                return -found if order.descending else found
        return 0

    def sorted(self, checked: CheckedQuery[T], aggregates: Sequence[T]) -> list[T]:
        """``aggregates`` in the query's order."""
        decorated = [(self.sort_values(checked, aggregate), aggregate) for aggregate in aggregates]

        def compare(left: tuple[tuple[object, ...], T], right: tuple[tuple[object, ...], T]) -> int:
            return self.compare_positions(checked, left[0], right[0])

        decorated.sort(key=functools.cmp_to_key(compare))
        return [aggregate for _, aggregate in decorated]

    # -- cursors -------------------------------------------------------------------------------

    def cursor_of(self, checked: CheckedQuery[T], aggregate: T) -> str:
        """The opaque cursor of the position just after ``aggregate`` in the checked query."""
        values = [_encode(value) for value in self.sort_values(checked, aggregate)]
        payload = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{_checksum(checked, payload)}"

    def position_of(self, checked: CheckedQuery[T], cursor: object) -> tuple[object, ...]:
        """The ordering values a cursor of :meth:`cursor_of` holds; ``InvalidArgumentError`` for any other string."""
        reason = "is not a cursor of this query (another query's, or altered)"
        if not isinstance(cursor, str):
            raise InvalidArgumentError("after", cursor, "must be a cursor (a str) from a page of this query")
        body, _, checksum = cursor.partition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise InvalidArgumentError("after", cursor, reason) from None
        if checksum != _checksum(checked, payload):
            raise InvalidArgumentError("after", cursor, reason)
        try:
            values: object = json.loads(payload)
            if not _is_list(values) or len(values) != len(checked.ordering):
                raise ValueError(values)
            return tuple(
                _decode(value, order.field) for value, order in zip(values, checked.ordering, strict=True)
            )
        except (ValueError, TypeError, InvalidOperation):
            raise InvalidArgumentError("after", cursor, reason) from None


def _checksum(checked: CheckedQuery[Any], payload: bytes) -> str:
    digest = hashlib.blake2b(payload, digest_size=12, key=checked.fingerprint, person=_CURSOR_PERSON)
    return digest.hexdigest()


def _encode(value: object) -> object:
    value = orderable(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    raise AssertionError(value)  # pragma: no cover - the scalars only


def _decode(value: object, field: Field[Any]) -> object:
    if value is None:
        if not field.optional:
            raise ValueError(value)
        return None
    tp = field.value_type
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if tp is bool or tp is int or tp is str:
        if type(value) is not tp:
            raise ValueError(value)
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    if tp is float:
        return float.fromhex(value)
    if tp is Decimal:
        return Decimal(value)
    if tp is uuid.UUID:
        return uuid.UUID(value)
    if tp is dt.datetime:
        found = dt.datetime.fromisoformat(value)
        if found.tzinfo is None:
            raise ValueError(value)
        return found
    if tp is dt.date:
        return dt.date.fromisoformat(value)
    raise ValueError(value)  # pragma: no cover - the scalars only


def check_page_size(name: str, value: object) -> int:
    """A page size or a stream's chunk size: an int from 1 to :data:`MAX_PAGE_SIZE`."""
    return check_positive_int(name, value, maximum=MAX_PAGE_SIZE)


def check_find_limit(limit: object) -> int | None:
    """``find``'s limit: None, or an int from 0."""
    if limit is None:
        return None
    return check_int("limit", limit, minimum=0, maximum=2**62)
