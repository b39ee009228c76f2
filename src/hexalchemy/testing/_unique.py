"""The unique sets of an entity (``EntitySpec.unique``), enforced by the in-memory adapter as a database enforces its unique constraints.

Two aggregates collide when they hold equal values (in stored form) in every field of a
unique set; a set holding a None never collides, as NULLs in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hexalchemy.ports import ConstraintViolationError, EntitySpec

__all__ = ["check_unique"]


def _values(aggregate: object, paths: tuple[str, ...]) -> tuple[object, ...] | None:
    """The aggregate's values of the fields at ``paths``; None when one of them (or a value object on its way) is None."""
    values: list[object] = []
    for path in paths:
        value: object = aggregate
        for part in path.split("."):
            value = getattr(value, part)
            if value is None:
                return None
        values.append(value)
    return tuple(values)


def check_unique(
    spec: EntitySpec[Any, Any], rows: Mapping[object, object], new: Iterable[tuple[object, object]]
) -> None:
    """Raise ``ConstraintViolationError`` when one of the ``new`` (key, stored aggregate) pairs collides with another row.

    ``rows`` are the other rows by key, as the writer sees them (a new row's own key is left
    out: it replaces that row).
    """
    if not spec.unique:
        return
    batch = list(new)
    replaced = {key for key, _ in batch}
    for paths in spec.unique:
        holders: dict[tuple[object, ...], object] = {}
        for key, aggregate in rows.items():
            if key in replaced:
                continue
            values = _values(aggregate, paths)
            if values is not None:
                holders[values] = key
        for key, aggregate in batch:
            values = _values(aggregate, paths)
            if values is None:
                continue
            holder = holders.setdefault(values, key)
            if holder != key:
                raise ConstraintViolationError(
                    f"unique {spec.cls.__qualname__}{paths!r}: {values!r} is held by the aggregate of "
                    f"key {holder!r} already, not by {key!r} too"
                )
