# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The query contract for the query ports' adapters; see :mod:`hexalchemy.testing.contracts.queries`."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexalchemy.ports import (
    Condition,
    EntityNotFoundError,
    InvalidArgumentError,
    InvalidValueError,
    MappingError,
    NoActiveTransactionError,
    Ordering,
    Query,
    ReadOnlyTransactionError,
)
from hexalchemy.rules import field_ref
from hexalchemy.testing.contracts._query_reference import (
    AMOUNT,
    CLOSED_AT,
    CURRENCY,
    MOMENTS,
    OWNER,
    POINTS,
    TIER,
    account_rows,
    conditions,
    expected,
    orderings,
)
from hexalchemy.testing.contracts._support import AsyncContract
from hexalchemy.testing.contracts.domain import ACCOUNTS, DRAFTS, Account, Draft, Tier, new_account
from hexalchemy.testing.contracts.harness import AsyncQueryHarness

EXAMPLES: Final = 30
"""How many random data sets and queries the property-based tests try, per adapter."""

_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


async def _seed(harness: AsyncQueryHarness, *accounts: Account) -> list[Account]:
    repository = harness.repository(ACCOUNTS)
    async with harness.transactions.begin():
        return await repository.save_all(accounts)


def _owners(accounts: list[Account]) -> list[str]:
    return [account.owner for account in accounts]


def _untyped(value: object) -> Any:
    """``value``, hidden from the type checker: these tests give what the types refuse, as an untyped caller could."""
    return value


class AsyncQueryContract(AsyncContract):
    """Behaviour every adapter of the query ports shares; needs a ``harness`` fixture (:class:`AsyncQueryHarness`)."""

    # -- conditions ---------------------------------------------------------------------------

    async def test_find_without_a_condition_returns_every_aggregate_in_key_order(
        self, harness: AsyncQueryHarness
    ) -> None:
        saved = await _seed(harness, *(new_account(f"o{n}") for n in range(5)))
        async with harness.transactions.begin():
            assert await harness.repository(ACCOUNTS).find(Query(Account)) == sorted(
                saved, key=lambda a: a.id
            )

    @pytest.mark.parametrize(
        ("operator", "points"),
        [("eq", [2]), ("ne", [1, 3]), ("lt", [1]), ("le", [1, 2]), ("gt", [3]), ("ge", [2, 3])],
    )
    async def test_a_comparison_keeps_the_aggregates_it_holds_for(
        self, harness: AsyncQueryHarness, operator: str, points: list[int]
    ) -> None:
        await _seed(harness, *(new_account(f"o{n}", points=n) for n in (1, 2, 3)))
        condition = getattr(POINTS, operator)(2)
        async with harness.transactions.begin():
            found = await harness.repository(ACCOUNTS).find(
                Query(Account, where=condition, order_by=[POINTS.asc()])
            )
        assert [account.points for account in found] == points

    async def test_a_condition_reaches_into_a_value_object(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, new_account("a", amount="1.00"), new_account("b", amount="12.50"))
        async with harness.transactions.begin():
            found = await harness.repository(ACCOUNTS).find(Query(Account, where=AMOUNT.gt(Decimal("1.5"))))
        assert _owners(found) == ["b"]

    async def test_decimals_compare_by_value_not_by_their_digits(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, new_account("a", amount="1.50"))
        async with harness.transactions.begin():
            assert (
                await harness.repository(ACCOUNTS).count(Query(Account, where=AMOUNT.eq(Decimal("1.5")))) == 1
            )

    async def test_datetimes_compare_as_instants_whatever_their_offset(
        self, harness: AsyncQueryHarness
    ) -> None:
        await _seed(harness, new_account("a", closed_at=MOMENTS[0]))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            assert await repository.count(Query(Account, where=CLOSED_AT.eq(MOMENTS[1]))) == 1
            assert await repository.count(Query(Account, where=CLOSED_AT.lt(MOMENTS[2]))) == 1

    async def test_enums_compare_by_value(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, new_account("b", tier=Tier.BASIC), new_account("g", tier=Tier.GOLD))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            assert _owners(await repository.find(Query(Account, where=TIER.eq(Tier.GOLD)))) == ["g"]
            assert _owners(await repository.find(Query(Account, where=TIER.gt(Tier.BASIC)))) == ["g"]

    async def test_in_keeps_the_aggregates_whose_value_is_listed(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n}", points=n) for n in range(4)))
        async with harness.transactions.begin():
            found = await harness.repository(ACCOUNTS).find(
                Query(Account, where=POINTS.in_([3, 1, 7]), order_by=[POINTS.asc()])
            )
        assert [account.points for account in found] == [1, 3]

    async def test_in_of_an_empty_list_matches_nothing_and_its_negation_everything(
        self, harness: AsyncQueryHarness
    ) -> None:
        await _seed(harness, new_account("a"), new_account("b", closed_at=MOMENTS[0]))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            assert await repository.count(Query(Account, where=CLOSED_AT.in_([]))) == 0
            assert await repository.count(Query(Account, where=~CLOSED_AT.in_([]))) == 2

    async def test_in_with_none_matches_a_none_value(self, harness: AsyncQueryHarness) -> None:
        await _seed(
            harness,
            new_account("a"),
            new_account("b", closed_at=MOMENTS[0]),
            new_account("c", closed_at=MOMENTS[4]),
        )
        async with harness.transactions.begin():
            found = await harness.repository(ACCOUNTS).find(
                Query(Account, where=CLOSED_AT.in_([None, MOMENTS[1]]), order_by=[OWNER.asc()])
            )
        assert _owners(found) == ["a", "b"]

    async def test_is_none_and_eq_none_match_the_none_values(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, new_account("a"), new_account("b", closed_at=MOMENTS[0]))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            assert _owners(await repository.find(Query(Account, where=CLOSED_AT.is_none()))) == ["a"]
            assert _owners(await repository.find(Query(Account, where=CLOSED_AT.eq(None)))) == ["a"]
            assert _owners(await repository.find(Query(Account, where=CLOSED_AT.is_not_none()))) == ["b"]
            assert _owners(await repository.find(Query(Account, where=CLOSED_AT.ne(None)))) == ["b"]

    async def test_a_comparison_with_a_none_value_is_unknown_and_so_is_its_negation(
        self, harness: AsyncQueryHarness
    ) -> None:
        await _seed(harness, new_account("a"), new_account("b", closed_at=MOMENTS[0]))
        later = CLOSED_AT.gt(MOMENTS[3])
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            assert _owners(await repository.find(Query(Account, where=later))) == ["b"]
            assert await repository.find(Query(Account, where=~later)) == []
            assert await repository.count(Query(Account, where=CLOSED_AT.ne(MOMENTS[3]))) == 1

    async def test_and_or_not_combine_conditions(self, harness: AsyncQueryHarness) -> None:
        await _seed(
            harness,
            *(new_account(f"o{n}", points=n, tier=Tier.GOLD if n % 2 else Tier.BASIC) for n in range(6)),
        )
        condition = (POINTS.ge(2) & TIER.eq(Tier.GOLD)) | ~POINTS.ne(0)
        async with harness.transactions.begin():
            found = await harness.repository(ACCOUNTS).find(
                Query(Account, where=condition, order_by=[POINTS.asc()])
            )
        assert [account.points for account in found] == [0, 3, 5]

    async def test_startswith_and_contains_are_case_sensitive_and_take_no_wildcards(
        self, harness: AsyncQueryHarness
    ) -> None:
        await _seed(
            harness,
            *(
                new_account(owner)
                for owner in ("Anna", "anna", "an%na", "a_b", "axb", "Jo Ann", "a/b", "a//x")
            ),
        )
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            prefixed = await repository.find(
                Query(Account, where=OWNER.startswith("an"), order_by=[OWNER.asc()])
            )
            assert _owners(prefixed) == ["an%na", "anna"]
            assert _owners(await repository.find(Query(Account, where=OWNER.contains("%")))) == ["an%na"]
            assert _owners(await repository.find(Query(Account, where=OWNER.startswith("a_")))) == ["a_b"]
            slashed = await repository.find(
                Query(Account, where=OWNER.startswith("a/"), order_by=[OWNER.asc()])
            )
            assert _owners(slashed) == ["a//x", "a/b"]
            assert _owners(await repository.find(Query(Account, where=OWNER.contains("//")))) == ["a//x"]
            containing = await repository.find(
                Query(Account, where=OWNER.contains("Ann"), order_by=[OWNER.asc()])
            )
            assert _owners(containing) == ["Anna", "Jo Ann"]

    # -- order ----------------------------------------------------------------------------------

    async def test_text_orders_by_code_point(self, harness: AsyncQueryHarness) -> None:
        owners = ["b", "a", "B", "é", "e", "\U0001f600", "Z", "ä", "", "ab"]
        await _seed(harness, *(new_account(owner) for owner in owners))
        async with harness.transactions.begin():
            found = await harness.repository(ACCOUNTS).find(Query(Account, order_by=[OWNER.asc()]))
        assert _owners(found) == sorted(owners)

    async def test_none_orders_first_ascending_and_last_descending(self, harness: AsyncQueryHarness) -> None:
        await _seed(
            harness,
            new_account("none"),
            new_account("late", closed_at=MOMENTS[4]),
            new_account("early", closed_at=MOMENTS[3]),
        )
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            assert _owners(await repository.find(Query(Account, order_by=[CLOSED_AT.asc()]))) == [
                "none",
                "early",
                "late",
            ]
            assert _owners(await repository.find(Query(Account, order_by=[CLOSED_AT.desc()]))) == [
                "late",
                "early",
                "none",
            ]

    async def test_ties_are_broken_by_the_key_in_the_direction_of_the_last_ordering(
        self, harness: AsyncQueryHarness
    ) -> None:
        saved = await _seed(harness, *(new_account(f"o{n}", points=n % 2) for n in range(6)))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            up = await repository.find(Query(Account, order_by=[POINTS.asc()]))
            down = await repository.find(Query(Account, order_by=[POINTS.desc()]))
        assert up == sorted(saved, key=lambda a: (a.points, a.id))
        assert down == sorted(saved, key=lambda a: (a.points, a.id), reverse=True)

    async def test_several_orderings_apply_in_turn(self, harness: AsyncQueryHarness) -> None:
        await _seed(
            harness, new_account("b", points=1), new_account("a", points=1), new_account("c", points=2)
        )
        async with harness.transactions.begin():
            found = await harness.repository(ACCOUNTS).find(
                Query(Account, order_by=[POINTS.desc(), OWNER.asc()])
            )
        assert _owners(found) == ["c", "a", "b"]

    # -- first, count, exists, limit -----------------------------------------------------------

    async def test_first_returns_the_first_in_order_or_none(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n}", points=n) for n in range(3)))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            first = await repository.first(Query(Account, order_by=[POINTS.desc()]))
            assert first is not None and first.points == 2
            assert await repository.first(Query(Account, where=POINTS.gt(5))) is None

    async def test_count_and_exists_agree_with_find(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n}", points=n) for n in range(5)))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            assert await repository.count(Query(Account, where=POINTS.ge(3))) == 2
            assert await repository.exists(Query(Account, where=POINTS.ge(3))) is True
            assert await repository.count(Query(Account, where=POINTS.ge(9))) == 0
            assert await repository.exists(Query(Account, where=POINTS.ge(9))) is False

    async def test_find_takes_at_most_its_limit(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n}", points=n) for n in range(5)))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            found = await repository.find(Query(Account, order_by=[POINTS.asc()]), limit=2)
            assert [account.points for account in found] == [0, 1]
            assert await repository.find(Query(Account), limit=0) == []

    async def test_queries_see_the_uncommitted_writes_of_their_transaction(
        self, harness: AsyncQueryHarness
    ) -> None:
        [kept, gone] = await _seed(harness, new_account("kept"), new_account("gone"))
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            await repository.delete(gone)
            await repository.save(attrs.evolve(kept, points=7))
            await repository.save(new_account("new", points=7))
            assert await repository.count(Query(Account, where=POINTS.eq(7))) == 2
            assert _owners(await repository.find(Query(Account, order_by=[OWNER.asc()]))) == ["kept", "new"]

    async def test_queries_work_on_every_entity_with_its_key(self, harness: AsyncQueryHarness) -> None:
        drafts = harness.repository(DRAFTS)
        async with harness.transactions.begin():
            await drafts.save_all([Draft(id=n) for n in (3, 1, 2)])
        async with harness.transactions.begin():
            found = await drafts.find(Query(Draft, where=field_ref(Draft, lambda d: d.id).ne(2)))
        assert [draft.id for draft in found] == [1, 3]

    # -- pages ----------------------------------------------------------------------------------

    async def test_pages_list_every_match_once_in_order(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n:02}", points=n % 3) for n in range(11)))
        query = Query(Account, where=POINTS.ne(1), order_by=[POINTS.desc(), OWNER.asc()])
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            everything = await repository.find(query)
            page = await repository.page(query, size=3)
            listed = list(page.items)
            while page.next_cursor is not None:
                assert len(page.items) == 3
                page = await repository.page(query, size=3, after=page.next_cursor)
                listed.extend(page.items)
        assert listed == everything and len(listed) == 7

    async def test_the_last_page_has_no_cursor(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n}") for n in range(4)))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            full = await repository.page(Query(Account), size=4)
            assert (len(full.items), full.next_cursor) == (4, None)
            empty = await repository.page(Query(Account, where=POINTS.gt(1)), size=4)
            assert (empty.items, empty.next_cursor) == ((), None)

    async def test_a_cursor_of_another_query_is_refused(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n}") for n in range(3)))
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            cursor = (await repository.page(Query(Account, order_by=[OWNER.asc()]), size=1)).next_cursor
            assert cursor is not None
            for other in (
                Query(Account, order_by=[OWNER.desc()]),
                Query(Account, where=POINTS.eq(0), order_by=[OWNER.asc()]),
            ):
                with pytest.raises(InvalidArgumentError, match="not a cursor of this query"):
                    await repository.page(other, size=1, after=cursor)

    @pytest.mark.parametrize("damage", ["prefix", "swap", "garbage", "empty"])
    async def test_an_altered_cursor_is_refused(self, harness: AsyncQueryHarness, damage: str) -> None:
        await _seed(harness, *(new_account(f"o{n}") for n in range(3)))
        query = Query(Account, order_by=[OWNER.asc()])
        async with harness.transactions.begin():
            repository = harness.repository(ACCOUNTS)
            cursor = (await repository.page(query, size=1)).next_cursor
            assert cursor is not None
            altered = {
                "prefix": "A" + cursor,
                "swap": cursor[::-1],
                "garbage": "not a cursor",
                "empty": "",
            }[damage]
            with pytest.raises(InvalidArgumentError):
                await repository.page(query, size=1, after=altered)

    @pytest.mark.parametrize("size", [0, -1, 10_001, True, 2.5])
    async def test_a_page_size_out_of_range_is_refused(
        self, harness: AsyncQueryHarness, size: object
    ) -> None:
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError):
                await harness.repository(ACCOUNTS).page(Query(Account), size=_untyped(size))

    # -- streams --------------------------------------------------------------------------------

    async def test_a_stream_yields_every_match_in_order(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, *(new_account(f"o{n:02}", points=n % 4) for n in range(10)))
        query = Query(Account, where=POINTS.ne(0), order_by=[OWNER.desc()])
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin(read_only=True):
            streamed = [account async for account in repository.stream(query, chunk_size=3)]
            assert streamed == await repository.find(query)
        assert len(streamed) == 7

    async def test_a_stream_inside_a_transaction_sees_its_writes_and_leaves_it_usable(
        self, harness: AsyncQueryHarness
    ) -> None:
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            await repository.save_all([new_account(f"o{n}") for n in range(5)])
            owners = [
                account.owner
                async for account in repository.stream(Query(Account, order_by=[OWNER.asc()]), chunk_size=2)
            ]
            saved = await repository.save(new_account("after"))
            assert await repository.get(saved.id) == saved
        assert owners == [f"o{n}" for n in range(5)]

    @pytest.mark.parametrize("chunk_size", [0, 10_001, None])
    async def test_a_chunk_size_out_of_range_is_refused(
        self, harness: AsyncQueryHarness, chunk_size: object
    ) -> None:
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError):
                async for _ in harness.repository(ACCOUNTS).stream(
                    Query(Account), chunk_size=_untyped(chunk_size)
                ):
                    pass

    # -- delete_where ---------------------------------------------------------------------------

    async def test_delete_where_deletes_the_matches_and_says_how_many(
        self, harness: AsyncQueryHarness
    ) -> None:
        await _seed(harness, *(new_account(f"o{n}", points=n) for n in range(5)))
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            assert await repository.delete_where(POINTS.lt(2) | POINTS.eq(4)) == 3
        async with harness.transactions.begin():
            assert [
                account.points for account in await repository.find(Query(Account, order_by=[POINTS.asc()]))
            ] == [2, 3]

    async def test_delete_where_is_rolled_back_with_its_transaction(self, harness: AsyncQueryHarness) -> None:
        await _seed(harness, new_account("a"), new_account("b"))
        repository = harness.repository(ACCOUNTS)
        with pytest.raises(RuntimeError):
            async with harness.transactions.begin():
                assert await repository.delete_where(OWNER.eq("a")) == 1
                raise RuntimeError("roll back")
        async with harness.transactions.begin():
            assert await repository.count(Query(Account)) == 2

    async def test_a_stale_copy_of_an_aggregate_deleted_by_condition_cannot_be_saved(
        self, harness: AsyncQueryHarness
    ) -> None:
        [stale] = await _seed(harness, new_account("a"))
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            await repository.delete_where(OWNER.eq("a"))
        with pytest.raises(EntityNotFoundError):
            async with harness.transactions.begin():
                await repository.save(attrs.evolve(stale, points=1))

    async def test_delete_where_in_a_read_only_transaction_is_refused(
        self, harness: AsyncQueryHarness
    ) -> None:
        await _seed(harness, new_account("a"))
        async with harness.transactions.begin(read_only=True):
            with pytest.raises(ReadOnlyTransactionError):
                await harness.repository(ACCOUNTS).delete_where(OWNER.eq("a"))

    # -- misuse ---------------------------------------------------------------------------------

    async def test_queries_outside_a_transaction_raise_no_active_transaction(
        self, harness: AsyncQueryHarness
    ) -> None:
        repository = harness.repository(ACCOUNTS)
        with pytest.raises(NoActiveTransactionError):
            await repository.count(Query(Account))
        with pytest.raises(NoActiveTransactionError):
            await repository.delete_where(OWNER.eq("a"))

    async def test_a_value_of_another_type_is_refused_naming_the_field(
        self, harness: AsyncQueryHarness
    ) -> None:
        wrong: Condition[Account] = POINTS.eq(_untyped("3"))
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError, match="points"):
                await harness.repository(ACCOUNTS).find(Query(Account, where=wrong))

    async def test_a_naive_datetime_is_refused_naming_the_field(self, harness: AsyncQueryHarness) -> None:
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError, match="closed_at"):
                await harness.repository(ACCOUNTS).count(
                    Query(Account, where=CLOSED_AT.lt(dt.datetime(2024, 1, 1)))
                )

    async def test_a_field_of_another_entity_is_refused_naming_it(self, harness: AsyncQueryHarness) -> None:
        other: Condition[Account] = _untyped(field_ref(Draft, lambda d: d.id).eq(1))
        async with harness.transactions.begin():
            with pytest.raises(MappingError, match="id"):
                await harness.repository(ACCOUNTS).find(Query(Account, where=other))

    async def test_a_query_of_another_entity_is_refused(self, harness: AsyncQueryHarness) -> None:
        query: Query[Account] = _untyped(Query(Draft))
        async with harness.transactions.begin():
            with pytest.raises(InvalidArgumentError, match="Draft"):
                await harness.repository(ACCOUNTS).count(query)

    # -- the same results as the reference, on random data and queries ------------------------

    @_settings
    @given(data=st.data())
    async def test_random_queries_return_what_the_reference_returns(
        self, harness: AsyncQueryHarness, data: st.DataObject
    ) -> None:
        scope = uuid.uuid4().hex  # each example's accounts carry a currency of their own
        accounts = data.draw(account_rows(scope))
        condition = data.draw(conditions())
        order_by: list[Ordering[Account]] = data.draw(orderings())
        size = data.draw(st.integers(min_value=1, max_value=4))
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            saved = await repository.save_all(accounts)
        query = Query(Account, where=CURRENCY.eq(scope) & condition, order_by=order_by)
        wanted = expected(query, saved)
        async with harness.transactions.begin(read_only=True):
            assert await repository.find(query) == wanted
            assert await repository.count(query) == len(wanted)
            assert await repository.exists(query) is bool(wanted)
            assert await repository.first(query) == (wanted[0] if wanted else None)
            page = await repository.page(query, size=size)
            listed = list(page.items)
            while page.next_cursor is not None:
                page = await repository.page(query, size=size, after=page.next_cursor)
                listed.extend(page.items)
            assert listed == wanted
            assert [account async for account in repository.stream(query, chunk_size=size)] == wanted

    @_settings
    @given(data=st.data())
    async def test_random_deletes_delete_what_the_reference_matches(
        self, harness: AsyncQueryHarness, data: st.DataObject
    ) -> None:
        scope = uuid.uuid4().hex
        accounts = data.draw(account_rows(scope))
        condition = CURRENCY.eq(scope) & data.draw(conditions())
        repository = harness.repository(ACCOUNTS)
        async with harness.transactions.begin():
            saved = await repository.save_all(accounts)
        doomed = expected(Query(Account, where=condition), saved)
        async with harness.transactions.begin():
            assert await repository.delete_where(condition) == len(doomed)
        async with harness.transactions.begin(read_only=True):
            left = await repository.find(Query(Account, where=CURRENCY.eq(scope)))
        assert left == [account for account in sorted(saved, key=lambda a: a.id) if account not in doomed]
