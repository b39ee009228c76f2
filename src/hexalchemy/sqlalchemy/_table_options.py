"""What a table derived from a class makes of its declared options, and what a hand-written table must agree with.

A derived table takes each field's :class:`~hexalchemy.ports.ColumnOptions` (``comment``,
``server_default``) on its column and the spec's index and unique sets as ``Index`` and
``UniqueConstraint``, named ``<table>_<columns>_idx`` and ``<table>_<columns>_key`` (fitted
to every database's identifier limit). A table you wrote keeps its own DDL: options that
only shape DDL are refused on it (they would be ignored), and each unique set must be
enforced by one of its constraints, as the in-memory adapter enforces it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, ColumnElement, Index, Table, UniqueConstraint, literal

from hexalchemy.ports import EntitySpec, MappingError
from hexalchemy.rules import rule_for, stored_server_default, text_problem
from hexalchemy.sqlalchemy._portable import derived_name, identifier_limit

if TYPE_CHECKING:
    from hexalchemy.sqlalchemy._column_plan import Leaf

__all__ = ["check_column_name", "check_table_options", "column_keywords", "derived_constraints"]


def check_column_name(cls: type[object], leaf: Leaf) -> None:
    """A column name every database keeps as written, or ``MappingError`` naming the field."""
    name = leaf.column_name
    problem = text_problem(name)
    if problem is not None:
        raise MappingError(cls, f"the column name {name!r}: {problem}", field=leaf.dotted_path)
    limit = identifier_limit()
    if len(name.encode()) > limit:
        raise MappingError(
            cls,
            f"the column name {name[:20]!r}... is {len(name.encode())} bytes long: the databases keep "
            f"at most {limit} bytes; declare a shorter one (ColumnOptions(name=...))",
            field=leaf.dotted_path,
        )


def column_keywords(cls: type[object], leaf: Leaf) -> dict[str, Any]:
    """The ``Column`` keywords of a derived column from the field's options: ``comment``, ``server_default``."""
    options = leaf.options
    if options is None:
        return {}
    keywords: dict[str, Any] = {}
    if options.comment is not None:
        keywords["comment"] = options.comment
    if options.server_default is not None:
        rule = rule_for(cls, leaf.dotted_path, leaf.python_type, options, optional=False)
        if rule is None:  # pragma: no cover - rule_for refuses a server_default outside the scalars
            raise MappingError(cls, "a server_default needs a field of a scalar type", field=leaf.dotted_path)
        stored = stored_server_default(cls, leaf.dotted_path, rule, options)
        default: ColumnElement[Any] = literal(stored, leaf.column_type)
        keywords["server_default"] = default
    return keywords


def _columns_of(leaves: Sequence[Leaf], paths: tuple[str, ...]) -> list[str]:
    by_path = {leaf.dotted_path: leaf.column_name for leaf in leaves}
    return [by_path[path] for path in paths]


def derived_constraints(
    spec: EntitySpec[Any, Any], table_name: str, leaves: Sequence[Leaf]
) -> list[Index | UniqueConstraint]:
    """The indexes and unique constraints of a derived table (a unique set equal to the key needs none)."""
    key = sorted(spec.key_fields)
    made: list[Index | UniqueConstraint] = []
    for paths in spec.indexes:
        names = _columns_of(leaves, paths)
        made.append(Index(derived_name(f"{table_name}_{'_'.join(names)}", "_idx"), *names))
    for paths in spec.unique:
        if sorted(paths) == key:
            continue
        names = _columns_of(leaves, paths)
        made.append(UniqueConstraint(*names, name=derived_name(f"{table_name}_{'_'.join(names)}", "_key")))
    return made


def check_table_options(spec: EntitySpec[Any, Any], table: Table, columns: Mapping[str, Column[Any]]) -> None:
    """Refuse options a hand-written ``table`` would ignore, and unique sets none of its constraints enforces.

    ``columns`` maps each field's dotted path to its column.
    """
    cls = spec.cls
    for path, options in spec.column_options.items():
        ignored = [
            name
            for name, given in (
                ("index", options.index),
                ("server_default", options.server_default is not None),
                ("comment", options.comment is not None),
            )
            if given
        ]
        if ignored:
            raise MappingError(
                cls,
                f"{', '.join(ignored)} shape a derived table; table {table.name!r} was written by hand: "
                "declare them on its Column or Index",
                field=path,
            )
    if spec.indexes:  # the fields' index=True were refused above: these are the spec's
        raise MappingError(
            cls,
            f"EntitySpec(indexes=...) shapes a derived table; table {table.name!r} was written by hand: "
            "declare its indexes with Index(...)",
        )
    enforced = _unique_column_sets(table)
    for paths in spec.unique:
        wanted = frozenset(columns[path].name for path in paths)
        if wanted not in enforced:
            raise MappingError(
                cls,
                f"the unique set {paths!r} has no unique constraint or unique index on table "
                f"{table.name!r} (the in-memory adapter enforces it): add UniqueConstraint"
                f"({', '.join(repr(columns[path].name) for path in paths)})",
                field=paths[0],
            )


def _unique_column_sets(table: Table) -> set[frozenset[str]]:
    """The column sets ``table`` holds unique: its primary key, unique constraints, unique indexes and unique columns."""
    sets = {frozenset(column.name for column in table.primary_key.columns)}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            sets.add(frozenset(column.name for column in constraint.columns))
    for index in table.indexes:
        if index.unique:
            sets.add(frozenset(column.name for column in index.columns))
    for column in table.columns:
        if column.unique:
            sets.add(frozenset({column.name}))
    return sets
