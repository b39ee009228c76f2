# The async helpers in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""Test doubles of ``tests/test_retry.py``: :class:`AsyncFakeSleep`, :class:`AsyncRecordingManager`."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from hexalchemy.ports import IsolationLevel
from hexalchemy.testing import AsyncInMemoryTransactionManager


class AsyncFakeSleep:
    """Records the delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class AsyncRecordingManager:
    """A transaction manager that records the arguments of begin(); implements ``AsyncTransactionManager``."""

    def __init__(self) -> None:
        self.inner = AsyncInMemoryTransactionManager()
        self.calls: list[tuple[bool, IsolationLevel | None]] = []

    def begin(
        self, *, read_only: bool = False, isolation_level: IsolationLevel | None = None
    ) -> AbstractAsyncContextManager[None]:
        self.calls.append((read_only, isolation_level))
        return self.inner.begin(read_only=read_only, isolation_level=isolation_level)

    @property
    def in_transaction(self) -> bool:
        return self.inner.in_transaction
