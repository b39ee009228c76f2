"""Application helpers for durable AI agents, written against :mod:`hexalchemy.ports` only."""

from hexalchemy.agents.recovery import Decision, RecoveryAction, decide

__all__ = ["Decision", "RecoveryAction", "decide"]
