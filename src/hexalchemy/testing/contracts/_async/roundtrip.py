# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The round-trip contract through :class:`AsyncRepository` adapters; see :mod:`hexalchemy.testing.contracts.roundtrip`."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Final

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexalchemy.testing.contracts._support import AsyncContract
from hexalchemy.testing.contracts.domain import ACCOUNTS, MEMBERSHIPS, Account, Membership, Money, Tier
from hexalchemy.testing.contracts.harness import AsyncHarness
from hexalchemy.testing.contracts.strategies import INT64_MAX, INT64_MIN, accounts, memberships

EXAMPLES: Final = 40
"""How many examples each property-based test tries."""

_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        # The harness is built once per test, not per example: each example uses fresh keys.
        HealthCheck.function_scoped_fixture,
        # Every adapter's subclass runs these same test functions; they share Hypothesis'
        # example database, so an example that failed on one adapter is retried on the others.
        HealthCheck.differing_executors,
    ],
)

_BATCHES: Final = st.lists(accounts(), max_size=5)


def extreme_accounts() -> list[Account]:
    """Accounts at the edges of what every backend must store exactly."""
    utc_plus_14 = dt.timezone(dt.timedelta(hours=14))
    utc_minus_14 = dt.timezone(dt.timedelta(hours=-14))
    return [
        Account(
            id=uuid.UUID(int=0),
            owner="",
            points=INT64_MIN,
            balance=Money(Decimal("-999999.999999999999"), ""),
            credit_limit=Decimal("0E-12"),
            tier=Tier.BASIC,
            tags=(),
            closed_at=dt.datetime(1900, 1, 2, 0, 0, 0, 0, tzinfo=utc_plus_14),
        ),
        Account(
            id=uuid.UUID(int=2**128 - 1),
            owner='\U0001f600 émoji, עברית, 中文, tab\tnewline\ncr\r quote\' "double" back\\slash %s :x',
            points=INT64_MAX,
            balance=Money(Decimal("999999999999999999"), "\u20ac"),
            credit_limit=Decimal("0.000000000001"),
            tier=Tier.PLATINUM,
            tags=("", " ", "\U0001f600", "a" * 200, '{"json": [1]}'),
            closed_at=dt.datetime(2099, 12, 30, 23, 59, 59, 999_999, tzinfo=utc_minus_14),
        ),
        Account(
            id=uuid.uuid4(),
            owner="x" * 10_000,
            points=0,
            balance=Money(Decimal("-0.10"), "USD"),
            credit_limit=Decimal("1E+6"),
            tier=Tier.GOLD,
            tags=("same", "same"),
            closed_at=None,
        ),
    ]


class AsyncRoundTripContract(AsyncContract):
    """Saved aggregates read back equal, through :class:`AsyncRepository`; needs a ``harness`` fixture (:class:`AsyncHarness`)."""

    @_settings
    @given(generated=accounts())
    async def test_any_account_saved_reads_back_equal(
        self, harness: AsyncHarness, generated: Account
    ) -> None:
        repository = harness.repository(ACCOUNTS)
        account = attrs.evolve(generated, id=uuid.uuid4())
        async with harness.transactions.begin():
            saved = await repository.save(account)
        assert saved == attrs.evolve(account, version=1)
        async with harness.transactions.begin(read_only=True):
            assert await repository.get(account.id) == saved

    @_settings
    @given(generated=_BATCHES)
    async def test_any_accounts_saved_together_read_back_equal(
        self, harness: AsyncHarness, generated: list[Account]
    ) -> None:
        repository = harness.repository(ACCOUNTS)
        batch = [attrs.evolve(account, id=uuid.uuid4()) for account in generated]
        async with harness.transactions.begin():
            saved = await repository.save_all(batch)
        async with harness.transactions.begin(read_only=True):
            assert await repository.range([account.id for account in batch]) == saved

    @_settings
    @given(first=accounts(), second=accounts())
    async def test_any_update_reads_back_equal(
        self, harness: AsyncHarness, first: Account, second: Account
    ) -> None:
        repository = harness.repository(ACCOUNTS)
        key = uuid.uuid4()
        async with harness.transactions.begin():
            saved = await repository.save(attrs.evolve(first, id=key))
        async with harness.transactions.begin():
            updated = await repository.save(attrs.evolve(second, id=key, version=saved.version))
        async with harness.transactions.begin(read_only=True):
            assert await repository.get(key) == updated

    @_settings
    @given(membership=memberships())
    async def test_any_membership_saved_reads_back_equal(
        self, harness: AsyncHarness, membership: Membership
    ) -> None:
        repository = harness.repository(MEMBERSHIPS)
        async with harness.transactions.begin():
            await repository.save(membership)
        async with harness.transactions.begin(read_only=True):
            assert await repository.get((membership.team, membership.member)) == membership

    @pytest.mark.parametrize("index", range(len(extreme_accounts())))
    async def test_extreme_values_read_back_equal(self, harness: AsyncHarness, index: int) -> None:
        repository = harness.repository(ACCOUNTS)
        account = extreme_accounts()[index]
        async with harness.transactions.begin():
            saved = await repository.save(account)
        async with harness.transactions.begin(read_only=True):
            assert await repository.get(account.id) == saved

    async def test_a_datetime_reads_back_as_the_same_instant_and_still_aware(
        self, harness: AsyncHarness
    ) -> None:
        repository = harness.repository(ACCOUNTS)
        moment = dt.datetime(2024, 2, 29, 23, 30, 0, 123_456, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        account = attrs.evolve(extreme_accounts()[2], id=uuid.uuid4(), closed_at=moment)
        async with harness.transactions.begin():
            await repository.save(account)
        async with harness.transactions.begin(read_only=True):
            closed_at = (await repository.get(account.id)).closed_at
        assert closed_at is not None
        assert closed_at.utcoffset() is not None
        assert closed_at == moment
