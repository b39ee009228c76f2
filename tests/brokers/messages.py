"""Outbox messages for the broker tests."""

from __future__ import annotations

import uuid

from hexalchemy.ports import OutboxMessage
from hexalchemy.rules import new_message


def batch(topic: str, count: int, *, key: str | None = None) -> list[OutboxMessage]:
    """``count`` messages of ``topic`` whose payloads are ``b"0"``, ``b"1"``...; ``key``: their ordering key."""
    return [
        new_message(topic, str(index).encode(), headers={"n": str(index)}, ordering_key=key)
        for index in range(count)
    ]


def unique(name: str) -> str:
    """A destination name no other test run uses."""
    return f"hx-test-{name}-{uuid.uuid4().hex[:10]}"
