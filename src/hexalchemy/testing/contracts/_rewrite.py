"""Register the contract modules for pytest's assertion rewriting (private).

Imported by the package before the contract modules, so that their ``assert`` statements
fail with pytest's detailed messages, as asserts in test files do. A package covers its
modules: ``_async`` holds the async contracts, ``_sync`` the sync ones generated from them.
"""

import pytest

pytest.register_assert_rewrite(
    "hexalchemy.testing.contracts._async",
    "hexalchemy.testing.contracts._sync",
)
