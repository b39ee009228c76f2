"""Repository ports: collections of aggregates addressed by key, sync and async.

Every method works inside the ambient transaction of the repository's transaction
manager; called outside one it raises :class:`~hexalchemy.ports.NoActiveTransactionError`.
Composite keys are tuples, in the order of the entity's key fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

__all__ = [
    "AsyncReader",
    "AsyncRepository",
    "AsyncWriter",
    "Reader",
    "Repository",
    "Writer",
]

T = TypeVar("T")
K_contra = TypeVar("K_contra", contravariant=True)


class Reader(Protocol[T, K_contra]):
    """The read side of a repository."""

    def get(self, id: K_contra, /) -> T:
        """Return the aggregate with this key; raise ``EntityNotFoundError`` if there is none."""
        ...

    def get_or_none(self, id: K_contra, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        ...

    def contains(self, id: K_contra, /) -> bool:
        """Return whether an aggregate with this key exists."""
        ...

    def range(self, ids: Iterable[K_contra], /) -> list[T]:
        """Return the aggregates with these keys in one query, in the order of ``ids``.

        Missing keys are left out; a key given twice yields its aggregate twice.
        """
        ...


class Writer(Protocol[T]):
    """The write side of a repository."""

    def save(self, aggregate: T, /) -> T:
        """Insert a new aggregate or update an existing one; return it with its new version.

        With a version field, version 0 means new (INSERT, ``DuplicateEntityError`` if the key
        exists) and any other version updates only if the stored version is the same
        (``VersionConflictError`` otherwise, ``EntityNotFoundError`` if the row is gone).
        Without a version field, save is an upsert.
        """
        ...

    def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates in a constant number of round trips, all or nothing."""
        ...

    def delete(self, aggregate: T, /) -> None:
        """Delete an aggregate, checking its version; ``EntityNotFoundError`` if it is gone."""
        ...

    def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates in a constant number of round trips, all or nothing."""
        ...


class Repository(Reader[T, K_contra], Writer[T], Protocol[T, K_contra]):
    """A synchronous repository of aggregates ``T`` keyed by ``K``."""


class AsyncReader(Protocol[T, K_contra]):
    """The read side of an asynchronous repository (see :class:`Reader`)."""

    async def get(self, id: K_contra, /) -> T:
        """Return the aggregate with this key; raise ``EntityNotFoundError`` if there is none."""
        ...

    async def get_or_none(self, id: K_contra, /) -> T | None:
        """Return the aggregate with this key, or ``None``."""
        ...

    async def contains(self, id: K_contra, /) -> bool:
        """Return whether an aggregate with this key exists."""
        ...

    async def range(self, ids: Iterable[K_contra], /) -> list[T]:
        """Return the aggregates with these keys in one query, in the order of ``ids``."""
        ...


class AsyncWriter(Protocol[T]):
    """The write side of an asynchronous repository (see :class:`Writer`)."""

    async def save(self, aggregate: T, /) -> T:
        """Insert or update an aggregate; return it with its new version."""
        ...

    async def save_all(self, aggregates: Iterable[T], /) -> list[T]:
        """Save many aggregates in a constant number of round trips, all or nothing."""
        ...

    async def delete(self, aggregate: T, /) -> None:
        """Delete an aggregate, checking its version; ``EntityNotFoundError`` if it is gone."""
        ...

    async def delete_all(self, aggregates: Iterable[T], /) -> None:
        """Delete many aggregates in a constant number of round trips, all or nothing."""
        ...


class AsyncRepository(AsyncReader[T, K_contra], AsyncWriter[T], Protocol[T, K_contra]):
    """An asynchronous repository of aggregates ``T`` keyed by ``K``."""
