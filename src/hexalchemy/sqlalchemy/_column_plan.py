"""What columns an attrs class maps to: the planner that walks the class, and the columns of a derived table.

:class:`Planner` turns a class into a tree of :class:`Node` (value objects) and
:class:`Leaf` (one column each), refusing with :class:`~hexalchemy.ports.MappingError`
what cannot be stored; :func:`derive_columns` makes the columns, indexes and unique
constraints of the table :class:`~hexalchemy.sqlalchemy.Schema` derives from a spec.
:mod:`hexalchemy.sqlalchemy.mapping` generates the conversions from the same tree.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import enum
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs
import cattrs
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.types import TypeEngine

from hexalchemy._guards import is_enum_class
from hexalchemy.ports import (
    ColumnOptions,
    EntitySpec,
    MappingError,
    field_types,
    split_optional,
    strip_newtype,
)
from hexalchemy.rules import declared_scale, rule_for
from hexalchemy.rules.domain import COLLECTION_ORIGINS
from hexalchemy.sqlalchemy._portable import binary_type, json_type, text_type
from hexalchemy.sqlalchemy._table_options import check_column_name, column_keywords, derived_constraints
from hexalchemy.sqlalchemy.types import ExactDecimal, UtcDateTime

__all__ = [
    "PLAIN_TYPES",
    "Leaf",
    "LeafKind",
    "Node",
    "Planner",
    "check_unique_names",
    "derive_columns",
    "leaves_of",
    "presence_leaf",
]

LeafKind = Literal["plain", "datetime", "enum", "hook", "json"]

PLAIN_TYPES: dict[type[object], Callable[[], TypeEngine[Any]]] = {
    str: text_type,
    int: BigInteger,
    float: Double,
    bool: Boolean,
    Decimal: ExactDecimal,
    uuid.UUID: Uuid,
    dt.date: Date,
    bytes: binary_type,
}
_INTEGER_TYPES: dict[int, Callable[[], TypeEngine[Any]]] = {16: SmallInteger, 32: Integer, 64: BigInteger}
_MAPPING_ORIGINS: frozenset[object] = frozenset(
    {dict, collections.abc.Mapping, collections.abc.MutableMapping}
)


@attrs.frozen
class Leaf:
    """One column of a mapping: the attribute path that leads to it and how it converts.

    ``nullable``: the column may hold NULL (the field, or a value object holding it, is
    optional); ``optional``: the field's own type is ``X | None``; ``options``: its declared
    :class:`~hexalchemy.ports.ColumnOptions`.
    """

    path: tuple[str, ...]
    column_name: str
    kind: LeafKind
    python_type: Any
    nullable: bool
    column_type: TypeEngine[Any] | None
    optional: bool = False
    options: ColumnOptions | None = None

    @property
    def dotted_path(self) -> str:
        """The attribute path as ``address.street``."""
        return ".".join(self.path)

    @property
    def enum_members(self) -> list[enum.Enum]:
        """The members of the field's enum, in definition order (none for a field that is no enum)."""
        if self.kind != "enum":
            return []
        members: Iterable[enum.Enum] = self.python_type
        return list(members)

    @property
    def stored_type(self) -> Any:
        """The Python type of what the column holds: an enum's value type, the field's own type otherwise."""
        if self.kind == "enum":
            first: object = self.enum_members[0].value  # the planner refuses an enum with no members
            return type(first)
        return self.python_type


@attrs.frozen
class Node:
    cls: type[object]
    path: tuple[str, ...]
    optional: bool  # the node may be None: its own type is optional, or a node holding it is
    own_optional: bool  # its own type is X | None
    children: tuple[tuple[str, str, Leaf | Node], ...]  # (attribute name, init name, child)


class Planner:
    """Walks an attrs class and plans its columns; raises MappingError on anything unsupported."""

    def __init__(
        self,
        root: type[object],
        converter: cattrs.Converter,
        custom_types: Mapping[Any, TypeEngine[Any]],
        options: Mapping[str, ColumnOptions] | None = None,
    ) -> None:
        self.root = root
        self.converter = converter
        self.custom_types = custom_types
        self.options: Mapping[str, ColumnOptions] = options or {}

    def plan(
        self,
        cls: type[object],
        path: tuple[str, ...],
        prefix: str,
        optional: bool,
        skip: str | None = None,
        own_optional: bool = False,
    ) -> Node:
        children: list[tuple[str, str, Leaf | Node]] = []
        hints = field_types(cls)
        for field in attrs.fields(typing.cast(Any, cls)):
            if field.name == skip:
                continue  # the events field: never stored; loaded aggregates get its default
            field_path = (*path, field.name)
            dotted = ".".join(field_path)
            if not field.init:
                raise MappingError(self.root, "fields with init=False cannot be mapped", field=dotted)
            name = field.alias or field.name
            declared = self.options.get(dotted)
            column_name = declared.name if declared is not None and declared.name else f"{prefix}{name}"
            tp, is_optional = split_optional(hints[field.name])
            tp = strip_newtype(tp)
            nullable = optional or is_optional
            if attrs.has(tp) and tp not in self.custom_types and not (declared and declared.json):
                if declared is not None:
                    raise MappingError(
                        self.root,
                        "column options apply to a field stored in one column, not a value object",
                        field=dotted,
                    )
                child: Leaf | Node = self.plan(
                    tp, field_path, f"{column_name}_", nullable, own_optional=is_optional
                )
                if is_optional and self._presence_leaf(child) is None:
                    raise MappingError(
                        self.root,
                        "an optional value object needs at least one non-optional field "
                        "(it tells a missing object from one whose fields are all None)",
                        field=dotted,
                    )
            else:
                child = self.leaf(tp, field_path, column_name, nullable, is_optional)
            children.append((field.name, name, child))
        return Node(
            cls=cls, path=path, optional=optional, own_optional=own_optional, children=tuple(children)
        )

    def leaf(self, tp: Any, path: tuple[str, ...], column_name: str, nullable: bool, optional: bool) -> Leaf:
        dotted = ".".join(path)
        options = self.options.get(dotted)
        # The rule checks the options fit the type (MappingError otherwise); the SQL types use them.
        rule_for(self.root, dotted, tp, options, optional=optional)
        if options is not None and options.json:
            optional = optional or type(None) in typing.get_args(tp)
            return Leaf(path, column_name, "json", tp, nullable or optional, json_type(), optional, options)
        if tp in self.custom_types:
            return Leaf(path, column_name, "hook", tp, nullable, self.custom_types[tp], optional, options)
        if is_enum_class(tp):
            column_type = self._enum_column_type(tp, dotted)
            return Leaf(path, column_name, "enum", tp, nullable, column_type, optional, options)
        if tp is dt.datetime:
            return Leaf(path, column_name, "datetime", tp, nullable, UtcDateTime(), optional, options)
        if tp in PLAIN_TYPES:
            return Leaf(
                path, column_name, "plain", tp, nullable, _derived_type(tp, options), optional, options
            )
        if typing.get_origin(tp) in COLLECTION_ORIGINS:
            reason = self._json_problem(tp)
            if reason is not None:
                raise MappingError(self.root, f"cannot store {tp!r} as JSON: {reason}", field=dotted)
            return Leaf(path, column_name, "hook", tp, nullable, json_type(), optional, options)
        raise MappingError(
            self.root,
            f"unsupported type {tp!r}; register it with Schema.register_type(...)",
            field=dotted,
        )

    def _enum_column_type(self, tp: type[enum.Enum], dotted: str) -> TypeEngine[Any]:
        values = [member.value for member in tp]
        if values and all(isinstance(value, str) for value in values):
            return String(max(len(value) for value in values))
        if values and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            return BigInteger()
        raise MappingError(
            self.root,
            f"enum {tp.__qualname__} must have all-str or all-int values (stored by value)",
            field=dotted,
        )

    def _json_problem(self, tp: Any) -> str | None:
        tp, _ = split_optional(tp)
        tp = strip_newtype(tp)
        if tp is bytes:
            return "JSON has no bytes (store them in a bytes field of their own)"
        if tp in PLAIN_TYPES or tp is dt.datetime or tp in self.custom_types:
            return None
        if is_enum_class(tp):
            return None
        if attrs.has(tp):
            for inner in field_types(tp).values():
                problem = self._json_problem(inner)
                if problem is not None:
                    return problem
            return None
        origin = typing.get_origin(tp)
        if origin in COLLECTION_ORIGINS:
            args = [arg for arg in typing.get_args(tp) if arg is not Ellipsis]
            if not args:
                return f"{tp!r} needs element types"
            if origin in _MAPPING_ORIGINS and strip_newtype(args[0]) is not str:
                return "JSON object keys must be str"
            for arg in args:
                problem = self._json_problem(arg)
                if problem is not None:
                    return problem
            return None
        return f"unsupported element type {tp!r}"

    def _presence_leaf(self, node: Leaf | Node) -> Leaf | None:
        return presence_leaf(node) if isinstance(node, Node) else node


def _derived_type(tp: Any, options: ColumnOptions | None) -> TypeEngine[Any]:
    """The column type a derived table gives a plain field: its declared options shape it."""
    if options is not None:
        if tp is str and options.max_length is not None:
            return String(options.max_length)
        if tp is Decimal and options.precision is not None:
            return ExactDecimal(options.precision, declared_scale(options))
        if tp is int and options.bits is not None:
            return _INTEGER_TYPES[options.bits]()
    return PLAIN_TYPES[tp]()


def leaves_of(node: Node) -> list[Leaf]:
    result: list[Leaf] = []
    for _, _, child in node.children:
        if isinstance(child, Leaf):
            result.append(child)
        else:
            result.extend(leaves_of(child))
    return result


def presence_leaf(node: Node) -> Leaf | None:
    """A leaf that is NULL exactly when the optional value object ``node`` is missing.

    It is a field of the value object (or of a value object nested in it) whose own type
    is not Optional.
    """
    hints = field_types(node.cls)
    for attribute, _, child in node.children:
        _, optional = split_optional(hints[attribute])
        if optional:
            continue
        if isinstance(child, Leaf):
            return child
        found = presence_leaf(child)
        if found is not None:
            return found
    return None


def derive_columns(
    spec: EntitySpec[Any, Any],
    converter: cattrs.Converter,
    custom_types: Mapping[Any, TypeEngine[Any]],
    table_name: str,
) -> list[Column[Any] | Index | UniqueConstraint]:
    """Plan the columns, indexes and unique constraints of a table derived from ``spec``'s class."""
    planner = Planner(spec.cls, converter, custom_types, spec.column_options)
    leaves = leaves_of(planner.plan(spec.cls, (), "", False, skip=spec.events_field))
    check_unique_names(spec.cls, leaves)
    key_paths = {(name,) for name in spec.key_fields}
    indexed_paths = {path for paths in (*spec.indexes, *spec.unique) for path in paths}
    columns: list[Column[Any] | Index | UniqueConstraint] = []
    for leaf in leaves:
        check_column_name(spec.cls, leaf)
        if leaf.path in key_paths and len(leaf.path) == 1 and leaf.nullable:
            raise MappingError(spec.cls, "a key field cannot be Optional", field=leaf.dotted_path)
        primary = leaf.path in key_paths
        column_type = leaf.column_type
        if column_type is None:  # pragma: no cover - every planned leaf has a type
            raise MappingError(spec.cls, "no column type", field=leaf.dotted_path)
        indexed = primary or leaf.dotted_path in indexed_paths
        if indexed and leaf.python_type is str and not getattr(column_type, "length", None):
            column_type = text_type(key=True)  # a database may index only bounded text
        columns.append(
            Column(
                leaf.column_name,
                column_type,
                primary_key=primary,
                # the aggregate carries its key: no sequence (PostgreSQL), no AUTO_INCREMENT (MariaDB, where a key 0 would take the next number)
                autoincrement=False,
                nullable=leaf.nullable and not primary,
                **column_keywords(spec.cls, leaf),
            )
        )
    for name in spec.key_fields:
        if not any(leaf.path == (name,) for leaf in leaves):
            raise MappingError(spec.cls, "a key field must be a scalar, not a value object", field=name)
    columns.extend(derived_constraints(spec, table_name, leaves))
    return columns


def check_unique_names(cls: type[object], leaves: Sequence[Leaf]) -> None:
    seen: dict[str, Leaf] = {}
    for leaf in leaves:
        if leaf.column_name in seen:
            raise MappingError(
                cls,
                f"fields {seen[leaf.column_name].dotted_path!r} and {leaf.dotted_path!r} both map to one column",
                column=leaf.column_name,
            )
        seen[leaf.column_name] = leaf
