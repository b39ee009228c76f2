"""The public modules' ``__all__`` lists are complete and correct, and every public name is documented.

A public module is one whose dotted name has no part starting with ``_``; the public
submodules of the packages below are checked too. For a package, "defined in the module"
covers its public modules: every class and function they define under a public name must
be in the module's ``__all__`` and re-exported by the package's ``__all__``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import typing
from types import ModuleType

import pytest

PUBLIC_MODULES = (
    "hexalchemy.ports",
    "hexalchemy.rules",
    "hexalchemy.sqlalchemy",
    "hexalchemy.testing",
    "hexalchemy.retry",
    "hexalchemy.outbox",
    "hexalchemy.agents",
    "hexalchemy.brokers",
    "hexalchemy.pytest_plugin",
)
NOT_RE_EXPORTING = ("hexalchemy.retry", "hexalchemy.brokers")
"""Packages whose modules are not re-exported: ``brokers`` imports no broker client until asked (optional extras)."""


def _is_public(dotted: str) -> bool:
    return not any(part.startswith("_") for part in dotted.split("."))


def _public_submodules(module: ModuleType) -> list[ModuleType]:
    path = getattr(module, "__path__", None)
    if path is None:
        return []
    found = []
    for info in pkgutil.walk_packages(path, f"{module.__name__}."):
        if _is_public(info.name):
            found.append(importlib.import_module(info.name))
    return found


def _all_public_modules() -> list[ModuleType]:
    modules: list[ModuleType] = []
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        modules.append(module)
        modules.extend(_public_submodules(module))
    return modules


def _exported(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    assert isinstance(names, list | tuple), f"{module.__name__} has no __all__ list"
    assert all(isinstance(name, str) for name in names), f"{module.__name__}.__all__ holds a non-string"
    return list(names)


def _defined_here(module: ModuleType) -> dict[str, object]:
    """The public top-level classes and functions whose home is ``module``."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module.__name__
    }


MODULES = _all_public_modules()
MODULE_IDS = [module.__name__ for module in MODULES]


def test_the_public_modules_are_found() -> None:
    names = set(MODULE_IDS)
    assert set(PUBLIC_MODULES) <= names
    assert {"hexalchemy.ports.errors", "hexalchemy.sqlalchemy.mapping", "hexalchemy.testing.memory"} <= names


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_every_listed_name_exists_once(module: ModuleType) -> None:
    names = _exported(module)
    assert len(names) == len(set(names)), f"{module.__name__}.__all__ lists a name twice"
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == [], f"{module.__name__}.__all__ lists names it does not have: {missing}"
    private = [name for name in names if name.startswith("_") and name != "__version__"]
    assert private == [], f"{module.__name__}.__all__ lists private names: {private}"


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_star_import_gives_exactly_the_listed_names(module: ModuleType) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == sorted(_exported(module))


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_every_public_class_and_function_defined_in_the_module_is_listed(module: ModuleType) -> None:
    listed = set(_exported(module))
    unlisted = sorted(name for name in _defined_here(module) if name not in listed)
    assert unlisted == [], f"{module.__name__} defines public names missing from __all__: {unlisted}"


def _public_child_modules(package: ModuleType) -> list[ModuleType]:
    """The package's own public modules (not its subpackages, which export for themselves)."""
    return [
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")
        if not info.ispkg and _is_public(info.name)
    ]


@pytest.mark.parametrize("package_name", [name for name in PUBLIC_MODULES if name not in NOT_RE_EXPORTING])
def test_packages_re_export_the_classes_and_functions_of_their_submodules(package_name: str) -> None:
    package = importlib.import_module(package_name)
    listed = set(_exported(package))
    for submodule in _public_child_modules(package):
        for name in _exported(submodule):
            value = getattr(submodule, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue  # constants stay in their module
            assert name in listed, f"{package_name} does not re-export {submodule.__name__}.{name}"
            assert getattr(package, name) is value, (
                f"{package_name}.{name} is not {submodule.__name__}.{name}"
            )


@pytest.mark.parametrize("package_name", [name for name in PUBLIC_MODULES if name not in NOT_RE_EXPORTING])
def test_packages_export_only_what_their_submodules_define(package_name: str) -> None:
    package = importlib.import_module(package_name)
    for name in _exported(package):
        value = getattr(package, name)
        if isinstance(value, str) or typing.get_origin(value) is not None:
            continue  # a type alias (JsonValue, a Union, a Callable, a Literal) has no home to check
        home = getattr(value, "__module__", "")
        assert home.startswith(f"{package_name}."), f"{package_name}.{name} comes from {home}"


# --- docstrings ---------------------------------------------------------------------------------


def _members(cls: type[object]) -> dict[str, object]:
    """Public methods and properties defined on ``cls`` itself (not inherited)."""
    members: dict[str, object] = {}
    for name, value in vars(cls).items():
        if name.startswith(("_", "test_")):
            continue  # contract test methods are named as sentences instead
        if isinstance(value, staticmethod | classmethod):
            members[name] = value.__func__
        elif inspect.isfunction(value) or isinstance(value, property | functools.cached_property):
            members[name] = value
    return members


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_every_public_module_has_a_docstring(module: ModuleType) -> None:
    assert (module.__doc__ or "").strip(), f"{module.__name__} has no docstring"


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_every_public_name_has_a_docstring(module: ModuleType) -> None:
    undocumented: list[str] = []
    for name in _exported(module):
        value = getattr(module, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue  # constants are documented by the attribute docstrings of their module
        if not (value.__doc__ or "").strip():
            undocumented.append(name)
        if inspect.isclass(value):
            for member_name, member in _members(value).items():
                if not (getattr(member, "__doc__", None) or "").strip():
                    undocumented.append(f"{name}.{member_name}")
    assert undocumented == [], f"{module.__name__}: no docstring on {undocumented}"


def test_classes_do_not_inherit_a_docstring_by_accident() -> None:
    # ``inspect.getdoc`` would find a base class's docstring; ``__doc__`` must be the class's own.
    for module in MODULES:
        for name in _exported(module):
            value = getattr(module, name)
            if inspect.isclass(value) and value.__module__.startswith("hexalchemy"):
                assert "__doc__" in vars(value) and vars(value)["__doc__"], f"{module.__name__}.{name}"
