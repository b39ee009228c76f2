"""A clock that tests move forward: the pytest plugin's :class:`~hexalchemy.pytest_plugin.clock.MovableClock`."""

from __future__ import annotations

from hexalchemy.pytest_plugin.clock import MovableClock as FakeClock

__all__ = ["FakeClock"]
