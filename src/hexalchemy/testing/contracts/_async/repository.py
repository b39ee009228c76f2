# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The repository contract for :class:`AsyncRepository` adapters; see :mod:`hexalchemy.testing.contracts.repository`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest

from hexalchemy.ports import (
    AsyncRepository,
    DuplicateEntityError,
    EntityNotFoundError,
    InvalidArgumentError,
    InvalidValueError,
    NoActiveTransactionError,
    VersionConflictError,
)
from hexalchemy.testing.contracts._support import AsyncContract, seed_async
from hexalchemy.testing.contracts.domain import (
    ACCOUNTS,
    DRAFTS,
    MEMBERSHIPS,
    Account,
    Draft,
    Membership,
    Money,
    Tier,
    new_account,
)
from hexalchemy.testing.contracts.harness import AsyncHarness

LARGE_BATCH: Final = 100
"""The size of the "large" batches: above the 64 rows from which PostgreSQL saves new rows with COPY."""

_NOON: Final = dt.datetime(2024, 5, 6, 12, 0, tzinfo=dt.UTC)


class _RollbackError(Exception):
    """Raised to roll a savepoint back."""


_Call = Callable[[AsyncRepository[Account, uuid.UUID], Account], Awaitable[object]]

_CALLS: Final[dict[str, _Call]] = {
    "get": lambda repository, account: repository.get(account.id),
    "get_or_none": lambda repository, account: repository.get_or_none(account.id),
    "contains": lambda repository, account: repository.contains(account.id),
    "range": lambda repository, account: repository.range([account.id]),
    "save": lambda repository, account: repository.save(account),
    "save_all": lambda repository, account: repository.save_all([account]),
    "delete": lambda repository, account: repository.delete(account),
    "delete_all": lambda repository, account: repository.delete_all([account]),
}


def _varied_accounts(count: int) -> list[Account]:
    """New accounts whose fields vary, so a batch exercises every column conversion."""
    tiers = list(Tier)
    return [
        new_account(
            f"owner {index} ü",
            points=index * 7 - 50,
            amount=f"{index}.{index % 100:02d}",
            tier=tiers[index % len(tiers)],
            tags=tuple(f"tag{n}" for n in range(index % 4)),
            closed_at=(
                None
                if index % 3 == 0
                else dt.datetime(
                    2020, 1, 1, 12, 30, 15, index, tzinfo=dt.timezone(dt.timedelta(hours=index % 5))
                )
            ),
        )
        for index in range(count)
    ]


class AsyncRepositoryContract(AsyncContract):
    """Behaviour every :class:`AsyncRepository` adapter shares; needs a ``harness`` fixture (:class:`AsyncHarness`)."""

    # -- get, get_or_none, contains --------------------------------------------------------

    async def test_get_of_a_saved_key_returns_the_saved_aggregate(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account(tags=("a", "b")))
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    async def test_get_of_a_missing_key_raises_entity_not_found(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        missing = uuid.uuid4()
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError) as caught:
                await accounts.get(missing)
        assert caught.value.entity_type is Account
        assert caught.value.entity_id == missing

    async def test_get_or_none_of_a_saved_key_returns_the_saved_aggregate(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            assert await accounts.get_or_none(saved.id) == saved

    async def test_get_or_none_of_a_missing_key_returns_none(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            assert await accounts.get_or_none(uuid.uuid4()) is None

    async def test_contains_of_a_saved_key_is_true(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            assert await accounts.contains(saved.id) is True

    async def test_contains_of_a_missing_key_is_false(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            assert await accounts.contains(uuid.uuid4()) is False

    async def test_reads_see_the_uncommitted_writes_of_their_own_transaction(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            saved = await accounts.save(new_account())
            assert await accounts.get(saved.id) == saved
            assert await accounts.contains(saved.id)
            assert await accounts.range([saved.id]) == [saved]

    # -- range -----------------------------------------------------------------------------

    async def test_range_keeps_the_order_of_the_ids_given(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        first, second, third = await seed_async(harness, new_account("a"), new_account("b"), new_account("c"))
        async with harness.transactions.begin():
            assert await accounts.range([third.id, first.id, second.id]) == [third, first, second]

    async def test_range_leaves_missing_keys_out(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        first, second = await seed_async(harness, new_account("a"), new_account("b"))
        async with harness.transactions.begin():
            assert await accounts.range([uuid.uuid4(), second.id, uuid.uuid4(), first.id]) == [second, first]

    async def test_range_repeats_an_aggregate_whose_key_is_given_twice(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        first, second = await seed_async(harness, new_account("a"), new_account("b"))
        async with harness.transactions.begin():
            assert await accounts.range([first.id, second.id, first.id]) == [first, second, first]

    async def test_range_of_no_ids_is_an_empty_list(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            assert await accounts.range([]) == []

    async def test_range_accepts_any_iterable_of_ids(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        first, second = await seed_async(harness, new_account("a"), new_account("b"))
        async with harness.transactions.begin():
            assert await accounts.range(account.id for account in (second, first)) == [second, first]

    # -- save ------------------------------------------------------------------------------

    async def test_save_of_a_new_aggregate_returns_it_with_version_1(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        account = new_account()
        async with harness.transactions.begin():
            saved = await accounts.save(account)
        assert saved == attrs.evolve(account, version=1)

    async def test_save_of_a_frozen_aggregate_leaves_the_aggregate_passed_in_unchanged(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        account = new_account()
        async with harness.transactions.begin():
            await accounts.save(account)
        assert account.version == 0

    async def test_save_of_an_update_returns_it_with_the_next_version(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            updated = await accounts.save(attrs.evolve(saved, owner="bob"))
            again = await accounts.save(attrs.evolve(updated, points=5))
        assert (updated.version, again.version) == (2, 3)
        assert again == attrs.evolve(saved, owner="bob", points=5, version=3)

    async def test_save_of_an_update_stores_the_new_state(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account(tags=("x",)))
        async with harness.transactions.begin():
            updated = await accounts.save(attrs.evolve(saved, owner="bob", tags=(), tier=Tier.GOLD))
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == updated

    # An adapter may set only the columns that changed since the aggregate was read or saved in
    # the transaction: each of these checks that every field is stored all the same.
    async def test_save_of_a_read_aggregate_with_fields_changed_one_at_a_time_stores_every_field(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account(tags=("x",)))
        async with harness.transactions.begin():
            loaded = await accounts.get(saved.id)
            first = await accounts.save(attrs.evolve(loaded, owner="bob"))
            second = await accounts.save(attrs.evolve(first, balance=Money(Decimal("3.50"), "USD")))
            third = await accounts.save(
                attrs.evolve(second, tier=Tier.GOLD, tags=("y", "z"), closed_at=_NOON)
            )
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == third
        assert third == attrs.evolve(
            saved,
            owner="bob",
            balance=Money(Decimal("3.50"), "USD"),
            tier=Tier.GOLD,
            tags=("y", "z"),
            closed_at=_NOON,
            version=4,
        )

    async def test_save_all_of_read_aggregates_changed_in_different_fields_stores_each_one(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        seeded = await seed_async(harness, *_varied_accounts(LARGE_BATCH))
        ids = [account.id for account in seeded]
        async with harness.transactions.begin():
            loaded = await accounts.range(ids)
            changed = [
                attrs.evolve(account, points=index)
                if index % 3 == 0
                else attrs.evolve(account, tier=Tier.PLATINUM, closed_at=None)
                if index % 3 == 1
                else account
                for index, account in enumerate(loaded)
            ]
            saved = await accounts.save_all(changed)
        async with harness.transactions.begin():
            assert await accounts.range(ids) == saved
        assert saved == [attrs.evolve(account, version=2) for account in changed]

    async def test_save_of_a_read_mutable_aggregate_changed_in_place_stores_the_change(
        self, harness: AsyncHarness
    ) -> None:
        drafts = harness.repository(DRAFTS)
        async with harness.transactions.begin():
            await drafts.save(Draft(1, ["first"]))
        async with harness.transactions.begin():
            draft = await drafts.get(1)
            draft.lines.append("second")
            await drafts.save(draft)
        async with harness.transactions.begin():
            assert await drafts.get(1) == Draft(1, ["first", "second"], version=2)

    async def test_save_of_an_aggregate_read_before_its_key_was_deleted_and_saved_anew_stores_it_whole(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account("first", points=1))
        async with harness.transactions.begin():
            loaded = await accounts.get(saved.id)
            await accounts.delete(loaded)
            await accounts.save(attrs.evolve(loaded, owner="anew", points=9, version=0))
            final = await accounts.save(attrs.evolve(loaded, points=3))
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == final == attrs.evolve(saved, points=3, version=2)

    async def test_save_all_of_aggregates_read_before_their_keys_were_deleted_and_saved_anew_stores_them_whole(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        seeded = await seed_async(harness, *_varied_accounts(LARGE_BATCH))
        ids = [account.id for account in seeded]
        async with harness.transactions.begin():
            loaded = await accounts.range(ids)
            await accounts.delete_all(loaded)
            await accounts.save_all([attrs.evolve(account, owner="anew", version=0) for account in loaded])
            final = await accounts.save_all([attrs.evolve(account, points=3) for account in loaded])
        async with harness.transactions.begin():
            assert await accounts.range(ids) == final
        assert [account.owner for account in final] == [account.owner for account in seeded]

    async def test_save_after_a_rolled_back_savepoint_stores_the_aggregate_given(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account("first", points=1))
        async with harness.transactions.begin():
            loaded = await accounts.get(saved.id)
            with pytest.raises(_RollbackError):
                async with harness.transactions.begin():
                    await accounts.save(attrs.evolve(loaded, owner="rolled back", points=5))
                    raise _RollbackError
            final = await accounts.save(attrs.evolve(loaded, points=7))
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == final == attrs.evolve(saved, points=7, version=2)

    async def test_save_of_version_0_for_an_existing_key_raises_duplicate_entity_naming_type_and_id(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            with pytest.raises(DuplicateEntityError) as caught:
                await accounts.save(attrs.evolve(saved, owner="twin", version=0))
        assert caught.value.entity_type is Account
        assert caught.value.entity_id == saved.id

    async def test_a_version_whose_successor_the_field_cannot_hold_is_refused_naming_it(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        beyond: tuple[Any, ...] = (2**63 - 1, 2**63, 2**70, -1, True, "1")
        for version in beyond:
            changed: Any = attrs.evolve(saved, owner="beyond", version=version)
            async with harness.transactions.begin():
                with pytest.raises(InvalidValueError) as caught:
                    await accounts.save(changed)
                assert (caught.value.entity_type, caught.value.field) == (Account, "version")
                assert caught.value.value is version
                with pytest.raises(InvalidValueError, match="version"):
                    await accounts.save_all([changed])
                with pytest.raises(InvalidValueError, match="version"):
                    await accounts.delete(changed)
        async with harness.transactions.begin():
            with pytest.raises(VersionConflictError):  # the largest accepted: its successor fits
                await accounts.save(attrs.evolve(saved, owner="edge", version=2**63 - 2))
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    async def test_save_of_a_stale_version_raises_version_conflict_with_expected_and_actual_versions(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            await accounts.save(attrs.evolve(saved, owner="first"))
        async with harness.transactions.begin():
            with pytest.raises(VersionConflictError) as caught:
                await accounts.save(attrs.evolve(saved, owner="second"))
        assert caught.value.entity_type is Account
        assert caught.value.entity_id == saved.id
        assert caught.value.expected_version == 1
        assert caught.value.actual_version == 2

    async def test_save_of_a_stale_version_leaves_the_stored_aggregate_unchanged(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            current = await accounts.save(attrs.evolve(saved, owner="first"))
        async with harness.transactions.begin():
            with pytest.raises(VersionConflictError):
                await accounts.save(attrs.evolve(saved, owner="second"))
            assert await accounts.get(saved.id) == current
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == current

    async def test_save_of_an_update_to_a_deleted_aggregate_raises_entity_not_found(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            await accounts.delete(saved)
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError) as caught:
                await accounts.save(attrs.evolve(saved, owner="ghost"))
        assert caught.value.entity_id == saved.id

    async def test_a_transaction_goes_on_after_a_refused_save(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            with pytest.raises(DuplicateEntityError):
                await accounts.save(attrs.evolve(saved, version=0))
            other = await accounts.save(new_account("other"))
        async with harness.transactions.begin():
            assert await accounts.range([saved.id, other.id]) == [saved, other]

    async def test_a_deleted_key_can_be_saved_again_as_a_new_aggregate(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            await accounts.delete(saved)
            reborn = await accounts.save(attrs.evolve(saved, owner="reborn", version=0))
        assert reborn.version == 1
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == reborn

    # -- unversioned aggregates and composite keys -------------------------------------------

    async def test_save_of_a_new_unversioned_aggregate_stores_it_unchanged(
        self, harness: AsyncHarness
    ) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        membership = Membership("red", 1, "member")
        async with harness.transactions.begin():
            assert await memberships.save(membership) == membership
        async with harness.transactions.begin():
            assert await memberships.get(("red", 1)) == membership

    async def test_save_of_an_unversioned_aggregate_with_an_existing_key_replaces_it(
        self, harness: AsyncHarness
    ) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        async with harness.transactions.begin():
            await memberships.save(Membership("red", 1, "member"))
        async with harness.transactions.begin():
            await memberships.save(Membership("red", 1, "owner"))
        async with harness.transactions.begin():
            assert await memberships.get(("red", 1)) == Membership("red", 1, "owner")

    async def test_composite_keys_are_tuples_in_key_field_order(self, harness: AsyncHarness) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        red, blue = Membership("red", 1, "member"), Membership("blue", 2, "owner")
        async with harness.transactions.begin():
            await memberships.save_all([red, blue])
        async with harness.transactions.begin():
            assert await memberships.get(("blue", 2)) == blue
            assert await memberships.get_or_none(("red", 1)) == red
            assert await memberships.contains(("red", 1))
            assert await memberships.range([("blue", 2), ("red", 1), ("red", 2)]) == [blue, red]

    async def test_composite_keys_that_differ_in_one_field_name_different_aggregates(
        self, harness: AsyncHarness
    ) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        rows = [Membership("red", 1, "a"), Membership("red", 2, "b"), Membership("blue", 1, "c")]
        async with harness.transactions.begin():
            await memberships.save_all(rows)
        async with harness.transactions.begin():
            assert await memberships.range([("red", 1), ("red", 2), ("blue", 1)]) == rows
            assert not await memberships.contains(("blue", 2))

    async def test_get_of_a_missing_composite_key_raises_entity_not_found_naming_the_tuple(
        self, harness: AsyncHarness
    ) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError) as caught:
                await memberships.get(("red", 9))
        assert caught.value.entity_type is Membership
        assert caught.value.entity_id == ("red", 9)

    # -- save_all --------------------------------------------------------------------------

    async def test_save_all_returns_the_saved_aggregates_with_their_versions_in_input_order(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        old_a, old_b = await seed_async(harness, new_account("a"), new_account("b"))
        async with harness.transactions.begin():
            old_b = await accounts.save(attrs.evolve(old_b, owner="b2"))
        batch = [
            new_account("n1"),
            attrs.evolve(old_b, points=1),
            new_account("n2"),
            attrs.evolve(old_a, points=2),
        ]
        async with harness.transactions.begin():
            saved = await accounts.save_all(batch)
        assert saved == [
            attrs.evolve(batch[0], version=1),
            attrs.evolve(batch[1], version=3),
            attrs.evolve(batch[2], version=1),
            attrs.evolve(batch[3], version=2),
        ]
        async with harness.transactions.begin():
            assert await accounts.range([a.id for a in saved]) == saved

    async def test_save_all_of_no_aggregates_returns_an_empty_list(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            assert await accounts.save_all([]) == []

    async def test_save_all_accepts_any_iterable_of_aggregates(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        batch = [new_account("a"), new_account("b")]
        async with harness.transactions.begin():
            saved = await accounts.save_all(account for account in batch)
        assert [account.id for account in saved] == [account.id for account in batch]

    async def test_save_all_with_one_stale_version_raises_and_saves_nothing_of_the_batch(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        fresh, stale = await seed_async(harness, new_account("fresh"), new_account("stale"))
        async with harness.transactions.begin():
            current = await accounts.save(attrs.evolve(stale, owner="moved on"))
        newcomer = new_account("new")
        batch = [newcomer, attrs.evolve(fresh, owner="changed"), attrs.evolve(stale, owner="lost")]
        async with harness.transactions.begin():
            with pytest.raises(VersionConflictError) as caught:
                await accounts.save_all(batch)
            assert caught.value.entity_id == stale.id
            assert await accounts.range([newcomer.id, fresh.id, stale.id]) == [fresh, current]
        async with harness.transactions.begin():
            assert await accounts.range([newcomer.id, fresh.id, stale.id]) == [fresh, current]

    async def test_save_all_with_one_existing_key_raises_duplicate_entity_and_saves_nothing_of_the_batch(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [existing] = await seed_async(harness, new_account("existing"))
        batch = [new_account("a"), attrs.evolve(existing, owner="twin", version=0), new_account("b")]
        ids = [account.id for account in batch]
        async with harness.transactions.begin():
            with pytest.raises(DuplicateEntityError) as caught:
                await accounts.save_all(batch)
            assert caught.value.entity_id == existing.id
            assert await accounts.range(ids) == [existing]
        async with harness.transactions.begin():
            assert await accounts.range(ids) == [existing]

    @pytest.mark.parametrize("given", [None, 5, "text", new_account], ids=["None", "int", "str", "function"])
    async def test_save_refuses_what_is_not_an_aggregate_of_its_class(
        self, harness: AsyncHarness, given: object
    ) -> None:
        accounts: Any = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="aggregate"):
                await accounts.save(given)
            with pytest.raises(InvalidArgumentError, match="aggregate"):
                await accounts.delete(given)
            assert harness.transactions.in_transaction

    @pytest.mark.parametrize("given", [None, 5, "text", b"bytes"], ids=["None", "int", "str", "bytes"])
    async def test_collections_refuse_what_is_not_a_collection(
        self, harness: AsyncHarness, given: object
    ) -> None:
        accounts: Any = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="aggregates"):
                await accounts.save_all(given)
            with pytest.raises(InvalidArgumentError, match="aggregates"):
                await accounts.delete_all(given)
            with pytest.raises(InvalidArgumentError, match="ids"):
                await accounts.range(given)
            saved = await accounts.save(new_account())
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    async def test_save_all_refuses_an_item_that_is_not_an_aggregate_and_saves_nothing(
        self, harness: AsyncHarness
    ) -> None:
        accounts: Any = harness.repository(ACCOUNTS)
        good = new_account("good")
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match=r"aggregates\[1\]"):
                await accounts.save_all([good, None])
            assert await accounts.range([good.id]) == []

    async def test_save_all_with_a_key_twice_raises_invalid_value_and_saves_nothing(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        first, other = new_account("first"), new_account("other")
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError):
                await accounts.save_all([first, other, attrs.evolve(first, owner="again")])
            assert await accounts.range([first.id, other.id]) == []

    async def test_text_with_a_lone_surrogate_raises_invalid_value_and_saves_nothing(
        self, harness: AsyncHarness
    ) -> None:
        # A Python str may hold one; no database takes it.
        accounts = harness.repository(ACCOUNTS)
        good, bad = new_account("good"), new_account("a\ud800")
        nested = attrs.evolve(new_account("nested"), balance=Money(Decimal("1.00"), "E\udc00"))
        tagged = new_account("tagged", tags=("ok", "t\ud800"))  # a JSON column
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError, match="owner"):
                await accounts.save_all([good, bad])
            with pytest.raises(InvalidValueError, match=r"balance\.currency"):
                await accounts.save(nested)
            with pytest.raises(InvalidValueError, match="tags"):
                await accounts.save_all([good, tagged])
            assert await accounts.range([good.id, bad.id, nested.id, tagged.id]) == []

    async def test_save_all_of_a_large_batch_stores_every_aggregate_exactly(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        batch = _varied_accounts(LARGE_BATCH)
        async with harness.transactions.begin():
            saved = await accounts.save_all(batch)
        assert saved == [attrs.evolve(account, version=1) for account in batch]
        async with harness.transactions.begin():
            assert await accounts.range([account.id for account in batch]) == saved

    async def test_save_all_of_a_large_batch_with_one_existing_key_saves_nothing_of_the_batch(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [existing] = await seed_async(harness, new_account("existing"))
        batch = _varied_accounts(LARGE_BATCH)
        batch[LARGE_BATCH // 2] = attrs.evolve(existing, owner="twin", version=0)
        ids = [account.id for account in batch]
        async with harness.transactions.begin():
            with pytest.raises(DuplicateEntityError) as caught:
                await accounts.save_all(batch)
            assert caught.value.entity_id == existing.id
            assert await accounts.range(ids) == [existing]
        async with harness.transactions.begin():
            assert await accounts.range(ids) == [existing]

    async def test_save_all_of_a_large_batch_with_one_stale_version_saves_nothing_of_the_batch(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [stale] = await seed_async(harness, new_account("stale"))
        async with harness.transactions.begin():
            current = await accounts.save(attrs.evolve(stale, owner="moved on"))
        batch = [*_varied_accounts(LARGE_BATCH), attrs.evolve(stale, owner="lost")]
        ids = [account.id for account in batch]
        async with harness.transactions.begin():
            with pytest.raises(VersionConflictError):
                await accounts.save_all(batch)
            assert await accounts.range(ids) == [current]
        async with harness.transactions.begin():
            assert await accounts.range(ids) == [current]

    async def test_save_all_of_unversioned_aggregates_inserts_and_replaces(
        self, harness: AsyncHarness
    ) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        async with harness.transactions.begin():
            await memberships.save(Membership("red", 1, "member"))
        batch = [Membership("red", 1, "owner"), Membership("red", 2, "member")]
        async with harness.transactions.begin():
            assert await memberships.save_all(batch) == batch
        async with harness.transactions.begin():
            assert await memberships.range([("red", 1), ("red", 2)]) == batch

    # -- delete and delete_all ---------------------------------------------------------------

    async def test_delete_removes_the_aggregate(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            await accounts.delete(saved)
            assert not await accounts.contains(saved.id)
        async with harness.transactions.begin():
            assert await accounts.get_or_none(saved.id) is None

    async def test_delete_of_a_missing_aggregate_raises_entity_not_found(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        ghost = attrs.evolve(new_account(), version=1)
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError) as caught:
                await accounts.delete(ghost)
        assert caught.value.entity_type is Account
        assert caught.value.entity_id == ghost.id

    async def test_delete_with_a_stale_version_raises_version_conflict_and_keeps_the_aggregate(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            current = await accounts.save(attrs.evolve(saved, owner="moved on"))
        async with harness.transactions.begin():
            with pytest.raises(VersionConflictError) as caught:
                await accounts.delete(saved)
            assert (caught.value.expected_version, caught.value.actual_version) == (1, 2)
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == current

    async def test_delete_of_an_unversioned_aggregate_removes_it(self, harness: AsyncHarness) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        membership = Membership("red", 1, "member")
        async with harness.transactions.begin():
            await memberships.save(membership)
        async with harness.transactions.begin():
            await memberships.delete(membership)
        async with harness.transactions.begin():
            assert not await memberships.contains(("red", 1))

    async def test_delete_of_a_missing_unversioned_aggregate_raises_entity_not_found(
        self, harness: AsyncHarness
    ) -> None:
        memberships = harness.repository(MEMBERSHIPS)
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError) as caught:
                await memberships.delete(Membership("red", 1, "member"))
        assert caught.value.entity_id == ("red", 1)

    async def test_delete_all_removes_every_aggregate(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        saved = await seed_async(harness, new_account("a"), new_account("b"), new_account("c"))
        async with harness.transactions.begin():
            await accounts.delete_all(saved[:2])
        async with harness.transactions.begin():
            assert await accounts.range([account.id for account in saved]) == saved[2:]

    async def test_delete_all_of_no_aggregates_does_nothing(self, harness: AsyncHarness) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            await accounts.delete_all([])
            assert await accounts.contains(saved.id)

    async def test_delete_all_with_one_stale_version_raises_and_deletes_nothing(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        fresh, stale = await seed_async(harness, new_account("fresh"), new_account("stale"))
        async with harness.transactions.begin():
            current = await accounts.save(attrs.evolve(stale, owner="moved on"))
        async with harness.transactions.begin():
            with pytest.raises(VersionConflictError) as caught:
                await accounts.delete_all([fresh, stale])
            assert caught.value.entity_id == stale.id
            assert await accounts.range([fresh.id, stale.id]) == [fresh, current]
        async with harness.transactions.begin():
            assert await accounts.range([fresh.id, stale.id]) == [fresh, current]

    async def test_delete_all_with_one_missing_aggregate_raises_entity_not_found_and_deletes_nothing(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        ghost = attrs.evolve(new_account("ghost"), version=1)
        async with harness.transactions.begin():
            with pytest.raises(EntityNotFoundError) as caught:
                await accounts.delete_all([saved, ghost])
            assert caught.value.entity_id == ghost.id
        async with harness.transactions.begin():
            assert await accounts.get(saved.id) == saved

    async def test_delete_all_with_a_key_twice_raises_invalid_value_and_deletes_nothing(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        [saved] = await seed_async(harness, new_account())
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError):
                await accounts.delete_all([saved, saved])
            assert await accounts.contains(saved.id)

    # -- the ambient transaction -------------------------------------------------------------

    @pytest.mark.parametrize("method", sorted(_CALLS))
    async def test_every_repository_method_outside_a_transaction_raises_no_active_transaction(
        self, harness: AsyncHarness, method: str
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        with pytest.raises(NoActiveTransactionError):
            await _CALLS[method](accounts, new_account())

    async def test_a_repository_call_after_its_transaction_ended_raises_no_active_transaction(
        self, harness: AsyncHarness
    ) -> None:
        accounts = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            saved = await accounts.save(new_account())
        with pytest.raises(NoActiveTransactionError):
            await accounts.get(saved.id)

    # -- copies ------------------------------------------------------------------------------

    async def test_mutating_an_aggregate_after_saving_it_does_not_change_the_stored_one(
        self, harness: AsyncHarness
    ) -> None:
        drafts = harness.repository(DRAFTS)
        draft = Draft(1, ["first"])
        async with harness.transactions.begin():
            saved = await drafts.save(draft)
            draft.lines.append("mutated input")
            saved.lines.append("mutated result")
        async with harness.transactions.begin():
            assert await drafts.get(1) == Draft(1, ["first"], version=1)

    async def test_mutating_an_aggregate_returned_by_a_read_does_not_change_the_stored_one(
        self, harness: AsyncHarness
    ) -> None:
        drafts = harness.repository(DRAFTS)
        async with harness.transactions.begin():
            await drafts.save(Draft(1, ["first"]))
        async with harness.transactions.begin():
            (await drafts.get(1)).lines.append("via get")
            loaded = await drafts.get_or_none(1)
            assert loaded is not None
            loaded.lines.append("via get_or_none")
            (await drafts.range([1]))[0].lines.append("via range")
            assert await drafts.get(1) == Draft(1, ["first"], version=1)

    async def test_two_reads_of_one_key_return_distinct_objects(self, harness: AsyncHarness) -> None:
        drafts = harness.repository(DRAFTS)
        async with harness.transactions.begin():
            await drafts.save(Draft(1, ["first"]))
        async with harness.transactions.begin():
            first, second = await drafts.get(1), await drafts.get(1)
            first.lines.clear()
            assert second.lines == ["first"]
