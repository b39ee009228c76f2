"""check_route: what a routing function returned, accepted when sound, refused naming the field otherwise (the exact-type shortcut included)."""

from __future__ import annotations

import types
from typing import Any, cast

import pytest

from hexalchemy.ports import InvalidArgumentError, Route
from hexalchemy.rules import check_route


class Text(str):
    """A str subclass: not the shortcut's exact type, still a sound name."""


def _route(**changes: object) -> Route:
    fields: dict[str, Any] = {
        "destination": "orders",
        "payload": b"{}",
        "headers": {"a": "b"},
        "dedup_id": "id-1",
    }
    fields.update(changes)
    return Route(**fields)


@pytest.mark.parametrize(
    "route",
    [
        _route(),
        _route(headers={}),
        _route(destination="commandes-é"),  # not ASCII: checked character by character
        _route(destination=Text("orders"), dedup_id=Text("id-1")),
        _route(headers=types.MappingProxyType({"a": "b"})),
        _route(headers={"a": Text("b")}),
    ],
)
def test_a_sound_route_is_returned_as_it_is(route: Route) -> None:
    assert check_route(route) is route


@pytest.mark.parametrize(
    ("route", "field"),
    [
        (_route(destination=""), "route.destination"),
        (_route(destination="a\x00b"), "route.destination"),
        (_route(dedup_id="a\x00b"), "route.dedup_id"),
        (_route(dedup_id="\ud800"), "route.dedup_id"),
        (_route(payload="text"), "route.payload"),
        (_route(payload=bytearray(b"x")), "route.payload"),
        (_route(headers={"": "b"}), "route.headers"),
        (_route(headers={"a": 1}), "route.headers"),
        (_route(headers={1: "b"}), "route.headers"),
        (_route(headers=[("a", "b")]), "route.headers"),
        ("orders", "route"),
    ],
)
def test_an_unsound_route_is_refused_naming_its_field(route: object, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        check_route(cast(Any, route))
    assert raised.value.argument == field
