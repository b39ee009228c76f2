"""Where the test PostgreSQL server is, and what a test does when it cannot reach it.

``TEST_POSTGRESQL_URL`` names the server (default: the local one). Without a server a
PostgreSQL test is skipped, except under ``TEST_REQUIRE_POSTGRESQL=1`` (set by ``.ci/run``),
where it fails: in CI no database test may be skipped.
"""

from __future__ import annotations

import os
from typing import Final, NoReturn

import pytest
from sqlalchemy.engine import make_url

POSTGRESQL_URL: Final = os.environ.get(
    "TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRESQL: Final = os.environ.get("TEST_REQUIRE_POSTGRESQL") == "1"


def unreachable_message(error: BaseException) -> str:
    """Say why PostgreSQL could not be reached, with the password hidden."""
    shown = make_url(POSTGRESQL_URL).render_as_string(hide_password=True)
    return f"PostgreSQL is unreachable at {shown} (TEST_POSTGRESQL_URL): {error}"


def without_postgresql(message: str) -> NoReturn:
    """Skip the test, or fail it when PostgreSQL is required (CI)."""
    if REQUIRE_POSTGRESQL:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
