"""The ports stay thin: Protocols, the value types they speak and errors; every rule lives in hexalchemy.rules."""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import pkgutil
import sys
import tomllib
from pathlib import Path
from typing import Any, Final

import attrs
import pytest

import hexalchemy
import hexalchemy.ports
import hexalchemy.ports.entity

MAX_PORT_METHODS: Final = 5
"""A port with more methods is split by capability (its name stays as the union of the parts)."""

PORT_MODULES = [
    importlib.import_module(info.name)
    for info in pkgutil.iter_modules(hexalchemy.ports.__path__, "hexalchemy.ports.")
]


def _is_protocol(value: object) -> bool:
    return inspect.isclass(value) and bool(getattr(value, "_is_protocol", False))


def _port_bases(port: type[Any]) -> list[type[Any]]:
    """The ports ``port`` unites (``typing.Protocol`` and ``Generic`` left out)."""
    return [
        base for base in port.__bases__ if _is_protocol(base) and base.__module__.startswith("hexalchemy")
    ]


def _defined_here(module: Any) -> dict[str, object]:
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


@pytest.mark.parametrize("module", PORT_MODULES, ids=[module.__name__ for module in PORT_MODULES])
def test_the_ports_define_protocols_value_types_and_errors_only(module: Any) -> None:
    for name, value in _defined_here(module).items():
        if inspect.isfunction(value):
            # field_types, split_optional and strip_newtype read annotations; column() writes
            # attrs metadata: none is a rule (EntitySpec needs them to find a field's options)
            assert name in {"field_types", "column", "split_optional", "strip_newtype"}, (
                f"{module.__name__}.{name} is a rule: move it to hexalchemy.rules"
            )
            continue
        assert isinstance(value, type)
        kind_ok = (
            _is_protocol(value)
            or attrs.has(value)
            or issubclass(value, (enum.Enum, Exception))
            or name == "EntitySpec"
        )
        assert kind_ok, f"{module.__name__}.{name} is neither a Protocol, a value type nor an error"


SPEC_CHECKS: Final = frozenset(
    {
        "_check_events_field",
        "_key_fields",
        "_check_field_name",
        "_evolve",
        "_check_columns",
        "_same_type",
        "_type_name",
        "_check_key_type",
        "_value_object",
        "_fields_of",
        "_walk_metadata",
        "_check_path",
        "_declared_options",
        "_field_type",
        "_field_paths",
        "_column_sets",
    }
)
"""How ``EntitySpec`` reads and checks its own declaration (``ports/entity.py``).

``EntitySpec(...)`` refuses a declaration that cannot describe its class (a key or version
naming no field, a ``key_type`` that is not the key's type, column options on a path that
names no field, an index on a value object...) with ``MappingError`` at the line that
declares it (docs/mapping.md). The ports are the bottom layer, so it cannot call
``hexalchemy.rules`` to do it; checking the spec later, where it is used, would move that
error away from the line at fault and leave a spec whose ``key_of`` fails with a raw
``AttributeError``. These functions check the declaration only: none raises anything but
``MappingError`` (:func:`test_the_spec_checks_refuse_declarations_not_values`), so no value
rule (what a field accepts) is in the ports."""

PRIVATE_HELPERS: Final = {
    "hexalchemy.ports.entity": SPEC_CHECKS,
    "hexalchemy.ports.errors": frozenset({"_type_name", "_shortened"}),  # how a message shows a value
}


def _private_functions(module: Any) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if name.startswith("_")
        and not name.startswith("__")
        and inspect.isfunction(value)
        and value.__module__ == module.__name__
    }


@pytest.mark.parametrize("module", PORT_MODULES, ids=[module.__name__ for module in PORT_MODULES])
def test_the_ports_hold_no_private_function_but_the_spec_checks_and_the_message_helpers(module: Any) -> None:
    private = _private_functions(module)
    allowed = PRIVATE_HELPERS.get(module.__name__, frozenset())
    assert private == allowed, (
        f"{module.__name__} defines {sorted(private - allowed)} (rules go to hexalchemy.rules), "
        f"or no longer defines {sorted(allowed - private)} (take it off PRIVATE_HELPERS)"
    )


def _module_tree(module: Any) -> ast.Module:
    return ast.parse(Path(module.__file__).read_text(encoding="utf-8"))


def test_the_spec_checks_refuse_declarations_not_values() -> None:
    tree = _module_tree(hexalchemy.ports.entity)
    checks = [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name in SPEC_CHECKS
    ]
    assert {node.name for node in checks} == SPEC_CHECKS
    raised = {
        ast.unparse(node.exc.func)
        for check in checks
        for node in ast.walk(check)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
    }
    assert raised == {"MappingError"}


def _imported(tree: ast.Module) -> set[str]:
    """The top-level names of every module ``tree`` imports, at any depth (a function's imports too)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PORT_MODULES, ids=[module.__name__ for module in PORT_MODULES])
def test_the_ports_import_only_the_standard_library_attrs_and_each_other(module: Any) -> None:
    foreign = {
        name
        for name in _imported(_module_tree(module))
        if name.split(".")[0] not in sys.stdlib_module_names
        and name != "attrs"
        and not (name == "hexalchemy.ports" or name.startswith("hexalchemy.ports."))
    }
    assert foreign == set(), f"{module.__name__} imports {sorted(foreign)}"


def test_the_ports_import_contract_forbids_every_other_part_of_hexalchemy() -> None:
    config = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [ports] = [contract for contract in contracts if contract.get("source_modules") == ["hexalchemy.ports"]]
    parts = {
        f"hexalchemy.{info.name}"
        for info in pkgutil.iter_modules(hexalchemy.__path__)
        if info.name != "ports"
    }
    assert parts <= set(ports["forbidden_modules"])


def _value_types() -> list[type[Any]]:
    return [
        value
        for module in PORT_MODULES
        for value in _defined_here(module).values()
        if isinstance(value, type) and attrs.has(value)
    ]


@pytest.mark.parametrize("cls", _value_types(), ids=lambda cls: cls.__name__)
def test_value_types_neither_build_nor_validate_themselves(cls: type[Any]) -> None:
    methods = [
        name
        for name, value in vars(cls).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or isinstance(value, classmethod | staticmethod))
    ]
    assert methods == [], (
        f"{cls.__name__} has methods {methods}: factories and checks live in hexalchemy.rules"
    )


def _protocols() -> list[type[Any]]:
    return [
        value
        for module in PORT_MODULES
        for value in _defined_here(module).values()
        if isinstance(value, type) and _is_protocol(value)
    ]


@pytest.mark.parametrize("port", _protocols(), ids=lambda port: port.__name__)
def test_a_port_has_a_handful_of_methods_or_is_a_union_of_ports(port: type[Any]) -> None:
    own = [
        name for name, value in vars(port).items() if not name.startswith("_") and inspect.isfunction(value)
    ]
    bases = _port_bases(port)
    if bases:
        assert own == [], f"{port.__name__} adds {own} to the ports it unites"
    else:
        assert 1 <= len(own) <= MAX_PORT_METHODS, (
            f"{port.__name__} has {len(own)} methods: split it by capability"
        )


@pytest.mark.parametrize(
    ("union", "parts"),
    [
        ("OutboxDelivery", ["LeasedDelivery", "LockedDelivery"]),
        ("OutboxRelayStore", ["OutboxDelivery", "OutboxAdmin"]),
        ("AgentStateStore", ["AgentStates", "AgentListing", "AgentLeases"]),
        ("EvidenceLog", ["EvidenceWriter", "EvidenceReader"]),
    ],
)
@pytest.mark.parametrize("prefix", ["", "Async"])
def test_the_old_names_are_the_unions_of_their_parts(union: str, parts: list[str], prefix: str) -> None:
    port = getattr(hexalchemy.ports, prefix + union)
    assert [base.__name__ for base in _port_bases(port)] == [prefix + part for part in parts]
