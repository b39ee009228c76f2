# The async contracts in _async/ are the source; the sync ones in _sync/ are generated from
# them by `make generate` (unasyncd, configured in [tool.unasyncd] of pyproject.toml).
"""The value contract for :class:`AsyncRepository` adapters; see :mod:`hexalchemy.testing.contracts.values`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from hexalchemy.ports import InvalidValueError
from hexalchemy.rules import EntityDomain
from hexalchemy.testing.contracts._support import AsyncContract
from hexalchemy.testing.contracts._value_cases import (
    ACCEPTED,
    REFUSED,
    REFUSED_UPDATES,
    Accepted,
    Refused,
    specimen_with,
    value_at,
    value_form,
)
from hexalchemy.testing.contracts.domain import SPECIMENS, Specimen, new_specimen
from hexalchemy.testing.contracts.harness import AsyncHarness
from hexalchemy.testing.contracts.strategies import specimens

BATCH: Final = 70
"""The size of a batch: above the 64 new rows from which PostgreSQL saves with COPY."""

_settings = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)

# The repository is typed Any here: these calls give it a key of the wrong type on purpose.
_KeyCall = Callable[[Any, object], Awaitable[object]]

_KEY_CALLS: Final[dict[str, _KeyCall]] = {
    "get": lambda repository, key: repository.get(key),
    "get_or_none": lambda repository, key: repository.get_or_none(key),
    "contains": lambda repository, key: repository.contains(key),
    "range": lambda repository, key: repository.range([key]),
}


def _assert_names(error: InvalidValueError, case: Refused) -> None:
    assert error.entity_type is Specimen
    assert error.field == case.named
    assert value_form(error.value) == value_form(case.refused_value)
    assert case.rule in error.reason


class AsyncValueContract(AsyncContract):
    """Every adapter accepts and refuses the same values and stores the same form; needs a ``harness`` fixture (:class:`AsyncHarness`)."""

    @pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.name)
    async def test_a_boundary_value_is_saved_and_read_back_in_its_stored_form(
        self, harness: AsyncHarness, case: Accepted
    ) -> None:
        repository = harness.repository(SPECIMENS)
        specimen = specimen_with(case.field, case.given)
        async with harness.transactions.begin():
            await repository.save(specimen)
        async with harness.transactions.begin(read_only=True):
            loaded = await repository.get(specimen.id)
        assert value_form(value_at(loaded, case.field)) == value_form(case.stored)

    @pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.name)
    async def test_a_boundary_value_in_a_large_batch_is_read_back_in_its_stored_form(
        self, harness: AsyncHarness, case: Accepted
    ) -> None:
        repository = harness.repository(SPECIMENS)
        batch = [new_specimen() for _ in range(BATCH - 1)] + [specimen_with(case.field, case.given)]
        async with harness.transactions.begin():
            await repository.save_all(batch)
        async with harness.transactions.begin(read_only=True):
            loaded = await repository.range([specimen.id for specimen in batch])
        assert len(loaded) == BATCH
        assert value_form(value_at(loaded[-1], case.field)) == value_form(case.stored)

    @pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
    async def test_a_value_beyond_its_rule_is_refused_naming_the_field_and_nothing_is_written(
        self, harness: AsyncHarness, case: Refused
    ) -> None:
        repository = harness.repository(SPECIMENS)
        specimen = specimen_with(case.field, case.given)
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError) as caught:
                await repository.save(specimen)
            _assert_names(caught.value, case)
            assert not await repository.contains(specimen.id)

    @pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
    async def test_a_value_beyond_its_rule_in_a_large_batch_is_refused_and_nothing_is_written(
        self, harness: AsyncHarness, case: Refused
    ) -> None:
        repository = harness.repository(SPECIMENS)
        batch = [new_specimen() for _ in range(BATCH - 1)] + [specimen_with(case.field, case.given)]
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError) as caught:
                await repository.save_all(batch)
            _assert_names(caught.value, case)
            assert await repository.range([specimen.id for specimen in batch]) == []

    @pytest.mark.parametrize("case", REFUSED_UPDATES, ids=lambda case: case.name)
    async def test_an_update_beyond_a_rule_is_refused_and_the_stored_aggregate_is_kept(
        self, harness: AsyncHarness, case: Refused
    ) -> None:
        repository = harness.repository(SPECIMENS)
        async with harness.transactions.begin():
            saved = await repository.save(new_specimen())
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError) as caught:
                await repository.save(specimen_with(case.field, case.given, saved))
            _assert_names(caught.value, case)
        async with harness.transactions.begin(read_only=True):
            assert await repository.get(saved.id) == saved

    @pytest.mark.parametrize("case", REFUSED_UPDATES, ids=lambda case: case.name)
    async def test_a_large_batch_of_updates_beyond_a_rule_is_refused_and_nothing_is_changed(
        self, harness: AsyncHarness, case: Refused
    ) -> None:
        repository = harness.repository(SPECIMENS)
        async with harness.transactions.begin():
            saved = await repository.save_all([new_specimen() for _ in range(BATCH)])
        changed = [attrs.evolve(specimen, label="changed") for specimen in saved[:-1]]
        changed.append(specimen_with(case.field, case.given, saved[-1]))
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError) as caught:
                await repository.save_all(changed)
            _assert_names(caught.value, case)
        async with harness.transactions.begin(read_only=True):
            assert await repository.range([specimen.id for specimen in saved]) == saved

    @pytest.mark.parametrize("method", sorted(_KEY_CALLS))
    async def test_a_key_of_the_wrong_type_is_refused_naming_the_key_field(
        self, harness: AsyncHarness, method: str
    ) -> None:
        repository = harness.repository(SPECIMENS)
        key = str(uuid.uuid4())  # the text of a UUID, not a UUID
        async with harness.transactions.begin(read_only=True):
            with pytest.raises(InvalidValueError) as caught:
                await _KEY_CALLS[method](repository, key)
        assert caught.value.entity_type is Specimen
        assert caught.value.field == "id"
        assert caught.value.value == key

    async def test_a_delete_with_a_key_of_the_wrong_type_is_refused_and_deletes_nothing(
        self, harness: AsyncHarness
    ) -> None:
        repository = harness.repository(SPECIMENS)
        async with harness.transactions.begin():
            saved = await repository.save(new_specimen())
        async with harness.transactions.begin():
            with pytest.raises(InvalidValueError) as caught:
                await repository.delete(specimen_with("id", str(saved.id), saved))
            assert caught.value.field == "id"
            assert await repository.contains(saved.id)

    @_settings
    @given(generated=specimens())
    async def test_any_value_of_the_domain_reads_back_equal_in_the_form_the_rules_give(
        self, harness: AsyncHarness, generated: Specimen
    ) -> None:
        repository = harness.repository(SPECIMENS)
        specimen = attrs.evolve(generated, id=uuid.uuid4())
        async with harness.transactions.begin():
            saved = await repository.save(specimen)
        async with harness.transactions.begin(read_only=True):
            loaded = await repository.get(specimen.id)
        assert value_form(loaded) == value_form(EntityDomain(SPECIMENS).normalize(saved))
        if not loaded.measure.is_nan():  # NaN is equal to nothing, itself included
            assert loaded == saved
