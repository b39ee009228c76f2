"""Watching the SQL an engine sends to its driver, for tests that count statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL of every statement the engine sends to the driver inside the block.

    The listener is a ``before_cursor_execute`` hook, so stores with a driver fast path
    take their SQLAlchemy path while it is attached.
    """
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
