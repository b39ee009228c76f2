"""Table definitions that hold on every registered database (a table is defined before it meets one).

- :func:`json_type`: ``JSON``, with each database's better JSON type as a variant;
- :func:`partial_index`: the keywords of a partial index, for every database that has them;
- :func:`check_prefix`: the prefix of the library's own table names (outbox, agents),
  short enough for every database's identifier limit (:func:`identifier_limit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement
from sqlalchemy.types import TypeEngine

from hexalchemy.ports import ConfigError
from hexalchemy.sqlalchemy.backend import backends

__all__ = ["check_prefix", "derived_name", "identifier_limit", "json_type", "partial_index"]


def json_type() -> TypeEngine[Any]:
    """SQLAlchemy's ``JSON``, with each database's better JSON type as a variant (``JSONB`` on PostgreSQL)."""
    json: TypeEngine[Any] = JSON()
    for backend in backends():
        variant = backend.json_type()
        if variant is not None:
            json = json.with_variant(variant, backend.name)
    return json


def partial_index(where: ColumnElement[bool]) -> dict[str, Any]:
    """The ``Index`` keywords of a partial index on ``where``, for every database that has them."""
    options: dict[str, Any] = {}
    for backend in backends():
        options.update(backend.partial_index(where))
    return options


def identifier_limit() -> int:
    """The longest name, in UTF-8 bytes, that every registered database keeps whole."""
    return min(backend.max_identifier_bytes for backend in backends())


def check_prefix(prefix: object, suffixes: Sequence[str]) -> str:
    """``prefix``, or ``ConfigError`` naming it and the limit.

    A prefix is a SQL identifier (letters, digits and ``_``, not starting with a digit),
    short enough that every name made from it (``prefix + suffix``: tables, indexes,
    constraints, triggers, functions) fits in every supported database's identifier
    limit, counted in UTF-8 bytes (see ``Backend.max_identifier_bytes``): a longer name
    would be refused, or cut short by the database and collide with another.
    """
    if not isinstance(prefix, str) or not prefix.isidentifier():
        raise ConfigError("prefix", prefix, "must be a SQL identifier (letters, digits and _)")
    limit = identifier_limit()
    longest = max(suffixes, key=lambda suffix: len(suffix.encode()))
    room = limit - len(longest.encode())
    if len(prefix.encode()) > room:
        raise ConfigError(
            "prefix",
            prefix,
            f"is {len(prefix.encode())} bytes long; names made from it, up to {prefix}{longest}, must fit "
            f"the databases' limit of {limit} bytes: use a prefix of at most {room} bytes",
        )
    return prefix


def derived_name(name: str, suffix: str) -> str:
    """``name + suffix`` (an index or constraint named after its table and columns), fitted to every database's limit.

    The backend with the shortest limit fits it (see ``Backend.derived_identifier``), so the
    name is the same on every database.
    """
    shortest = min(backends(), key=lambda backend: backend.max_identifier_bytes)
    return shortest.derived_identifier(name, suffix)
