"""Typed field references: what mypy --strict and basedpyright strict accept and refuse.

The accepted uses are pinned in this module with ``assert_type`` (mypy checks it with the
rest of ``tests``, basedpyright strict with ``tests/typing``). The refused ones are written
to a file and checked by both in a subprocess (tests/typing/checkers.py): each line marked
``# refused`` must be an error, and nothing else may be.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Final, assert_type

import attrs

from hexalchemy.ports import Condition, Ordering, Query
from hexalchemy.rules import FieldRef, field_ref
from tests.typing.checkers import check_samples


@attrs.frozen
class Address:
    city: str


@attrs.frozen
class Order:
    id: int
    total: Decimal
    ship_to: Address
    shipped_at: dt.datetime | None = None


def test_field_references_carry_the_entity_and_the_value_type() -> None:
    total = field_ref(Order, lambda o: o.total)
    city = field_ref(Order, lambda o: o.ship_to.city)
    shipped = field_ref(Order, lambda o: o.shipped_at)
    assert_type(total, FieldRef[Order, Decimal])
    assert_type(city, FieldRef[Order, str])
    assert_type(shipped, FieldRef[Order, dt.datetime | None])
    # mypy reads the attrs field's type (its attrs plugin); pyright sees Attribute[Any], so it accepts this.
    by_attribute: FieldRef[Order, int] = field_ref(Order, attrs.fields(Order).id)
    assert by_attribute.dotted_path == "id"
    condition = total.gt(Decimal(1)) & city.startswith("B") & shipped.eq(None) | ~total.in_([Decimal(2)])
    assert_type(condition, Condition[Order])
    assert_type(total.desc(), Ordering[Order])
    assert_type(Query(Order, where=condition, order_by=[total.desc()]), Query[Order])


REFUSED: Final = textwrap.dedent(
    """
    from __future__ import annotations

    import datetime as dt
    from decimal import Decimal

    import attrs

    from hexalchemy.ports import Query
    from hexalchemy.rules import field_ref


    @attrs.frozen
    class Address:
        city: str


    @attrs.frozen
    class Order:
        id: int
        total: Decimal
        ship_to: Address
        shipped_at: dt.datetime | None = None


    TOTAL = field_ref(Order, lambda o: o.total)
    CITY = field_ref(Order, lambda o: o.ship_to.city)
    SHIPPED = field_ref(Order, lambda o: o.shipped_at)
    ok = TOTAL.gt(Decimal(1)) & CITY.startswith("B") & SHIPPED.eq(None)
    a = TOTAL.eq("100")  # refused
    b = CITY.gt(3)  # refused
    c = TOTAL.startswith("1")  # refused
    d = TOTAL.eq(None)  # refused
    e = SHIPPED.lt(dt.date(2024, 1, 1) if False else "2024")  # refused
    f = Query(Address, where=TOTAL.gt(Decimal(1)))  # refused
    g = field_ref(Order, lambda o: o.missing)  # refused
    """
)


def test_mypy_and_pyright_strict_refuse_a_comparison_with_a_value_of_another_type(tmp_path: Path) -> None:
    problems = check_samples(tmp_path, {"refused.py": REFUSED})
    assert not problems, "\n".join(problems)
