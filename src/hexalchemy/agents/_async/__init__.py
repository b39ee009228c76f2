"""The async agent helpers, written by hand: the source of the sync ones in ``_sync``.

Edit these modules, never their sync twins, then run ``make generate`` (unasyncd, configured
in ``[tool.unasyncd]`` of ``pyproject.toml``); ``tests/test_generated_code.py`` fails when
the twins are stale. :mod:`hexalchemy.agents.recovery` re-exports both.
"""
