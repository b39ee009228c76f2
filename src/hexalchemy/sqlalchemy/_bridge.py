"""How an async store reaches its sync plans, and the sync names ``make generate`` swaps them for.

The async outbox relay store and the async agent state store's lease calls run their plans
whole inside SQLAlchemy's greenlet bridge (:func:`~hexalchemy.sqlalchemy._operations.run_plan_bridged`),
on the async engine's ``sync_engine``: one crossing per call instead of one per SQLAlchemy
call. The async wrapper classes (``_async/``) call :func:`plan_engine_async` and
:func:`run_own_plan_async`; their generated sync twins (``_sync/``) call
:func:`plan_engine` and :func:`~hexalchemy.sqlalchemy._outbox_core.run_own_plan`.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from hexalchemy.sqlalchemy._operations import Plan, run_plan_bridged
from hexalchemy.sqlalchemy._outbox_core import run_own_plan

__all__ = ["plan_engine", "plan_engine_async", "run_own_plan_async"]

R = TypeVar("R")


def plan_engine(engine: Engine) -> Engine:
    """The engine a sync store's own-connection plans run on: ``engine`` itself."""
    return engine


def plan_engine_async(engine: AsyncEngine) -> Engine:
    """The engine an async store's bridged plans run on: the async engine's ``sync_engine``."""
    return engine.sync_engine


async def run_own_plan_async(plan: Plan[R]) -> R:
    """Await :func:`~hexalchemy.sqlalchemy._outbox_core.run_own_plan` run whole in the greenlet bridge.

    ``plan`` opens its own connection, on :func:`plan_engine_async` of the store's engine.
    """
    return await run_plan_bridged(run_own_plan, plan)
