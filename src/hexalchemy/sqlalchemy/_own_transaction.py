"""A store call's own short transaction, run again when the database aborts it: one plan for every store.

The relay store's calls and the agent state store's lease calls each run in a connection
and transaction of their own. :func:`own_transaction` is that plan, written once: it opens
the connection, applies the backend's options, begins, runs the work, commits and closes;
on any error it closes (which rolls back) and raises. A transaction the database aborts
with a :class:`~hexalchemy.ports.RetryableError` (a deadlock victim, a serialization
failure, a busy database) changed nothing, so it runs again, up to
:data:`OWN_TRANSACTION_ATTEMPTS` times in all, while the caller's ``retry()`` says nothing
irreversible happened in it (a locked delivery: before its batch went to the publisher).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from hexalchemy.ports import RetryableError
from hexalchemy.sqlalchemy._cleanup import close_quietly
from hexalchemy.sqlalchemy._operations import Call, Plan

R = TypeVar("R")

OWN_TRANSACTION_ATTEMPTS: Final = 3
"""How often a store call runs its own transaction when the database aborts it with a :class:`~hexalchemy.ports.RetryableError`."""

logger: Final = logging.getLogger("hexalchemy.store")


def always() -> bool:
    """The ``retry`` of work that does nothing outside the database: an aborted run may always run again."""
    return True


def own_transaction(
    engine: Any,
    options: Mapping[str, Any],
    work: Callable[[Any], Plan[R]],
    *,
    label: str,
    retry: Callable[[], bool] = always,
) -> Plan[R]:
    """Plan: run ``work(connection)`` in a new connection and transaction of ``engine``, then commit.

    ``options`` are the connection's execution options; ``label`` names the store in the
    log line (INFO on ``hexalchemy.store``) of each rerun.
    """
    attempt = 1
    while True:
        connection = yield Call(engine.connect)
        try:
            if options:
                yield Call(functools.partial(connection.execution_options, **options))
            yield Call(connection.begin)
            result = yield from work(connection)
            yield Call(connection.commit)
        except GeneratorExit:  # pragma: no cover - the plan was abandoned; no I/O is possible
            raise
        except RetryableError as error:
            yield from close_quietly(connection)  # closing rolls back
            if attempt >= OWN_TRANSACTION_ATTEMPTS or not retry():
                raise
            logger.info(
                "%s: the database aborted attempt %d of %d (%s: %s); running it again",
                label,
                attempt,
                OWN_TRANSACTION_ATTEMPTS,
                type(error).__name__,
                error,
            )
            attempt += 1
            continue
        except BaseException:
            yield from close_quietly(connection)  # closing rolls back
            raise
        yield from close_quietly(connection)
        return result
