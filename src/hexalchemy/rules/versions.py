"""The version of a versioned aggregate: which values a save or a delete accepts."""

from __future__ import annotations

from typing import Any

import attrs

from hexalchemy.ports import ColumnOptions, EntitySpec, InvalidArgumentError, InvalidValueError
from hexalchemy.rules.arguments import check_instance

__all__ = ["VersionRule", "version_rule"]


@attrs.frozen
class VersionRule:
    """Which versions an entity's aggregates may carry into a save or a delete (see :func:`version_rule`)."""

    entity_type: type[object]
    field: str
    bits: int
    highest: int
    """The largest version accepted: its successor, which a save stores, is the largest the field holds."""

    def check(self, version: object) -> int:
        """Return ``version`` if it is accepted, or raise :class:`~hexalchemy.ports.InvalidValueError` naming it."""
        if type(version) is int and 0 <= version <= self.highest:
            return version
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            reason = "a version must be an int >= 0"
        else:
            reason = (
                f"a version must be at most {self.highest}: a save stores version + 1, and the "
                f"version field holds {self.bits}-bit integers"
            )
        raise InvalidValueError(self.entity_type, self.field, version, reason)


def version_rule(spec: EntitySpec[Any, Any]) -> VersionRule:
    """The rule every adapter applies to an aggregate's version before a save or a delete.

    A version is an int from 0 up to the largest one whose successor (what the save stores)
    still fits the version field's integers (``ColumnOptions(bits=...)``, 64 by default):
    ``2**63 - 2`` by default, ``2**31 - 2`` with ``bits=32``. Anything else is an
    :class:`~hexalchemy.ports.InvalidValueError` naming the entity, the version field and
    the value, before any statement. ``spec`` must have a version field.
    """
    check_instance("spec", spec, EntitySpec)
    field = spec.version_field
    if field is None:
        raise InvalidArgumentError("spec", spec, "must name a version field (EntitySpec(version=...))")
    bits = (spec.column_options.get(field) or ColumnOptions()).bits or 64
    return VersionRule(spec.cls, field, bits, 2 ** (bits - 1) - 2)
