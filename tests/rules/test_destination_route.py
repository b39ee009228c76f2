"""destination_route: the default route sent to a template holding {topic}; bad templates refused up front."""

from __future__ import annotations

from typing import Any, cast

import pytest

from hexalchemy.ports import InvalidArgumentError
from hexalchemy.rules import default_route, destination_route, new_message


def test_the_template_replaces_topic_and_keeps_the_rest_of_the_default_route() -> None:
    message = new_message("placed", b"{}", ordering_key="k1", headers={"a": "b"})
    route = destination_route("orders.{topic}.{{x}}")(message)
    default = default_route(message)
    assert route.destination == "orders.placed.{x}"
    assert (route.payload, dict(route.headers), route.dedup_id) == (
        default.payload,
        dict(default.headers),
        default.dedup_id,
    )
    assert destination_route("one-stream")(message).destination == "one-stream"


@pytest.mark.parametrize(
    "template", ["", "{key}", "{topic!r}", "{topic:>9}", "{0}", "{}", "a{topic", "a}", "{topic.x}", "\x00", 5]
)
def test_a_bad_template_is_refused_naming_it(template: object) -> None:
    with pytest.raises(InvalidArgumentError, match="template"):
        destination_route(cast(Any, template))
