"""The outbox relay diagnostic (``python -m benchmarks.outbox_diagnose``) runs, at a token size (PostgreSQL).

It captures the relay store's claim statement as the store sends it (on psycopg's cursor,
below SQLAlchemy) and replays it by hand; this test keeps that capture working. It asserts
nothing about time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.postgresql import POSTGRESQL_URL

ROOT: Final = Path(__file__).resolve().parents[1]
WAYS: Final = 5


@pytest.mark.postgresql
def test_outbox_diagnose_runs_every_way(postgresql_problem: str | None) -> None:
    if postgresql_problem is not None:
        from tests.postgresql import without_postgresql

        without_postgresql(postgresql_problem)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.outbox_diagnose", "--tiny", "--url", POSTGRESQL_URL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    ways = [
        line
        for line in result.stdout.splitlines()
        if line.startswith(tuple(f"| {n}. " for n in range(1, WAYS + 1)))
    ]
    assert len(ways) == WAYS + 2, result.stdout  # the throughput table, then ways 4 and 5 per phase
