"""Values given to an API against its types on purpose, as a caller with no type checker would."""

from __future__ import annotations

from typing import Any


def untyped(value: object) -> Any:
    """``value`` unchanged, typed ``Any``: the tests that pass a wrong type on purpose say so by calling this."""
    return value
