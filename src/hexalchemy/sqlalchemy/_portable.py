"""Table definitions that hold on every registered database (a table is defined before it meets one).

- :func:`json_type`: ``JSON``, with each database's better JSON type as a variant;
- :func:`text_type`, :func:`binary_type`: ``String()`` and ``LargeBinary()`` (text and bytes of
  no declared length), with each database's type as a variant where those do not fit
  (``LONGTEXT``, ``LONGBLOB`` on MariaDB);
- :func:`table_options`: the ``Table`` keywords of every database (MariaDB's character set and collation);
- :func:`partial_index`: the keywords of a partial index, for every database that has them;
- :func:`check_prefix`: the prefix of the library's own table names (outbox, agents),
  short enough for every database's identifier limit (:func:`identifier_limit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, LargeBinary, String
from sqlalchemy.types import TypeEngine

from hexalchemy.ports import ConfigError
from hexalchemy.sqlalchemy.backend import backends

__all__ = [
    "binary_type",
    "check_prefix",
    "derived_name",
    "identifier_limit",
    "json_type",
    "partial_index",
    "table_options",
    "text_type",
]


def json_type() -> TypeEngine[Any]:
    """SQLAlchemy's ``JSON``, with each database's better JSON type as a variant (``JSONB`` on PostgreSQL)."""
    json: TypeEngine[Any] = JSON()
    for backend in backends():
        variant = backend.json_type()
        if variant is not None:
            json = json.with_variant(variant, backend.name)
    return json


def text_type(base: TypeEngine[Any] | None = None, *, key: bool = False) -> TypeEngine[Any]:
    """``base`` (``String()`` by default), with each database's type for text of no declared length as a variant.

    ``LONGTEXT`` on MariaDB, or, for a primary key column (``key``), ``VARCHAR(255)``.
    """
    text: TypeEngine[Any] = String() if base is None else base
    for backend in backends():
        variant = backend.text_type(key=key)
        if variant is not None:
            text = text.with_variant(variant, backend.name)
    return text


def binary_type() -> TypeEngine[Any]:
    """``LargeBinary()``, with each database's type for bytes of any length as a variant (``LONGBLOB`` on MariaDB)."""
    binary: TypeEngine[Any] = LargeBinary()
    for backend in backends():
        variant = backend.binary_type()
        if variant is not None:
            binary = binary.with_variant(variant, backend.name)
    return binary


def table_options() -> dict[str, Any]:
    """The ``Table`` keywords of every database, for a table hexalchemy defines (MariaDB: ``utf8mb4``, binary collation)."""
    options: dict[str, Any] = {}
    for backend in backends():
        options.update(backend.table_options())
    return options


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
