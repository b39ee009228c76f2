"""The async in-memory adapter classes, written by hand: the source of the sync ones in ``_sync``.

Edit these modules, never their sync twins, then run ``make generate`` (unasyncd, configured
in ``[tool.unasyncd]`` of ``pyproject.toml``); ``tests/test_generated_code.py`` fails when
the twins are stale. The public modules (:mod:`hexalchemy.testing.memory`,
:mod:`~hexalchemy.testing.outbox`, :mod:`~hexalchemy.testing.agents`,
:mod:`~hexalchemy.testing.publishers`) re-export both.
"""
