"""A version-checked update sets only the columns that changed since the aggregate was read or saved.

The contracts check that every field is stored all the same; these check what is sent
(through SQLAlchemy, where a listener sees it, and on PostgreSQL's driver path) and the
one visible difference: a change made to the row by hand-written SQL that does not move
the version, to a column the update does not set, is kept.
"""

from __future__ import annotations

import attrs
import pytest
from sqlalchemy import text

from hexalchemy.pytest_plugin import SqlHarness
from hexalchemy.testing.contracts.domain import ACCOUNTS, new_account
from tests.statements import counting_statements


def _updates(statements: list[str]) -> list[str]:
    return [statement for statement in statements if statement.lstrip().upper().startswith("UPDATE")]


@pytest.fixture(params=["sqlite", "postgresql"])
def harness(request: pytest.FixtureRequest) -> SqlHarness:
    found: SqlHarness = request.getfixturevalue(f"{request.param}_harness")
    return found


def test_an_update_of_a_read_aggregate_sets_the_changed_columns_and_the_version(harness: SqlHarness) -> None:
    accounts = harness.repository(ACCOUNTS)
    with harness.transactions.begin():
        saved = accounts.save(new_account("ann", points=1))
    with counting_statements(harness.engine) as statements, harness.transactions.begin():
        loaded = accounts.get(saved.id)
        accounts.save(attrs.evolve(loaded, owner="bob"))
    [update] = _updates(statements)
    assigned = update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    assert [part.split("=")[0].strip().strip('"') for part in assigned.split(",")] == ["owner", "version"]


def test_an_update_of_an_aggregate_not_read_in_the_transaction_sets_every_column(harness: SqlHarness) -> None:
    accounts = harness.repository(ACCOUNTS)
    with harness.transactions.begin():
        saved = accounts.save(new_account("ann", points=1))
    with counting_statements(harness.engine) as statements, harness.transactions.begin():
        accounts.save(attrs.evolve(saved, owner="bob"))
    [update] = _updates(statements)
    assert "points" in update and "tier" in update


@pytest.mark.parametrize("batch", [False, True])
def test_a_column_changed_by_hand_without_moving_the_version_is_kept_by_an_update_of_other_columns(
    harness: SqlHarness, batch: bool
) -> None:
    accounts = harness.repository(ACCOUNTS)
    with harness.transactions.begin():
        saved = accounts.save(new_account("ann", points=1))
    with harness.transactions.begin():
        loaded = accounts.get(saved.id)
        harness.transactions.connection().execute(
            text("UPDATE hx_contract_accounts SET points = 42 WHERE owner = 'ann'")
        )
        changed = attrs.evolve(loaded, owner="bob")
        accounts.save_all([changed]) if batch else accounts.save(changed)
    with harness.transactions.begin():
        assert accounts.get(saved.id) == attrs.evolve(saved, owner="bob", points=42, version=2)
