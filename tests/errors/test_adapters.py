"""No raw error escapes any public call of any adapter, whatever junk it is given (see ``probe.py``).

For each adapter family, every public method of every public class (and its constructor) is
called with each value of the junk catalogue in place of each argument in turn, then with
random junk drawn by Hypothesis; every refusal must be a ``HexalchemyError`` naming the
argument, raised before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.errors.junk import JUNK, SOME_JUNK, junk
from tests.errors.probe import Probe, Target, World
from tests.errors.worlds import AsyncMemoryWorld, MemoryWorld, build_world
from tests.postgresql import POSTGRESQL_URL, without_postgresql

FAMILIES = ["memory", "async-memory", "sqlite", "async-sqlite", "postgresql", "async-postgresql"]


@pytest.fixture(params=FAMILIES)
def world(request: pytest.FixtureRequest, tmp_path: Path, postgresql_problem: str | None) -> Iterator[World]:
    family: str = request.param
    if family.endswith("postgresql") and postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    built = build_world(family, tmp_path, POSTGRESQL_URL)
    try:
        yield built
    finally:
        close = getattr(built, "close", None)
        if close is not None:
            close()


def test_every_argument_of_every_call_refuses_the_junk_catalogue(world: World) -> None:
    """The whole catalogue in memory and in every constructor; a sample of each kind where a call costs a round trip."""
    probe = Probe(world)
    for subject, method, function, parameter in list(probe.targets()):
        in_memory = isinstance(world, (MemoryWorld, AsyncMemoryWorld))
        values = JUNK if in_memory or method == "__init__" else SOME_JUNK
        probe.probe(subject, method, function, parameter.name, values)
    assert not probe.failures, probe.report()


def test_every_argument_of_every_call_refuses_random_junk(world: World) -> None:
    probe = Probe(world)
    targets = list(probe.targets())

    # Iterating HealthCheck gives every check but the deprecated ones (its metaclass' __iter__, which
    # basedpyright reads as yielding the metaclass: the isinstance keeps the checks as HealthCheck).
    checks = [check for check in HealthCheck if isinstance(check, HealthCheck)]

    @settings(max_examples=100, deadline=None, suppress_health_check=checks, database=None)
    @given(st.sampled_from(targets), junk())
    def call(target: Target, value: object) -> None:
        subject, method, function, parameter = target
        probe.call(subject, method, function, parameter.name, value)

    call()
    assert not probe.failures, probe.report()
