"""hexalchemy's pytest entry point (``pytest11``: ``hexalchemy``), safe without the testing extra.

Every pytest run of an environment holding hexalchemy loads this module, so it imports
nothing of the plugin itself: when the testing extra's packages are installed it registers
:mod:`hexalchemy.pytest_plugin`'s hooks and fixtures; when one is missing it registers none
and says so in pytest's header, instead of failing every pytest run with an ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Final

import pytest

REQUIRED: Final = ("hypothesis",)
"""The testing extra's packages the fixtures import (pytest-asyncio is optional: the async fixtures only)."""


def missing_packages() -> list[str]:
    """The packages of :data:`REQUIRED` not installed."""
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the plugin when it can load (pytest calls its option and configure hooks in turn)."""
    del parser  # the plugin adds its options itself
    if not missing_packages():
        pluginmanager.register(
            importlib.import_module("hexalchemy.pytest_plugin._plugin"), "hexalchemy-fixtures"
        )


def pytest_report_header(config: pytest.Config) -> str | None:
    """One line when the fixtures are off, naming what to install."""
    del config
    missing = missing_packages()
    if not missing:
        return None
    return (
        f"hexalchemy: fixtures off ({', '.join(missing)} not installed): "
        "pip install 'hexalchemy[testing]' to use them"
    )
