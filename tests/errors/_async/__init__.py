"""Async test helpers, written by hand: the source of their sync twins in ``_sync``.

Edit these modules, never their sync twins, then run ``make generate`` (unasyncd, configured
in ``[tool.unasyncd]`` of ``pyproject.toml``); ``tests/test_generated_code.py`` fails when
the twins are stale.
"""
