"""The async outbox services, written by hand: the source of the sync ones in ``_sync``.

Edit these modules, never their sync twins, then run ``make generate`` (unasyncd, configured
in ``[tool.unasyncd]`` of ``pyproject.toml``); ``tests/test_generated_code.py`` fails when
the twins are stale. The public modules (:mod:`hexalchemy.outbox.relay`,
:mod:`~hexalchemy.outbox.publishers`, :mod:`~hexalchemy.outbox.events`) re-export both.
"""
