"""Register the contract modules for pytest's assertion rewriting (private).

Imported by the package before the contract modules, so that their ``assert`` statements
fail with pytest's detailed messages, as asserts in test files do.
"""

import pytest

pytest.register_assert_rewrite(
    "hexalchemy.testing.contracts.concurrency",
    "hexalchemy.testing.contracts.repository",
    "hexalchemy.testing.contracts.roundtrip",
    "hexalchemy.testing.contracts.transactions",
)
