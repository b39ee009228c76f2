"""The contract tables on SQL: the sample specs mapped once per session, with the commit breaker.

The schema is the plugin's :func:`~hexalchemy.pytest_plugin.contract_schema`; a copy of
:data:`~hexalchemy.pytest_plugin.tables.COMMIT_BREAKER` joins its metadata, so that creating or
emptying ``SCHEMA.metadata`` covers the table the SQL harnesses break commits with.
"""

from __future__ import annotations

from typing import Final

from hexalchemy.pytest_plugin import contract_schema
from hexalchemy.pytest_plugin.tables import COMMIT_BREAKER

SCHEMA: Final = contract_schema()
COMMIT_BREAKER.to_metadata(SCHEMA.metadata)
