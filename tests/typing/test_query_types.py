"""Typed field references: what mypy --strict (and pyright strict, when installed) accept and refuse.

The accepted uses are pinned in this module with ``assert_type`` (mypy checks it with the
rest of ``tests``). The refused ones are written to a file and checked in a subprocess: each
line marked ``# refused`` must be an error, and nothing else may be.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Final, assert_type

import attrs
import pytest

from hexalchemy.ports import Condition, Ordering, Query
from hexalchemy.rules import FieldRef, field_ref


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
    assert_type(field_ref(Order, attrs.fields(Order).id), FieldRef[Order, int])
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


def _refused_lines() -> set[int]:
    return {number for number, line in enumerate(REFUSED.splitlines(), 1) if line.endswith("# refused")}


def _error_lines(output: str, name: str) -> set[int]:
    lines: set[int] = set()
    for line in output.splitlines():
        line = line.strip()
        if line.startswith(f"{name}:") or f"/{name}:" in line:
            parts = line.split(":")
            index = next(i for i, part in enumerate(parts) if part.endswith(name))
            if " error" in line or "- error" in line:
                lines.add(int(parts[index + 1]))
    return lines


def test_mypy_strict_refuses_a_comparison_with_a_value_of_another_type(tmp_path: Path) -> None:
    source = tmp_path / "refused.py"
    source.write_text(REFUSED, encoding="utf-8")
    found = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert _error_lines(found.stdout, "refused.py") == _refused_lines(), found.stdout


@pytest.mark.skipif(shutil.which("pyright") is None, reason="pyright is not installed")
def test_pyright_strict_refuses_a_comparison_with_a_value_of_another_type(tmp_path: Path) -> None:
    source = tmp_path / "refused.py"
    source.write_text("# pyright: strict\n" + REFUSED, encoding="utf-8")
    pyright = shutil.which("pyright")
    assert pyright is not None
    found = subprocess.run(
        [pyright, "--pythonpath", sys.executable, str(source)], capture_output=True, text=True, check=False
    )
    refused = {line + 1 for line in _refused_lines()}
    assert refused <= _error_lines(found.stdout, "refused.py"), found.stdout
