"""The generated row functions agree with a slow reference flattening, for generated objects of the value domain."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any, NewType, cast

import attrs
from hypothesis import given
from hypothesis import strategies as st

from hexalchemy.ports import EntitySpec
from hexalchemy.sqlalchemy import Schema, TableMapping
from hexalchemy.testing.contracts.strategies import int64s, texts

ItemId = NewType("ItemId", uuid.UUID)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Point:
    x: int
    y: int | None


@attrs.frozen
class Place:
    name: str
    point: Point
    corner: Point | None = None


@attrs.frozen
class Item:
    id: ItemId
    colour: Colour
    price: Decimal
    place: Place
    backup: Place | None
    labels: tuple[str, ...]
    points: list[Point]
    extra: dict[str, int]
    seen: dt.datetime | None
    version: int = 0


def reference_row(value: object, prefix: str = "") -> dict[str, Any]:
    """Flatten by walking attrs fields (slow, obviously right)."""
    row: dict[str, Any] = {}
    for field in attrs.fields(cast(Any, type(value))):
        name = f"{prefix}{field.name}"
        inner = getattr(value, field.name)
        if isinstance(inner, Place | Point):
            row.update(reference_row(inner, f"{name}_"))
        elif field.name in {"backup", "corner"} and inner is None:
            template = Place if field.name == "backup" else Point
            for column in reference_columns(template, f"{name}_"):
                row[column] = None
        elif isinstance(inner, enum.Enum):
            row[name] = inner.value
        elif isinstance(inner, tuple):
            row[name] = list(inner)
        elif isinstance(inner, list):
            row[name] = [attrs.asdict(point) for point in inner]
        else:
            row[name] = inner
    return row


def reference_columns(cls: type[Any], prefix: str) -> list[str]:
    columns: list[str] = []
    for field in attrs.fields(cls):
        if field.type in {"Point", "Point | None"}:
            columns.extend(reference_columns(Point, f"{prefix}{field.name}_"))
        else:
            columns.append(f"{prefix}{field.name}")
    return columns


points = st.builds(Point, x=int64s(), y=st.none() | int64s())
places = st.builds(Place, name=texts(), point=points, corner=st.none() | points)
items = st.builds(
    Item,
    id=st.uuids().map(ItemId),
    colour=st.sampled_from(Colour),
    price=st.decimals(allow_nan=False, allow_infinity=False, places=4),
    place=places,
    backup=st.none() | places,
    labels=st.lists(texts()).map(tuple),
    points=st.lists(points, max_size=3),
    extra=st.dictionaries(texts(), int64s(), max_size=3),
    seen=st.none() | st.datetimes(timezones=st.just(dt.UTC)),
    version=int64s().filter(lambda version: version >= 0),
)


def build_mapping() -> TableMapping[Item, ItemId]:
    return Schema().map(EntitySpec(Item, key="id", version="version", key_type=ItemId), table="items")


MAPPING = build_mapping()


@given(items)
def test_to_row_matches_the_reference_flattening(item: Item) -> None:
    assert MAPPING.to_row(item) == reference_row(item)


@given(items)
def test_from_row_inverts_to_values(item: Item) -> None:
    assert MAPPING.from_row(MAPPING.to_values(item)) == item


@given(items)
def test_to_values_follows_the_column_order(item: Item) -> None:
    row = MAPPING.to_row(item)
    assert MAPPING.to_values(item) == tuple(row[key] for key in MAPPING.column_keys)


def test_derived_columns_are_prefixed_and_nullable_under_optional_objects() -> None:
    columns = {column.name: column.nullable for column in MAPPING.table.columns}
    assert columns["place_point_x"] is False
    assert columns["place_point_y"] is True
    assert columns["place_corner_x"] is True
    assert columns["backup_name"] is True
    assert columns["backup_point_x"] is True
    assert columns["id"] is False


def test_generated_source_is_shown_in_tracebacks() -> None:
    import linecache

    filename = MAPPING.from_row.__code__.co_filename
    assert filename.startswith("<hexalchemy Item")
    assert "def from_row" in "".join(linecache.getlines(filename))


def test_an_optional_value_object_is_none_when_its_presence_column_is_null() -> None:
    item = Item(
        ItemId(uuid.uuid4()),
        Colour.RED,
        Decimal("1.5"),
        Place("a", Point(1, None)),
        None,
        (),
        [],
        {},
        None,
    )
    restored = MAPPING.from_row(MAPPING.to_values(item))
    assert restored.backup is None
    assert restored.place.corner is None


@given(items, int64s().filter(lambda version: version >= 0))
def test_with_version_makes_what_evolve_makes(item: Item, version: int) -> None:
    copy = MAPPING.with_version(item, version)
    assert copy == attrs.evolve(item, version=version)
    assert type(copy) is Item
    assert all(getattr(copy, name) is getattr(item, name) for name in ("id", "place", "points", "extra"))
    assert "new" in MAPPING.with_version.__code__.co_names  # made slot by slot: Item's __init__ only stores


def _positive(instance: object, attribute: object, value: int) -> None:
    if value < 0:
        raise ValueError("negative")


@attrs.frozen
class Checked:
    id: int
    size: int = attrs.field(validator=_positive)
    version: int = 0


@attrs.frozen
class Counted:
    id: int
    version: int = 0
    made: list[int] = attrs.field(factory=list, eq=False)

    def __attrs_post_init__(self) -> None:
        self.made.append(self.version)


@attrs.frozen(cache_hash=True)
class Hashed:
    id: int
    version: int = 0


@attrs.define(frozen=True, slots=False)
class Unslotted:
    id: int
    version: int = 0


def test_with_version_runs_init_when_it_does_more_than_store() -> None:
    """A validator, a post-init, a cached hash or a __dict__: the copy goes through __init__, as evolve's."""
    for original in (Checked(1, 2), Hashed(1), Unslotted(1)):
        cls = type(original)
        mapping = Schema().map(
            EntitySpec(cls, key="id", version="version", key_type=int), table=f"t_{cls.__name__.lower()}"
        )
        copy = mapping.with_version(original, 7)
        assert copy == attrs.evolve(original, version=7)
        assert hash(copy) == hash(attrs.evolve(original, version=7))
        assert "new" not in mapping.with_version.__code__.co_names, cls  # made by calling the class
    counted = Counted(1)
    counting = Schema().map(EntitySpec(Counted, key="id", version="version", key_type=int), table="t_counted")
    assert counting.with_version(counted, 3).made == [0, 3]
