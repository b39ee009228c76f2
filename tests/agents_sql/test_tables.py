"""agent_tables: the tables, their checks, and the triggers created with the schema."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import MetaData, inspect, text

from hexalchemy.ports import ConfigError
from hexalchemy.sqlalchemy import DatabaseConfig, Schema, agent_tables, append_only_statements, create_engine


def test_the_tables_are_added_to_a_schema(tmp_path: Path) -> None:
    schema = Schema()
    tables = agent_tables(schema)
    assert [table.name for table in (tables.states, tables.sequences, tables.signals, tables.evidence)] == [
        "hexalchemy_agent_states",
        "hexalchemy_agent_sequences",
        "hexalchemy_agent_signals",
        "hexalchemy_agent_evidence",
    ]
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'schema.db'}"))
    try:
        schema.create_all(engine)
        with engine.connect() as connection:
            triggers = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        assert sorted(row[0] for row in triggers) == [
            "hexalchemy_agent_evidence_no_delete",
            "hexalchemy_agent_evidence_no_update",
        ]
        indexes = {index["name"] for index in inspect(engine).get_indexes("hexalchemy_agent_evidence")}
        assert "hexalchemy_agent_evidence_manifest" in indexes
        schema.drop_all(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("prefix", ["", "has space", "1abc", "x" * 43, "é" * 22, None])
def test_a_bad_prefix_is_refused(prefix: object) -> None:
    with pytest.raises(ConfigError, match="prefix"):
        agent_tables(MetaData(), prefix=cast(str, prefix))


def test_tables_defined_twice_are_refused() -> None:
    metadata = MetaData()
    agent_tables(metadata)
    with pytest.raises(ConfigError, match="already defined"):
        agent_tables(metadata)


def test_the_append_only_statements_name_their_dialect() -> None:
    assert len(append_only_statements("t", "postgresql")) == 3
    assert len(append_only_statements("t", "sqlite")) == 2
    with pytest.raises(ConfigError):
        append_only_statements("t", "mysql")
