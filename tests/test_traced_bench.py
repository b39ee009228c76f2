"""The traced benchmark runs: every ``make bench`` job, at a token size, traced as in production (PostgreSQL).

``python -m benchmarks.run --tiny --traced-only`` runs each job once, sync and async, with
OpenTelemetry's SDK and SQLAlchemy instrumentation on every engine; it prints the spans each
job made. The test checks that every job completed, that each one ran statements on a fast
path (hexalchemy's spans: COPY for the bulk inserts, ``executemany`` for the updates,
pre-compiled statements elsewhere) while the instrumentation's listeners were attached,
and that no statement hook failed. It asserts nothing about time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest
from benchmarks.run import JOBS

from tests.postgresql import POSTGRESQL_URL

ROOT: Final = Path(__file__).resolve().parents[1]
HEADER: Final = "Spans each traced job made"


def _spans(stdout: str) -> dict[tuple[str, str], dict[str, int]]:
    """The spans table: (job, mode) -> source -> count."""
    lines = stdout[stdout.index(HEADER) :].splitlines()
    rows = [line for line in lines if line.startswith("|")]
    sources = [cell.strip() for cell in rows[0].strip("|").split("|")][2:]
    table: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        table[(cells[0], cells[1])] = {
            source: int(count.replace(",", "")) for source, count in zip(sources, cells[2:], strict=True)
        }
    return table


@pytest.mark.postgresql
def test_every_bench_job_runs_traced_on_its_fast_paths(postgresql_problem: str | None) -> None:
    if postgresql_problem is not None:
        from tests.postgresql import without_postgresql

        without_postgresql(postgresql_problem)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--tiny", "--traced-only", "--url", POSTGRESQL_URL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "statement hook" not in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    spans = _spans(result.stdout)
    assert set(spans) == {(job.name, mode) for job in JOBS for mode in job.modes}
    # A job whose transactions run on the fast paths alone makes no SQLAlchemy connection
    # (a light transaction), so the instrumentation may record nothing for it; it was attached.
    assert sum(counts.get("sqlalchemy", 0) for counts in spans.values()) > 0, (
        "the instrumentation recorded nothing"
    )
    for (name, mode), counts in spans.items():
        fast = {source: count for source, count in counts.items() if source.startswith("hexalchemy:")}
        assert sum(fast.values()) > 0, f"{name} ({mode}) ran no statement on a fast path: {counts}"
        if name.startswith(("save_all 10k new", "insert9")):
            assert counts["hexalchemy:copy"] > 0, f"{name} ({mode}) did not COPY: {counts}"
        if name.startswith(("save_all 10k updates", "update9", "mariadb insert", "mariadb update")):
            assert counts["hexalchemy:executemany"] > 0, f"{name} ({mode}) did not executemany: {counts}"
