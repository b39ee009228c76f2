"""The async LISTEN/NOTIFY wake-up, written by hand: the source of the sync one in ``_sync``.

Edit these modules, never their sync twins, then run ``make generate`` (unasyncd, configured
in ``[tool.unasyncd]`` of ``pyproject.toml``); ``tests/test_generated_code.py`` fails when
the twins are stale. :mod:`hexalchemy.sqlalchemy.postgresql.notify` re-exports both.
"""
