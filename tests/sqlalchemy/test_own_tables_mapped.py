"""The library's own tables are mapped by its own Schema: no hand-written row conversion in the SQL adapters.

The outbox's messages and dead letters (and the agents' states, signals and evidence) are
built from rows, and turned into rows, by the generated functions of
:class:`~hexalchemy.sqlalchemy.mapping.TableMapping` / ``RowMapping``, with the value rules
bound in, as users' aggregates are. This test scans the source of ``hexalchemy.sqlalchemy``
and fails when code there builds one of those value types itself again (a ``message_from_row``,
a ``_state(row)``...).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import hexalchemy.sqlalchemy
from hexalchemy.ports import AgentState, DeadLetter, Evidence, OutboxMessage, Signal
from hexalchemy.sqlalchemy import Schema
from hexalchemy.sqlalchemy.agents import agent_tables
from hexalchemy.sqlalchemy.outbox import outbox_tables

STORED_TYPES: Final = frozenset(
    cls.__name__ for cls in (OutboxMessage, DeadLetter, AgentState, Signal, Evidence)
)
"""The port value types that the library's own tables store, one per row."""

SOURCE: Final = Path(hexalchemy.sqlalchemy.__file__).parent


def _built_by_hand(path: Path, root: Path = SOURCE) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = (
            function.id
            if isinstance(function, ast.Name)
            else function.attr
            if isinstance(function, ast.Attribute)
            else None
        )
        if name in STORED_TYPES:
            found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {name}(...)")
    return found


def test_no_adapter_module_builds_a_stored_value_type_by_hand() -> None:
    modules = sorted(SOURCE.rglob("*.py"))
    assert len(modules) > 20  # the scan sees the package
    built = [place for module in modules for place in _built_by_hand(module)]
    assert built == [], "build these with the tables' generated mapping instead:\n" + "\n".join(built)


def test_the_scan_finds_a_hand_written_converter(tmp_path: Path) -> None:
    module = tmp_path / "converter.py"
    module.write_text("def message_from_row(row):\n    return ports.OutboxMessage(id=row[0])\n")
    assert _built_by_hand(module, tmp_path) == [f"{tmp_path.name}/converter.py:2: OutboxMessage(...)"]


def test_the_outbox_tables_are_mapped_when_they_are_declared() -> None:
    from hexalchemy.sqlalchemy._outbox_tables import BOOKKEEPING, outbox_mappings

    tables = outbox_tables(Schema())
    mappings = outbox_mappings(tables)
    assert mappings.messages.entity_type is OutboxMessage
    assert mappings.messages.table is tables.messages
    assert {column.name for column in mappings.messages.unmapped} == set(BOOKKEEPING)
    assert mappings.dead_letters.cls is DeadLetter


def test_the_agent_tables_are_mapped_when_they_are_declared() -> None:
    from hexalchemy.sqlalchemy._agents_tables import LEASE_COLUMNS, agent_mappings

    tables = agent_tables(Schema())
    mappings = agent_mappings(tables)
    assert (mappings.states.table, mappings.signals.table, mappings.evidence.table) == (
        tables.states,
        tables.signals,
        tables.evidence,
    )
    assert {column.name for column in mappings.states.unmapped} == set(LEASE_COLUMNS)
    assert [mapping.entity_type for mapping in (mappings.states, mappings.signals, mappings.evidence)] == [
        AgentState,
        Signal,
        Evidence,
    ]
