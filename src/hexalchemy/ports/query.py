"""The query side: typed field references, conditions, orderings, queries and the finder ports.

A :class:`Field` names one stored scalar of an aggregate (a field, or a field of a nested
value object). Build conditions and orderings through the typed references of
:func:`hexalchemy.rules.field_ref`, which carry the type of the field's values, so a type
checker refuses a comparison with a value of another type::

    TOTAL = field_ref(Order, lambda o: o.total)       # FieldRef[Order, Decimal]
    CITY = field_ref(Order, lambda o: o.ship_to.city)   # FieldRef[Order, str]
    query = Query(Order, where=TOTAL.gt(Decimal("100")) & CITY.startswith("Ber"), order_by=[TOTAL.desc()])

``field_ref`` checks the path against the class and raises
:class:`~hexalchemy.ports.MappingError` naming a field that is not stored in a column of its
own, when the reference is built. The values here are plain data; an adapter checks a query
against its entity's value rules before its first statement (a value of the wrong type is
an ``InvalidValueError`` naming the field).

Semantics every adapter shares (the contracts check them):

- a comparison with a field holding None is unknown, as in SQL: it matches nothing, and
  neither does its negation (``~``); ``eq(None)`` and ``ne(None)`` mean ``is_none()`` and
  ``is_not_none()``;
- ordering is ascending or descending, with None before every value in ascending order
  (after every value in descending order), text in code point order, enums by their
  values; every ordering ends with the key fields (in the direction of its last field,
  ascending without one), so that it is total;
- :meth:`Lister.page` pages by keyset: the cursor of the next page is an opaque string
  that only the same query accepts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

import attrs

from hexalchemy.ports.agents import Page

__all__ = [
    "AsyncStream",
    "Stream",
    "AllOf",
    "AnyOf",
    "AsyncBulkDeleter",
    "AsyncFinder",
    "AsyncLister",
    "BulkDeleter",
    "Comparison",
    "Condition",
    "Field",
    "Finder",
    "IsNone",
    "Lister",
    "Not",
    "OneOf",
    "Operator",
    "Ordering",
    "Query",
    "TextMatch",
]

E = TypeVar("E")
T = TypeVar("T")

Operator: TypeAlias = Literal["eq", "ne", "lt", "le", "gt", "ge"]
"""The operator of a :class:`Comparison`: equal, not equal, less than, less or equal, greater than, greater or equal."""


@attrs.frozen
class Condition(Generic[E]):
    """A condition on aggregates ``E`` (the base of the conditions below); combine them with ``&``, ``|`` and ``~``."""

    def __and__(self, other: Condition[E]) -> Condition[E]:
        return AllOf((self, other))

    def __or__(self, other: Condition[E]) -> Condition[E]:
        return AnyOf((self, other))

    def __invert__(self) -> Condition[E]:
        return Not(self)


@attrs.frozen
class Field(Generic[E]):
    """A stored scalar of aggregates ``E``, as conditions and orderings name it.

    ``path`` leads from the aggregate to the value (``("ship_to", "city")``);
    ``value_type`` is the value's type without ``None``, and ``optional`` says whether the
    value, or a value object on the way to it, may be None. Build it, typed by its values,
    with :func:`hexalchemy.rules.field_ref`.
    """

    entity: type[E]
    path: tuple[str, ...]
    value_type: Any
    optional: bool


@attrs.frozen
class Comparison(Condition[E]):
    """``field <operator> value``; ``operator`` is one of ``eq ne lt le gt ge``."""

    field: Field[E]
    operator: Operator
    value: object


@attrs.frozen
class OneOf(Condition[E]):
    """``field`` is one of ``values``."""

    field: Field[E]
    values: tuple[object, ...]


@attrs.frozen
class IsNone(Condition[E]):
    """``field`` is None."""

    field: Field[E]


@attrs.frozen
class TextMatch(Condition[E]):
    """A text ``field`` starts with (``kind="prefix"``) or contains (``"contains"``) ``text``."""

    field: Field[E]
    kind: Literal["prefix", "contains"]
    text: str


@attrs.frozen
class AllOf(Condition[E]):
    """Every one of ``conditions`` holds (true when there is none)."""

    conditions: tuple[Condition[E], ...]


@attrs.frozen
class AnyOf(Condition[E]):
    """At least one of ``conditions`` holds (false when there is none)."""

    conditions: tuple[Condition[E], ...]


@attrs.frozen
class Not(Condition[E]):
    """``condition`` does not hold (unknown stays unknown)."""

    condition: Condition[E]


@attrs.frozen
class Ordering(Generic[E]):
    """Order by ``field``, ascending or ``descending``."""

    field: Field[E]
    descending: bool = False


@attrs.frozen
class Query(Generic[E]):
    """Which aggregates ``E`` to read, and in which order: ``Query(Order, where=..., order_by=[TOTAL.desc()])``.

    Without ``where`` every aggregate matches; the order always ends with the key fields.
    """

    entity: type[E]
    where: Condition[E] | None = attrs.field(default=None, kw_only=True)
    order_by: Sequence[Ordering[E]] = attrs.field(default=(), kw_only=True)


class Finder(Protocol[T]):
    """Reads aggregates ``T`` by query, inside the ambient transaction."""

    def find(self, query: Query[T], /, *, limit: int | None = None) -> list[T]:
        """The aggregates matching ``query``, in its order (at most ``limit`` of them)."""
        ...

    def first(self, query: Query[T], /) -> T | None:
        """The first aggregate matching ``query`` in its order, or None."""
        ...

    def count(self, query: Query[T], /) -> int:
        """How many aggregates match ``query`` (its order does not matter)."""
        ...

    def exists(self, query: Query[T], /) -> bool:
        """Whether an aggregate matches ``query``."""
        ...


T_co = TypeVar("T_co", covariant=True)


class Stream(Protocol[T_co]):
    """What :meth:`Lister.stream` returns: an iterator of aggregates that can be closed before its end.

    A generator is one: ``with contextlib.closing(orders.stream(query)) as stream:``
    releases the cursor at once when the loop stops early.
    """

    def __iter__(self) -> Iterator[T_co]:
        """The stream itself."""
        ...

    def __next__(self) -> T_co:
        """The next aggregate (``StopIteration`` after the last)."""
        ...

    def close(self) -> None:
        """Stop the stream and release its cursor."""
        ...


class AsyncStream(Protocol[T_co]):
    """What :meth:`AsyncLister.stream` returns: an async iterator of aggregates that can be closed before its end.

    An async generator is one: ``async with contextlib.aclosing(orders.stream(query)) as stream:``
    releases the cursor at once when the loop stops early (see :class:`Stream`).
    """

    def __aiter__(self) -> AsyncIterator[T_co]:
        """The stream itself."""
        ...

    def __anext__(self) -> Awaitable[T_co]:
        """The next aggregate (``StopAsyncIteration`` after the last)."""
        ...

    def aclose(self) -> Awaitable[None]:
        """Stop the stream and release its cursor."""
        ...


class Lister(Protocol[T]):
    """Lists aggregates ``T`` by query a page or a chunk at a time, inside the ambient transaction."""

    def page(self, query: Query[T], /, *, size: int, after: str | None = None) -> Page[T]:
        """The next ``size`` aggregates matching ``query`` after the cursor ``after`` (from the start without one).

        The page's ``next_cursor`` is None on the last page; any other cursor than one a
        page of this same query gave is an ``InvalidArgumentError``.
        """
        ...

    def stream(self, query: Query[T], /, *, chunk_size: int = 1000) -> Stream[T]:
        """Every aggregate matching ``query``, in its order, read ``chunk_size`` rows at a time.

        Memory stays bounded by the chunk (a server-side cursor on PostgreSQL). Consume it
        inside the transaction it was started in; close it to stop early (:class:`Stream`).
        """
        ...


class BulkDeleter(Protocol[T]):
    """Deletes aggregates ``T`` by condition, inside the ambient transaction."""

    def delete_where(self, condition: Condition[T], /) -> int:
        """Delete every aggregate matching ``condition``, whatever its version; return how many.

        No version is checked or bumped: a later save or delete of a deleted aggregate
        raises ``EntityNotFoundError``, as after :meth:`~hexalchemy.ports.Writer.delete`.
        """
        ...


class AsyncFinder(Protocol[T]):
    """Reads aggregates ``T`` by query (see :class:`Finder`)."""

    async def find(self, query: Query[T], /, *, limit: int | None = None) -> list[T]:
        """The aggregates matching ``query``, in its order (at most ``limit`` of them)."""
        ...

    async def first(self, query: Query[T], /) -> T | None:
        """The first aggregate matching ``query`` in its order, or None."""
        ...

    async def count(self, query: Query[T], /) -> int:
        """How many aggregates match ``query``."""
        ...

    async def exists(self, query: Query[T], /) -> bool:
        """Whether an aggregate matches ``query``."""
        ...


class AsyncLister(Protocol[T]):
    """Lists aggregates ``T`` by query a page or a chunk at a time (see :class:`Lister`)."""

    async def page(self, query: Query[T], /, *, size: int, after: str | None = None) -> Page[T]:
        """The next ``size`` aggregates matching ``query`` after the cursor ``after``."""
        ...

    def stream(self, query: Query[T], /, *, chunk_size: int = 1000) -> AsyncStream[T]:
        """Every aggregate matching ``query``, in its order, read ``chunk_size`` rows at a time."""
        ...


class AsyncBulkDeleter(Protocol[T]):
    """Deletes aggregates ``T`` by condition (see :class:`BulkDeleter`)."""

    async def delete_where(self, condition: Condition[T], /) -> int:
        """Delete every aggregate matching ``condition``, whatever its version; return how many."""
        ...
