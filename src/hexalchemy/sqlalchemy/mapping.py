"""Mapping attrs classes to table rows with functions generated once per class.

A :class:`RowMapping` knows, for one attrs class, which column holds each field (nested
attrs value objects are flattened into prefixed columns, collections go to JSON) and owns
two generated functions: ``to_row`` (object -> ``{column key: value}``) and ``from_row``
(result row -> object). Leaf values that need more than the driver gives are converted by
hooks taken once from a cattrs converter when the mapping is built.

Every problem is found when the mapping is built and raised as :class:`MappingError`.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import enum
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

import attrs
import cattrs
from sqlalchemy import (
    CHAR,
    JSON,
    NCHAR,
    REAL,
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    SmallInteger,
    String,
    Table,
    select,
)
from sqlalchemy.types import TypeEngine

from hexalchemy._codegen import compile_function
from hexalchemy._guards import is_instance
from hexalchemy.ports import (
    ColumnOptions,
    ConfigError,
    EntitySpec,
    InvalidArgumentError,
    InvalidValueError,
    MappingError,
    field_types,
    split_optional,
    strip_newtype,
)
from hexalchemy.rules import (
    ValueRule,
    bind_rule,
    check_instance,
    check_int,
    check_iterable,
    declared_scale,
    json_problem,
    json_rule,
    json_suspect,
    json_value_rule,
    rule_for,
    value_object_rule,
)
from hexalchemy.sqlalchemy._column_plan import (
    PLAIN_TYPES,
    Leaf,
    Node,
    Planner,
    check_unique_names,
    leaves_of,
    presence_leaf,
)
from hexalchemy.sqlalchemy._table_options import (
    check_table_options,
)
from hexalchemy.sqlalchemy._type_rules import column_impl, storage_rule
from hexalchemy.sqlalchemy.types import UtcDateTime

__all__ = [
    "MAX_CHANGE_MASKS",
    "ChangedColumns",
    "Leaf",
    "RowMapping",
    "TableMapping",
    "make_converter",
]

T = TypeVar("T")
K = TypeVar("K")


def make_converter() -> cattrs.Converter:
    """Return a new cattrs converter set up for JSON columns.

    It is cattrs' JSON preconfigured converter with ``Decimal`` kept exact (as a string).
    A :class:`~hexalchemy.sqlalchemy.Schema` owns one; register hooks for your own types on it.
    """
    from cattrs.preconf.json import make_converter as make_json_converter

    converter = make_json_converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))
    return converter


class _Generator:
    """Writes the source of to_row/to_values/from_row for a planned class."""

    def __init__(
        self,
        root: Node,
        leaves: Sequence[Leaf],
        column_keys: Sequence[str],
        converter: cattrs.Converter,
        custom_types: Collection[object],
    ):
        self.root = root
        self.custom_types = custom_types
        self.leaves = list(leaves)
        self.column_keys = list(column_keys)
        self.converter = converter
        self.globals: dict[str, Any] = {"_json_suspect": json_suspect}
        self.leaf_index = {leaf.path: index for index, leaf in enumerate(self.leaves)}
        self.aware_leaves: set[tuple[str, ...]] = set()
        self.storage_types: dict[tuple[str, ...], TypeEngine[Any]] = {}  # the table's, where it has one
        self._checks = 0
        self.checking = True
        """False: write no rule checks (the values are in stored form, checked elsewhere)."""

    # --- writing: object -> values -------------------------------------------------------
    # Every value is checked by the rule of its field (hexalchemy.rules), bound into the
    # globals: a rule's quick expression is written inline, its function called only when
    # the expression is false (or always, for a rule without one).
    def write_lines(self, only: collections.abc.Set[str] | None = None) -> list[str]:
        """Lines setting ``v<leaf index>`` from ``o``: every leaf, or those under the root's attributes ``only``."""
        lines: list[str] = []
        self._write_node(self.root, "o", lines, "    ", only)
        return lines

    def write_check(self, rule: ValueRule, field: str, var: str, lines: list[str], indent: str) -> None:
        """Write ``var = <rule applied to var>``, naming ``field`` when it refuses."""
        if not self.checking:
            return
        suffix = str(self._checks)
        self._checks += 1
        self.globals[f"c{suffix}"] = bind_rule(rule, self.root.cls, field)
        quick = rule.quick_source(var, suffix)
        if quick is None:
            lines.append(f"{indent}{var} = c{suffix}({var})")
            return
        expression, names = quick
        self.globals.update(names)
        lines.append(f"{indent}if not ({expression}):")
        lines.append(f"{indent}    {var} = c{suffix}({var})")

    def _write_node(
        self,
        node: Node,
        var: str,
        lines: list[str],
        indent: str,
        only: collections.abc.Set[str] | None = None,
    ) -> None:
        for attribute, _, child in node.children:
            if only is not None and attribute not in only:
                continue
            access = f"{var}.{attribute}"
            if isinstance(child, Leaf):
                self._write_leaf(child, access, lines, indent)
                continue
            child_var = f"n{len(lines)}"
            lines.append(f"{indent}{child_var} = {access}")
            rule = value_object_rule(child.cls, optional=child.own_optional)
            self.write_check(rule, ".".join(child.path), child_var, lines, indent)
            if not child.own_optional:
                self._write_node(child, child_var, lines, indent)
                continue
            lines.append(f"{indent}if {child_var} is None:")
            lines.extend(f"{indent}    v{self.leaf_index[leaf.path]} = None" for leaf in leaves_of(child))
            lines.append(f"{indent}else:")
            self._write_node(child, child_var, lines, indent + "    ")

    def _write_leaf(self, leaf: Leaf, access: str, lines: list[str], indent: str) -> None:
        index = self.leaf_index[leaf.path]
        var = f"v{index}"
        lines.append(f"{indent}{var} = {access}")
        if leaf.kind == "json":  # a plain JSON value: checked and put in stored form by the JSON value rule
            if self.checking:
                self.write_check(
                    json_value_rule(optional=leaf.optional), leaf.dotted_path, var, lines, indent
                )
            return
        if leaf.kind == "hook":
            self._write_hook_leaf(leaf, index, var, lines, indent)
            return
        rule = rule_for(
            self.root.cls, leaf.dotted_path, leaf.python_type, leaf.options, optional=leaf.optional
        )
        if rule is None:  # pragma: no cover - every plain, enum and datetime leaf has a rule
            raise AssertionError(f"no rule for {leaf!r}")
        self.write_check(rule, leaf.dotted_path, var, lines, indent)
        if leaf.kind == "enum":
            if leaf.optional:
                lines.append(f"{indent}if {var} is not None:")
                lines.append(f"{indent}    {var} = {var}.value")
            else:
                lines.append(f"{indent}{var} = {var}.value")

    def _write_hook_leaf(self, leaf: Leaf, index: int, var: str, lines: list[str], indent: str) -> None:
        """A JSON collection is checked by its typed JSON rule, then unstructured; a registered
        type is unstructured, then checked by the rule of its column's type."""
        collection = typing.get_origin(leaf.python_type) is not None
        if collection:
            rule = json_rule(leaf.python_type, optional=leaf.optional, kept=self.custom_types)
            self.write_check(rule, leaf.dotted_path, var, lines, indent)
        self.globals[f"u{index}"] = _unstructurer(
            self.root.cls, leaf.dotted_path, leaf.python_type, self.converter
        )
        lines.append(f"{indent}if {var} is not None:")
        if not self.checking:
            lines.append(f"{indent}    {var} = u{index}({var})")
            return
        lines.append(f"{indent}    w{index} = u{index}({var})")
        storage = storage_rule(self.storage_types.get(leaf.path, leaf.column_type))
        if storage is None:  # JSON: what the converter made must be plain JSON too
            self.globals[f"j{index}"] = _json_explainer(self.root.cls, leaf.dotted_path)
            lines.append(f"{indent}    if _json_suspect(w{index}):")
            lines.append(f"{indent}        j{index}({var}, w{index})")
        else:
            self.write_check(storage, leaf.dotted_path, f"w{index}", lines, indent + "    ")
        lines.append(f"{indent}    {var} = w{index}")
        if not (collection or leaf.optional):
            lines.append(f"{indent}else:")
            refuse = json_rule(leaf.python_type, optional=False, kept=self.custom_types)
            self.write_check(refuse, leaf.dotted_path, var, lines, indent + "    ")

    # --- reading: row -> object ----------------------------------------------------------
    def read_expression(self, accessor: Callable[[int, Leaf], str]) -> str:
        return self._read_node(self.root, accessor)

    def _read_node(self, node: Node, accessor: Callable[[int, Leaf], str]) -> str:
        name = f"C{len(self.globals)}"
        self.globals[name] = node.cls
        args: list[str] = []
        hints = field_types(node.cls)
        for attribute, init_name, child in node.children:
            if isinstance(child, Node):
                expression = self._read_node(child, accessor)
                if split_optional(hints[attribute])[1]:
                    presence = _first_presence(child)
                    expression = f"(None if {accessor(self.leaf_index[presence.path], presence)} is None else {expression})"
            else:
                expression = self._from_db(child, accessor)
            args.append(f"{init_name}={expression}")
        return f"{name}({', '.join(args)})"

    def _from_db(self, leaf: Leaf, accessor: Callable[[int, Leaf], str]) -> str:
        index = self.leaf_index[leaf.path]
        raw = accessor(index, leaf)
        if leaf.kind == "enum":
            self.globals[f"E{index}"] = leaf.python_type
            converted = f"E{index}({raw})"
        elif leaf.kind == "hook":
            self.globals[f"s{index}"] = self.converter.get_structure_hook(leaf.python_type)
            self.globals[f"S{index}"] = leaf.python_type
            converted = f"s{index}({raw}, S{index})"
        elif leaf.kind == "datetime" and leaf.path in self.aware_leaves:
            self.globals["_aware"] = _assume_utc
            converted = f"_aware({raw})"
        else:
            return raw
        if leaf.nullable:
            return f"(None if {raw} is None else {converted})"
        return converted


def _first_presence(node: Node) -> Leaf:
    leaf = presence_leaf(node)
    if leaf is None:  # pragma: no cover - the planner refuses such value objects
        raise AssertionError("an optional value object without a presence column")
    return leaf


def _write_key_checks(generator: _Generator, spec: EntitySpec[Any, Any], key_leaves: Sequence[Leaf]) -> str:
    """Source of ``check_key(key)`` and ``check_keys(keys)``: a key checked by its fields' rules, in stored form.

    A key given to get, contains, range or delete is refused as a value of its field would be
    (a str for a UUID key is an ``InvalidValueError``, on every adapter).
    """
    names = [f"k{index}" for index in range(len(key_leaves))]
    lines: list[str] = []
    for name, leaf in zip(names, key_leaves, strict=True):
        rule = rule_for(generator.root.cls, leaf.dotted_path, leaf.python_type, leaf.options, optional=False)
        if rule is not None:  # a registered type is passed on as given
            generator.write_check(rule, leaf.dotted_path, name, lines, "")
    if len(key_leaves) == 1:
        check_one = "".join(f"    {line}\n" for line in lines)
        check_each = "".join(f"        {line}\n" for line in lines)
        return (
            f"def check_key(k0):\n{check_one}    return k0\n\n"
            "def check_keys(keys):\n    checked = []\n    append = checked.append\n"
            f"    for k0 in keys:\n{check_each}        append(k0)\n    return checked\n"
        )
    generator.globals["_key_values"] = spec.key_values
    check_all = "".join(f"    {line}\n" for line in lines)
    return (
        f"def check_key(k):\n    {', '.join(names)} = _key_values(k)\n{check_all}"
        f"    return ({', '.join(names)})\n\n"
        "def check_keys(keys):\n    return [check_key(k) for k in keys]\n"
    )


MAX_CHANGE_MASKS: Final = 64
"""How many different sets of changed columns a mapping generates an update for; beyond, every column is set."""


@attrs.frozen
class ChangedColumns(Generic[T]):
    """The columns of one set of changed fields (:meth:`TableMapping.changed_columns`).

    ``indexes``: the positions in :attr:`TableMapping.columns` of the columns set (the
    version column, always set, is not among them); ``values(aggregate)``: their values,
    checked by the fields' rules as ``to_values`` checks them, in that order.
    """

    mask: int
    indexes: tuple[int, ...]
    values: Callable[[T], tuple[Any, ...]]
    lines: tuple[str, ...] = ()
    """The body of ``values`` before its ``return``: sets ``v<index>`` from ``o``, for a backend's own generated rows."""
    namespace: Mapping[str, Any] = attrs.field(factory=dict[str, Any])
    """The globals :attr:`lines` need."""


@attrs.frozen
class _ChangeGroup:
    """A top-level field (not the key, not the version) and the columns it maps to."""

    attribute: str
    leaves: tuple[int, ...]
    comparable: bool
    """Its object's identity tells whether it changed (an immutable value)."""


def _frozen(cls: type[object]) -> bool:
    """Whether instances of the attrs class ``cls`` refuse attribute assignment (``@attrs.frozen``).

    Tried on a bare instance, never initialised: only attrs' ``FrozenInstanceError`` says yes.
    """
    fields = attrs.fields(typing.cast(Any, cls))
    if not fields:
        return True
    try:
        instance = object.__new__(cls)
        cls.__setattr__(instance, fields[0].name, None)
    except attrs.exceptions.FrozenInstanceError:
        return True
    except Exception:
        return False
    return False


def _comparable(node: Leaf | Node) -> bool:
    """Whether a field holding ``node`` cannot change in place: an immutable leaf, or a frozen value object of such."""
    if isinstance(node, Leaf):
        if node.kind == "json":  # any JSON value, lists and dicts included: it may change in place
            return False
        return node.kind != "hook" or _immutable(node.python_type)
    return _frozen(node.cls) and all(_comparable(child) for _, _, child in node.children)


def _immutable(tp: Any) -> bool:
    """Whether a JSON field's type holds only immutable values (a tuple or frozenset of scalars)."""
    tp = strip_newtype(split_optional(tp)[0])
    if tp in PLAIN_TYPES or tp is dt.datetime or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return True
    if typing.get_origin(tp) in (tuple, frozenset):
        return all(arg is Ellipsis or _immutable(arg) for arg in typing.get_args(tp))
    return False


def _change_groups(
    root: Node, spec: EntitySpec[Any, Any], leaf_index: Mapping[tuple[str, ...], int]
) -> tuple[_ChangeGroup, ...]:
    skip = {*spec.key_fields, spec.version_field}
    groups: list[_ChangeGroup] = []
    for attribute, _, child in root.children:
        if attribute in skip:
            continue
        leaves = [child] if isinstance(child, Leaf) else leaves_of(child)
        groups.append(
            _ChangeGroup(attribute, tuple(leaf_index[leaf.path] for leaf in leaves), _comparable(child))
        )
    return tuple(groups)


def _changes_function(
    spec: EntitySpec[T, Any], root: Node, groups: Sequence[_ChangeGroup]
) -> Callable[[T, T], int] | None:
    """Generate ``changes(aggregate, loaded)`` (see :attr:`TableMapping.changes`), or None when it cannot tell."""
    if spec.version_field is None or not _frozen(root.cls):
        return None
    always = sum(1 << bit for bit, group in enumerate(groups) if not group.comparable)
    lines = [f"    if n.{spec.version_field} != o.{spec.version_field}:", "        return -1"]
    for name in spec.key_fields:
        lines.append(
            f"    if n.{name} is not o.{name} and (type(n.{name}) is not type(o.{name}) or n.{name} != o.{name}):"
        )
        lines.append("        return -1")
    lines.append(f"    m = {always}")
    for bit, group in enumerate(groups):
        if group.comparable:
            lines.append(f"    if n.{group.attribute} is not o.{group.attribute}:")
            lines.append(f"        m |= {1 << bit}")
    lines.append("    return m")
    source = "def changes(n, o):\n" + "\n".join(lines) + "\n"
    function: Callable[[T, T], int] = compile_function(
        "changes", source, {}, f"{spec.cls.__qualname__}.changes"
    )
    return function


def _with_version_function(spec: EntitySpec[T, Any]) -> Callable[[T, int], T]:
    """Generate ``(aggregate, version) -> copy carrying version``: what ``attrs.evolve`` makes, faster.

    When the class's ``__init__`` would only store its arguments (see :func:`_plain_slots`),
    the copy is made without it, each slot set through its descriptor (a third of the
    time for 9 fields); otherwise it calls the class with every field, as ``evolve`` does.
    """
    if spec.version_field is None:
        return spec.with_version
    cls = spec.cls
    fields = attrs.fields(typing.cast(Any, cls))
    slots = _plain_slots(cls, fields)
    if slots is not None:
        namespace: dict[str, Any] = {"C": cls, "new": object.__new__}
        lines = ["    n = new(C)"]
        for index, field in enumerate(fields):
            namespace[f"s{index}"] = slots[field.name]
            value = "v" if field.name == spec.version_field else f"o.{field.name}"
            lines.append(f"    s{index}(n, {value})")
        source = "def with_version(o, v):\n" + "\n".join(lines) + "\n    return n\n"
    else:
        namespace = {"C": cls}
        arguments: list[str] = []
        for field in fields:
            name = field.alias or field.name
            arguments.append(f"{name}=v" if field.name == spec.version_field else f"{name}=o.{field.name}")
        source = f"def with_version(o, v):\n    return C({', '.join(arguments)})\n"
    function: Callable[[T, int], T] = compile_function(
        "with_version", source, namespace, f"{cls.__qualname__}.with_version"
    )
    return function


def _plain_slots(cls: type[object], fields: Sequence[attrs.Attribute[Any]]) -> dict[str, Any] | None:
    """Each field's slot setter, when an instance of ``cls`` is its fields' values and nothing else.

    That is: ``__init__`` is attrs' own and takes every field, with no validator, converter,
    ``__attrs_pre_init__`` or ``__attrs_post_init__``, and the instances have exactly one
    slot per field (no ``__dict__``, no cached hash): then a copy made by setting each slot
    equals the one ``__init__`` would make. None otherwise.
    """
    init = getattr(cls.__init__, "__code__", None)
    if init is None or not init.co_filename.startswith("<attrs generated"):
        return None
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return None
    for field in fields:
        if not field.init or field.validator is not None or getattr(field, "converter", None) is not None:
            return None
    declared: list[str] = []
    for klass in cls.__mro__[:-1]:
        names = vars(klass).get("__slots__")
        if names is None:
            return None  # a class without __slots__: instances have a __dict__
        declared.extend([names] if isinstance(names, str) else names)
    names = {field.name for field in fields}
    if sorted(name for name in declared if name != "__weakref__") != sorted(names):
        return None
    setters: dict[str, Any] = {}
    for name in names:
        descriptor = next((vars(klass)[name] for klass in cls.__mro__ if name in vars(klass)), None)
        if not isinstance(descriptor, types.MemberDescriptorType):
            return None
        setters[name] = descriptor.__set__
    return setters


def _unstructurer(
    cls: type[object], field: str, python_type: Any, converter: cattrs.Converter
) -> Callable[[Any], Any]:
    """The converter's unstructure hook for ``python_type``; what it raises becomes ``InvalidValueError`` naming ``field``."""
    hook = converter.get_unstructure_hook(python_type)

    def unstructure(value: Any) -> Any:
        try:
            return hook(value)
        except Exception as exc:  # a user's hook: anything it raises is about this value
            raise InvalidValueError(
                cls, field, value, f"the converter cannot unstructure it ({type(exc).__name__}: {exc})"
            ) from exc

    return unstructure


def _json_explainer(cls: type[object], field: str) -> Callable[[object, object], None]:
    """``(value, unstructured) -> None``: raise ``InvalidValueError`` naming the first part that breaks the JSON rule.

    Called when :func:`~hexalchemy.rules.json_suspect` says the unstructured value may: the
    value itself is walked first (so a value object's field is named ``lines[0].sku``),
    then what it unstructured to (what a registered type's hook made).
    """

    def explain(value: object, unstructured: object) -> None:
        problem = json_problem(value) or json_problem(unstructured)
        if problem is not None:
            raise InvalidValueError(cls, f"{field}{problem.at}", problem.value, problem.reason)

    return explain


def _assume_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _converted(convert: Callable[[Any], T], rows: object, cls: type[object]) -> list[T]:
    """``rows`` converted by ``convert``; what is not an iterable of such rows is an ``InvalidArgumentError``."""
    try:
        return [convert(row) for row in check_iterable("rows", rows)]
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(
            "rows", rows, f"must hold rows to build {cls.__qualname__} from ({exc})"
        ) from exc


class RowMapping(Generic[T]):
    """Turns result rows into objects of an attrs class, by column label.

    Build one once (``schema.row_mapping(OrderSummary)``) and reuse it for hand-written
    queries whose selected labels match the class's fields (nested value objects as
    ``field_subfield``). ``from_row`` accepts any SQLAlchemy ``Row``.
    """

    def __init__(
        self,
        cls: type[T],
        *,
        converter: cattrs.Converter | None = None,
        custom_types: Mapping[Any, TypeEngine[Any]] | None = None,
    ) -> None:
        if converter is not None:
            check_instance("converter", converter, cattrs.Converter, error=ConfigError)
        if custom_types is not None and not is_instance(custom_types, Mapping):
            raise ConfigError(
                "custom_types", custom_types, "must be a mapping of Python types to column types"
            )
        converter = converter or make_converter()
        planner = Planner(cls, converter, custom_types or {})
        root = planner.plan(cls, (), "", False)
        self.cls = cls
        self.leaves: tuple[Leaf, ...] = tuple(leaves_of(root))
        generator = _Generator(
            root, self.leaves, [leaf.column_name for leaf in self.leaves], converter, custom_types or {}
        )
        generator.aware_leaves = {leaf.path for leaf in self.leaves if leaf.kind == "datetime"}
        expression = generator.read_expression(lambda _, leaf: f"m[{leaf.column_name!r}]")
        source = f"def from_row(r):\n    m = r._mapping\n    return {expression}\n"
        self.from_row: Callable[[Any], T] = compile_function(
            "from_row", source, generator.globals, f"{cls.__qualname__}.from_row"
        )
        self.source = source

    @property
    def column_names(self) -> tuple[str, ...]:
        """The labels a query must select, in field order."""
        return tuple(leaf.column_name for leaf in self.leaves)

    def from_rows(self, rows: collections.abc.Iterable[Any]) -> list[T]:
        """Convert many rows (``InvalidArgumentError`` for something else than rows with this mapping's labels)."""
        return _converted(self.from_row, rows, self.cls)


class TableMapping(Generic[T, K]):
    """How one aggregate class maps to one table; built by :class:`~hexalchemy.sqlalchemy.Schema`.

    Public for hand-written queries: ``columns`` (in mapping order) with ``select()``,
    ``from_row`` for rows of ``select()``, and ``to_row`` for the column values of an object.
    ``from_row`` reads the first ``len(columns)`` values of a row: a query may select more
    columns after them. ``unmapped`` names the table's columns the class does not map (see
    :meth:`~hexalchemy.sqlalchemy.Schema.map`).
    """

    def __init__(
        self,
        spec: EntitySpec[T, K],
        table: Table,
        *,
        converter: cattrs.Converter,
        custom_types: Mapping[Any, TypeEngine[Any]],
        derived: bool,
        unmapped: collections.abc.Iterable[str] = (),
    ) -> None:
        cls = spec.cls
        planner = Planner(cls, converter, custom_types, spec.column_options)
        root = planner.plan(cls, (), "", False, skip=spec.events_field)
        leaves = leaves_of(root)
        self.spec = spec
        self.table = table
        self.converter = converter
        self.leaves: tuple[Leaf, ...] = tuple(leaves)
        self.unmapped: tuple[Column[Any], ...] = _unmapped_columns(cls, table, unmapped)
        self.columns: tuple[Column[Any], ...] = tuple(
            _match_columns(
                cls,
                table,
                leaves,
                derived,
                {column.name for column in self.unmapped},
            )
        )
        by_path = {leaf.path: column for leaf, column in zip(leaves, self.columns, strict=True)}
        if not derived:
            check_table_options(spec, table, {".".join(path): column for path, column in by_path.items()})
        by_leaf = {leaf.path: leaf for leaf in leaves}
        self.key_columns: tuple[Column[Any], ...] = tuple(by_path[(name,)] for name in spec.key_fields)
        self.version_column: Column[Any] | None = (
            by_path[(spec.version_field,)] if spec.version_field is not None else None
        )
        _check_primary_key(cls, table, self.key_columns)
        if self.version_column is not None:
            _check_version_column(cls, spec.version_field or "", self.version_column)
        self.column_keys: tuple[str, ...] = tuple(column.key for column in self.columns)

        generator = _Generator(root, leaves, self.column_keys, converter, custom_types)
        generator.storage_types = {
            leaf.path: column.type for leaf, column in zip(leaves, self.columns, strict=True)
        }
        self._root = root
        self._custom_types = custom_types
        self._storage_types = generator.storage_types
        self._aware_leaves = {
            leaf.path
            for leaf, column in zip(leaves, self.columns, strict=True)
            if leaf.kind == "datetime" and not isinstance(column.type, UtcDateTime)
        }
        generator.aware_leaves = self._aware_leaves
        write = generator.write_lines()
        values = ", ".join(f"v{index}" for index in range(len(leaves)))
        row = ", ".join(f"{key!r}: v{index}" for index, key in enumerate(self.column_keys))
        label = cls.__qualname__
        to_row_source = "def to_row(o):\n" + "\n".join(write) + f"\n    return {{{row}}}\n"
        to_values_source = "def to_values(o):\n" + "\n".join(write) + f"\n    return ({values},)\n"
        expression = generator.read_expression(lambda index, _: f"r[{index}]")
        from_row_source = f"def from_row(r):\n    return {expression}\n"
        self.to_row: Callable[[T], dict[str, Any]] = compile_function(
            "to_row", to_row_source, generator.globals, f"{label}.to_row"
        )
        self.to_values: Callable[[T], tuple[Any, ...]] = compile_function(
            "to_values", to_values_source, generator.globals, f"{label}.to_values"
        )
        self.value_lines: tuple[str, ...] = tuple(write)
        """The body of :attr:`to_values`: lines setting ``v<i>`` (column ``i``'s value) from ``o``, each
        checked by its field's rule, for a generated function that goes on from there (names bound in
        :attr:`value_namespace`)."""
        self.value_namespace: Mapping[str, Any] = dict(generator.globals)
        """The names :attr:`value_lines` use (the rules, the enum and hook functions)."""
        self.from_row: Callable[[Sequence[Any]], T] = compile_function(
            "from_row", from_row_source, generator.globals, f"{label}.from_row"
        )
        generator.checking = False
        trusted_source = (
            "def to_row_trusted(o):\n" + "\n".join(generator.write_lines()) + f"\n    return {{{row}}}\n"
        )
        generator.checking = True
        self.to_row_trusted: Callable[[T], dict[str, Any]] = compile_function(
            "to_row_trusted", trusted_source, generator.globals, f"{label}.to_row_trusted"
        )
        """:attr:`to_row` without the value rules, for objects already checked by rules at least as strict
        and in stored form (datetimes in UTC...): enums still become their values, registered types and
        collections are still unstructured. A wrong value gets to the database unchecked: use it only
        behind such a validation (the outbox writer's, for its messages)."""
        key_source = _write_key_checks(generator, spec, [by_leaf[(name,)] for name in spec.key_fields])
        self.check_key: Callable[[K], K] = compile_function(
            "check_key", key_source, generator.globals, f"{label}.check_key"
        )
        self.check_keys: Callable[[collections.abc.Iterable[K]], list[K]] = compile_function(
            "check_keys", key_source, generator.globals, f"{label}.check_keys"
        )
        self.source = "\n".join(
            [to_row_source, to_values_source, from_row_source, trusted_source, key_source]
        )
        self.with_version: Callable[[T, int], T] = _with_version_function(spec)
        self._generator = generator
        self._groups = _change_groups(root, spec, generator.leaf_index)
        self._changed: dict[int, ChangedColumns[T] | None] = {}
        self.changes: Callable[[T, T], int] | None = _changes_function(spec, root, self._groups)
        """``(aggregate, loaded) -> mask``: which groups of columns differ from ``loaded``, or -1.

        None when a mapping cannot tell (its class is not frozen, or it has no version): then
        every update sets every column. -1 when ``loaded`` is not the same row at the same
        version. Bit ``i`` of the mask is the ``i``-th top-level field other than the key and
        the version, set when the field's object is not the loaded one (``is``, never ``==``),
        and always set for a field whose value may change in place (JSON, a registered
        type, a value object that is not frozen).
        """

    def changed_columns(self, mask: int) -> ChangedColumns[T] | None:
        """The columns a version-checked update of the groups in ``mask`` sets (see :attr:`changes`).

        Generated on first use and kept; None beyond :data:`MAX_CHANGE_MASKS` masks (an update
        then sets every column).

        Raises:
            InvalidArgumentError: ``mask`` is not an int from 0 to ``2**n - 1``, ``n`` the
                number of fields :attr:`changes` tells apart.
        """
        if type(mask) is not int or not 0 <= mask < 1 << len(self._groups):
            check_int("mask", mask, minimum=0, maximum=(1 << len(self._groups)) - 1)
        if mask in self._changed:
            return self._changed[mask]
        if len(self._changed) >= MAX_CHANGE_MASKS:
            return None
        attributes = [group.attribute for bit, group in enumerate(self._groups) if mask >> bit & 1]
        indexes = tuple(
            sorted(index for group in self._groups if group.attribute in attributes for index in group.leaves)
        )
        lines = self._generator.write_lines(frozenset(attributes))
        values = "".join(f"v{index}, " for index in indexes)
        source = "def changed_values(o):\n" + "\n".join(lines) + f"\n    return ({values})\n"
        function = compile_function(
            "changed_values",
            source,
            self._generator.globals,
            f"{self.spec.cls.__qualname__}.changed_values_{mask}",
        )
        changed = ChangedColumns(mask, indexes, function, tuple(lines), self._generator.globals)
        self._changed[mask] = changed
        return changed

    @property
    def entity_type(self) -> type[T]:
        """The mapped aggregate class."""
        return self.spec.cls

    def select(self) -> Select[Any]:
        """Return ``select(*columns)``: rows of it convert with :meth:`from_row`."""
        return select(*self.columns)

    def from_rows(self, rows: collections.abc.Iterable[Sequence[Any]]) -> list[T]:
        """Convert many rows of :meth:`select` (``InvalidArgumentError`` for something else than such rows)."""
        return _converted(self.from_row, rows, self.spec.cls)

    def row_reader(self, processors: Sequence[Callable[[Any], Any] | None]) -> Callable[[Sequence[Any]], T]:
        """Generate :attr:`from_row` for rows whose values still need converting, such as a driver's raw rows.

        ``processors[i]`` (None: nothing to do) turns the row's i-th value into what
        :attr:`from_row` expects, for example a column type's result processor. They are
        called in the generated function itself, each once per row, with no intermediate
        row; values after ``len(processors)`` are ignored. Built once per caller and kept.
        """
        given = list(check_iterable("processors", processors))
        if len(given) != len(self.columns) or not all(p is None or callable(p) for p in given):
            raise InvalidArgumentError(
                "processors",
                processors,
                f"must hold a callable or None per mapped column ({len(self.columns)})",
            )
        processors = typing.cast(list[Callable[[Any], Any] | None], given)
        generator = _Generator(self._root, self.leaves, self.column_keys, self.converter, self._custom_types)
        generator.storage_types = self._storage_types
        generator.aware_leaves = self._aware_leaves
        prelude: list[str] = []
        for index, processor in enumerate(processors):
            if processor is not None:
                generator.globals[f"q{index}"] = processor
                prelude.append(f"    a{index} = q{index}(r[{index}])\n")
        expression = generator.read_expression(
            lambda index, _: f"a{index}" if processors[index] is not None else f"r[{index}]"
        )
        source = f"def read_row(r):\n{''.join(prelude)}    return {expression}\n"
        reader: Callable[[Sequence[Any]], T] = compile_function(
            "read_row", source, generator.globals, f"{self.spec.cls.__qualname__}.read_row"
        )
        return reader

    def __repr__(self) -> str:
        return f"TableMapping({self.spec.cls.__qualname__} -> {self.table.name})"


def _unmapped_columns(
    cls: type[object], table: Table, names: collections.abc.Iterable[str]
) -> tuple[Column[Any], ...]:
    """The columns ``names`` of ``table``, which the class does not map; ``MappingError`` for a name that is no column."""
    if isinstance(names, str):
        raise MappingError(cls, f"unmapped must be a collection of column names, not the str {names!r}")
    columns: list[Column[Any]] = []
    for name in check_iterable("unmapped", names):
        if not isinstance(name, str) or name not in table.c:
            raise MappingError(cls, f"unmapped names {name!r}, which is no column of table {table.name!r}")
        column = table.c[name]
        if column.primary_key:
            raise MappingError(cls, "a primary key column cannot be left unmapped", column=column.name)
        columns.append(column)
    return tuple(columns)


def _match_columns(
    cls: type[object],
    table: Table,
    leaves: Sequence[Leaf],
    derived: bool,
    unmapped: collections.abc.Set[str] = frozenset(),
) -> list[Column[Any]]:
    check_unique_names(cls, leaves)
    by_name = {column.name: column for column in table.columns}
    by_key = {column.key: column for column in table.columns}
    matched: list[Column[Any]] = []
    for leaf in leaves:
        # its name, else its key: Column("any name", ..., key="field") maps a column named otherwise
        column = by_name.get(leaf.column_name)
        if column is None:
            column = by_key.get(leaf.column_name)
        if column is None:
            raise MappingError(
                cls,
                f"the field has no column in table {table.name!r}",
                field=leaf.dotted_path,
                column=leaf.column_name,
            )
        if column.name in unmapped:
            raise MappingError(
                cls, "the column is declared unmapped but a field maps it", field=leaf.dotted_path
            )
        if not derived:
            _check_column_type(cls, leaf, column)
            _check_column_limits(cls, leaf, column)
        matched.append(column)
    mapped = {id(column) for column in matched}
    for column in table.columns:
        if (
            id(column) not in mapped
            and column.name not in unmapped
            and column.server_default is None
            and column.default is None
        ):
            raise MappingError(
                cls,
                f"column of table {table.name!r} has no field and no default",
                column=column.name,
            )
    return matched


def _check_primary_key(cls: type[object], table: Table, key_columns: Sequence[Column[Any]]) -> None:
    primary = list(table.primary_key.columns)
    if not primary:
        raise MappingError(cls, f"table {table.name!r} has no primary key")
    if {column.name for column in primary} != {column.name for column in key_columns}:
        raise MappingError(
            cls,
            f"the key fields map to columns {[c.name for c in key_columns]} but the primary key of "
            f"table {table.name!r} is {[c.name for c in primary]}",
        )


def _check_version_column(cls: type[object], field: str, column: Column[Any]) -> None:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return
    if python_type is not int and python_type is not object:
        raise MappingError(
            cls,
            f"the version column must be an integer column, not {column.type!r}",
            field=field,
            column=column.name,
        )


def _expected_storage_type(leaf: Leaf) -> Any:
    if leaf.kind == "json":
        return "json"
    if leaf.kind == "enum":
        return leaf.stored_type
    if leaf.kind == "hook":
        return "json" if typing.get_origin(leaf.python_type) is not None else None
    return leaf.python_type


def _check_column_type(cls: type[object], leaf: Leaf, column: Column[Any]) -> None:
    expected = _expected_storage_type(leaf)
    if expected is None:
        return
    if expected == "json":
        if isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON):
            return
        raise MappingError(
            cls,
            f"a collection or json=True field needs a JSON column, not {column.type!r}",
            field=leaf.dotted_path,
            column=column.name,
        )
    if isinstance(column.type, DateTime) and leaf.kind == "datetime" and not column.type.timezone:
        raise MappingError(
            cls,
            "a datetime field needs DateTime(timezone=True) or hexalchemy's UtcDateTime",
            field=leaf.dotted_path,
            column=column.name,
        )
    try:
        actual = column.type.python_type
    except NotImplementedError:
        return
    if actual is object or actual is expected:  # object: the type does not say (SQLAlchemy >= 2.1)
        return
    if is_instance(actual, type) and isinstance(expected, type) and issubclass(actual, enum.Enum):
        raise MappingError(
            cls,
            "enums are stored by value: use a String or Integer column, not sqlalchemy.Enum",
            field=leaf.dotted_path,
            column=column.name,
        )
    raise MappingError(
        cls,
        f"a {getattr(expected, '__name__', expected)} field cannot use a column of type {column.type!r}",
        field=leaf.dotted_path,
        column=column.name,
    )


def _check_column_limits(cls: type[object], leaf: Leaf, column: Column[Any]) -> None:
    """A hand-written column that bounds its values must agree with the field's declared options.

    The rules refuse what the declaration refuses, so a column that holds less would fail (or
    round) where the rules let a value through: ``String(n)`` needs ``max_length <= n``,
    ``Numeric(p, s)`` needs ``precision <= p`` and ``scale == s``, ``Integer`` ``bits=32``;
    a column that changes what it stores (32-bit floats, space-padded ``CHAR``) is refused.
    """
    stored = column_impl(column.type)
    declared = leaf.options or ColumnOptions()
    problem = _narrow_column_problem(leaf, stored, declared)
    if problem is None and isinstance(stored, String) and stored.length:
        if leaf.kind == "enum":
            longest = max((len(str(member.value)) for member in leaf.python_type), default=0)
            if longest > stored.length:
                problem = (
                    f"the column holds {stored.length} characters but {leaf.python_type.__qualname__} "
                    f"has a value of {longest}: widen the column"
                )
        elif leaf.python_type is str and (declared.max_length or stored.length + 1) > stored.length:
            fix = f"max_length={stored.length}"
            problem = f"the column holds at most {stored.length} characters: declare {_declare(leaf, fix)}"
    if leaf.python_type is Decimal and isinstance(stored, Numeric) and stored.precision is not None:
        scale = stored.scale or 0
        if (declared.precision or stored.precision + 1) > stored.precision or declared_scale(
            declared
        ) != scale:
            fix = f"precision={stored.precision}, scale={scale}"
            problem = (
                f"the column is NUMERIC({stored.precision}, {scale}): declare {_declare(leaf, fix)} "
                "(a smaller precision fits too)"
            )
    if problem is not None:
        raise MappingError(cls, problem, field=leaf.dotted_path, column=column.name)


def _narrow_column_problem(leaf: Leaf, stored: TypeEngine[Any], declared: ColumnOptions) -> str | None:
    """Why ``stored`` cannot hold every value the field's rule accepts (ints, floats, fixed-width text), or None."""
    if leaf.python_type is int and isinstance(stored, Integer) and not isinstance(stored, BigInteger):
        bits = 16 if isinstance(stored, SmallInteger) else 32
        if (declared.bits or 64) > bits:
            return f"the column holds {bits}-bit integers: declare {_declare(leaf, f'bits={bits}')}"
    if leaf.kind == "enum" and isinstance(stored, Integer) and not isinstance(stored, BigInteger):
        bits = 16 if isinstance(stored, SmallInteger) else 32
        widest = max((abs(int(member.value)) for member in leaf.enum_members), default=0)
        if widest >= 2 ** (bits - 1):
            return f"the column holds {bits}-bit integers but {leaf.python_type.__qualname__} has {widest}: widen it"
    if leaf.python_type is float and isinstance(stored, Float):
        precision = getattr(stored, "precision", None)
        if isinstance(stored, REAL) or (precision is not None and precision <= 24):
            return "the column holds 32-bit floats, which round a float: use Double (or Float())"
    if leaf.python_type is str and isinstance(stored, CHAR | NCHAR):
        return "a CHAR column pads its text with spaces on PostgreSQL: use String(n)"
    return None


def _declare(leaf: Leaf, options: str) -> str:
    """How to declare ``options`` for ``leaf``, both ways."""
    return (
        f"attrs.field(metadata=column({options})) on the field, or "
        f"EntitySpec(columns={{{leaf.dotted_path!r}: ColumnOptions({options})}})"
    )
