"""The sync agent helpers, generated from ``_async`` by ``make generate``: do not edit them here.

Only this file is written by hand; every other module of this package is produced by
unasyncd (configured in ``[tool.unasyncd]`` of ``pyproject.toml``) from its namesake in
``_async``, and ``tests/test_generated_code.py`` fails when one differs from what
``make generate`` writes.
"""
