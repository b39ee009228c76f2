"""The durable-agent step of the demo (step 9), run alone on a fresh SQLite file.

It checks the story the demo tells: the pause and resume signals are consumed at safe
points, the killed boundary leaves nothing behind, the stale runner is fenced off,
``decide`` retries the idempotent action, and the agent completes with an intact chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import agent_demo
from hexalchemy.sqlalchemy import DatabaseConfig, SqlAlchemyTransactionManager, create_engine


def run_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    engine = create_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'agents.db'}"))
    try:
        agent_demo.run(SqlAlchemyTransactionManager(engine))
    finally:
        engine.dispose()
    return " ".join(capsys.readouterr().out.split())  # undo the line wrapping


def test_the_agent_step_tells_the_whole_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = run_alone(tmp_path, capsys)

    expected = [
        "invoice-17.pdf done; boundary committed: state version 5, status interrupted, signals consumed: pause",
        "consumed none; it stays paused",
        "consumed resume -> state version 6, status active; 1 signal pending",
        "after the kill: state version 7 (summarising minutes.txt), 1 signal pending, last evidence #5: "
        "action_boundary 'summarise minutes.txt' started, 2 outbox messages pending",
        "claim_resumable -> None",
        "runner-2 claims the agent at state version 7",
        "refused: runner 'runner-1' lost its lease on agent 'summariser-1'",
        "decide_from_log() -> retry_idempotent",
        "runner-2: minutes.txt done; boundary committed: state version 9, status active, "
        "signals consumed: user_message",
        "final: state version 13, status completed, 5 summaries, 0 signals pending",
        "evidence: 12 entries, verify() -> ok=True",
        "outbox: 5 messages pending for the relay",
    ]
    positions = [output.find(line) for line in expected]
    assert -1 not in positions, [line for line, at in zip(expected, positions, strict=True) if at == -1]
    assert positions == sorted(positions)
