"""Watching the SQL an engine sends to its driver, for tests that count statements.

Each helper acts on the connections the engine opens inside its block (a connection takes
the engine's execution options when it opens): enter it before ``transactions.begin()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.sqlalchemy.backend import FAST_PATHS_EXECUTION_OPTION
from hexalchemy.sqlalchemy.tracing import FastPathStatement, set_statement_hook, statement_hook


def _sync(engine: Engine | AsyncEngine) -> Engine:
    return engine.sync_engine if isinstance(engine, AsyncEngine) else engine


@contextmanager
def counting_statements(engine: Engine | AsyncEngine) -> Iterator[list[str]]:
    """Collect the SQL of every statement the engine sends to its driver inside the block.

    SQLAlchemy's statements through a ``before_cursor_execute`` listener, the fast paths'
    (pre-compiled statements, COPY) through the engine's statement hook: the fast paths stay
    on while a listener is attached, and each statement is collected once.
    """
    statements: list[str] = []
    sync = _sync(engine)

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def fast(statement: FastPathStatement) -> None:
        statements.append(statement.sql)

    previous = statement_hook(sync)
    event.listen(sync, "before_cursor_execute", before)
    set_statement_hook(sync, fast)
    try:
        yield statements
    finally:
        set_statement_hook(sync, previous)
        event.remove(sync, "before_cursor_execute", before)


@contextmanager
def sqlalchemy_path(engine: Engine | AsyncEngine) -> Iterator[None]:
    """Turn the engine's fast paths off inside the block: every statement goes through SQLAlchemy."""
    sync = _sync(engine)
    sync.update_execution_options(**{FAST_PATHS_EXECUTION_OPTION: False})
    try:
        yield
    finally:
        sync.update_execution_options(**{FAST_PATHS_EXECUTION_OPTION: True})


@contextmanager
def sqlalchemy_statements(engine: Engine | AsyncEngine) -> Iterator[list[str]]:
    """The fast paths off (:func:`sqlalchemy_path`), and the SQL of every statement collected by a listener."""
    with sqlalchemy_path(engine), counting_statements(engine) as statements:
        yield statements
