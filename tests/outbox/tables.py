"""The outbox tables of the outbox tests (a prefix per run) and the contract's relay policy."""

from __future__ import annotations

import uuid
from typing import Final

from sqlalchemy import MetaData

from hexalchemy.pytest_plugin.tables import CONTRACT_OUTBOX_POLICY
from hexalchemy.sqlalchemy import outbox_tables

PREFIX: Final = f"hx_test_outbox_{uuid.uuid4().hex[:8]}"
"""Per test run, so that runs sharing the PostgreSQL server do not see each other's rows."""
METADATA: Final = MetaData()
TABLES: Final = outbox_tables(METADATA, prefix=PREFIX, archive=True)
POLICY: Final = CONTRACT_OUTBOX_POLICY
