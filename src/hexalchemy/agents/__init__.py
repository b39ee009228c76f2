"""Application helpers for durable AI agents, written against :mod:`hexalchemy.ports` only."""

from hexalchemy.agents.recovery import (
    Decision,
    RecoveryAction,
    decide,
    decide_from_log,
    decide_from_log_async,
)

__all__ = ["Decision", "RecoveryAction", "decide", "decide_from_log", "decide_from_log_async"]
