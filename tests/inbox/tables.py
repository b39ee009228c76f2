"""The inbox table of the inbox tests (a name per run), mapped by a schema of its own."""

from __future__ import annotations

import uuid
from typing import Final

from hexalchemy.sqlalchemy import Schema, inbox_mapping

SCHEMA: Final = Schema()
ENTRIES: Final = inbox_mapping(SCHEMA, table=f"hx_test_inbox_{uuid.uuid4().hex[:8]}")
"""Per test run, so that runs sharing the PostgreSQL server do not see each other's rows."""
METADATA: Final = SCHEMA.metadata
