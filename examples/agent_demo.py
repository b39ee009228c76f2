"""The durable-agent part of the demo: an agent works, is killed mid-task and resumes.

``make demo`` runs it after the outbox step, on the same SQLite database. A small agent
summarises five documents; every action ends with an action boundary, one transaction
that saves the agent's next state version, consumes the signals waiting for it, appends
``action_boundary`` evidence and adds one outbox message. The demo pauses and resumes it
with signals, kills its runner inside a boundary transaction, and lets a second runner
claim it (lease + fencing token), ask :func:`~hexalchemy.agents.decide_from_log` how to resume,
and finish the work. Time comes from a manual clock, so nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Iterable, Mapping, Sequence

import attrs

from hexalchemy.agents import Decision, RecoveryAction, decide_from_log
from hexalchemy.ports import (
    AgentStatus,
    Evidence,
    EvidenceKind,
    JsonValue,
    LeaseLostError,
    RunnerLease,
    Signal,
    SignalKind,
)
from hexalchemy.rules import new_agent_state, new_evidence, new_message, new_signal
from hexalchemy.sqlalchemy import (
    Schema,
    SqlAlchemyOutboxRelayStore,
    SqlAlchemyOutboxWriter,
    SqlAlchemyTransactionManager,
    outbox_tables,
)
from hexalchemy.sqlalchemy.agents import (
    SqlAlchemyAgentStateStore,
    SqlAlchemyEvidenceLog,
    SqlAlchemySignalQueue,
    agent_tables,
)

AGENT_ID = "summariser-1"
DOCUMENTS = ("contract.pdf", "invoice-17.pdf", "minutes.txt", "offer.docx", "report.md")
LEASE = dt.timedelta(seconds=30)
WORK_TIME = dt.timedelta(seconds=2)
WHILE_WORKING = (SignalKind.USER_MESSAGE, SignalKind.PAUSE)
"""The signals the agent takes at the end of an action (a resume waits for a pause to be consumed)."""
WHILE_PAUSED = (SignalKind.RESUME,)


def say(text: str) -> None:
    print(textwrap.indent(textwrap.fill(text, width=88, break_on_hyphens=False), "   "))


class ManualClock:
    """The demo's clock: it starts at the wall clock and moves only when told to (no sleeping)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


class KilledError(Exception):
    """Stands for the runner's process dying in the middle of a transaction."""


@attrs.frozen
class Agents:
    """The agent stores and the outbox, wired on one transaction manager and one clock."""

    transactions: SqlAlchemyTransactionManager
    clock: ManualClock
    states: SqlAlchemyAgentStateStore
    signals: SqlAlchemySignalQueue
    evidence: SqlAlchemyEvidenceLog
    outbox: SqlAlchemyOutboxWriter
    relay_store: SqlAlchemyOutboxRelayStore


def wire(transactions: SqlAlchemyTransactionManager) -> Agents:
    """The composition root of this step: add the agent (and outbox) tables and build the stores."""
    schema = Schema()
    tables = agent_tables(schema)
    outbox = outbox_tables(schema)
    schema.create_all(transactions.engine)  # creates only the tables that do not exist yet
    clock = ManualClock()
    return Agents(
        transactions=transactions,
        clock=clock,
        states=SqlAlchemyAgentStateStore(tables, transactions, clock=clock),
        signals=SqlAlchemySignalQueue(tables, transactions, clock=clock),
        evidence=SqlAlchemyEvidenceLog(tables, transactions),
        outbox=SqlAlchemyOutboxWriter(outbox, transactions),
        relay_store=SqlAlchemyOutboxRelayStore(outbox, transactions),
    )


def summarise(document: str, notes: Sequence[str]) -> str:
    """The agent's work: deterministic, so running it twice for one document is harmless."""
    summary = f"summary of {document}"
    return f"{summary} ({'; '.join(notes)})" if notes else summary


def kinds(signals: Iterable[Signal]) -> str:
    return ", ".join(signal.kind.value for signal in signals) or "none"


def texts(value: JsonValue) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


class Runner:
    """Runs the agent while it holds a lease; every write goes through ``save_owned``."""

    def __init__(self, name: str, agents: Agents, lease: RunnerLease) -> None:
        self.name = name
        self.agents = agents
        self.lease = lease
        self.state = lease.state

    def start(self, index: int) -> None:
        """The 'started' boundary of an action: the next state version and its evidence, together."""
        agents, document = self.agents, DOCUMENTS[index]
        with agents.transactions.begin():
            self.state = agents.states.save_owned(
                attrs.evolve(self.state, current_activity=f"summarising {document}"), self.lease
            )
            agents.evidence.append(self._boundary(index, "started"))

    def finish(self, index: int, summary: str, *, killed: bool = False) -> list[Signal]:
        """The 'completed' boundary: signals consumed, state, evidence and outbox message commit together."""
        agents, document = self.agents, DOCUMENTS[index]
        with agents.transactions.begin():
            consumed = agents.signals.consume(AGENT_ID, WHILE_WORKING)
            metadata = dict(self.state.metadata)
            notes = texts(metadata.get("notes"))
            notes += [str(s.payload) for s in consumed if s.kind is SignalKind.USER_MESSAGE]
            summaries = metadata.get("summaries")
            done = {**(summaries if isinstance(summaries, Mapping) else {}), document: summary}
            paused = any(signal.kind is SignalKind.PAUSE for signal in consumed)
            finished = index + 1 == len(DOCUMENTS)
            state = attrs.evolve(
                self.state,
                metadata={**metadata, "next": index + 1, "summaries": done, "notes": notes},
                current_activity="done" if finished else "paused" if paused else "between documents",
            )
            if finished:
                state = attrs.evolve(state, status=AgentStatus.COMPLETED, transition="complete")
            elif paused:
                state = attrs.evolve(state, status=AgentStatus.INTERRUPTED, transition="pause")
            saved = agents.states.save_owned(state, self.lease)
            agents.evidence.append(self._boundary(index, "completed"))
            payload = {"agent": AGENT_ID, "document": document, "summary": summary}
            agents.outbox.add(
                new_message(
                    "agent.summary",
                    json.dumps(payload).encode(),
                    ordering_key=AGENT_ID,
                    idempotency_key=f"{AGENT_ID}:{document}",
                )
            )
            if killed:
                raise KilledError(f"{self.name} was killed before its boundary transaction committed")
        self.state = saved
        if not finished:
            self.lease = agents.states.extend(self.lease, lease_for=LEASE)
        return consumed

    def work(self, index: int) -> str:
        """The action itself (it takes ``WORK_TIME`` on the demo's clock)."""
        self.agents.clock.advance(WORK_TIME)
        return summarise(DOCUMENTS[index], texts(self.state.metadata.get("notes")))

    def act(self, index: int) -> list[Signal]:
        """One whole action: its started boundary, the work, its completed boundary."""
        self.start(index)
        return self.finish(index, self.work(index))

    def poll_while_paused(self) -> list[Signal]:
        """A safe point of a paused agent: it only takes a resume (and keeps its lease alive)."""
        agents = self.agents
        with agents.transactions.begin():
            consumed = agents.signals.consume(AGENT_ID, WHILE_PAUSED)
            if consumed:
                self.state = agents.states.save_owned(
                    attrs.evolve(
                        self.state,
                        status=AgentStatus.ACTIVE,
                        transition="resume",
                        current_activity="between documents",
                    ),
                    self.lease,
                )
        self.lease = agents.states.extend(self.lease, lease_for=LEASE)
        return consumed

    def _boundary(self, index: int, phase: str) -> Evidence:
        payload: dict[str, JsonValue] = {
            "action": f"summarise {DOCUMENTS[index]}",
            "document": index,
            "phase": phase,
        }
        if phase == "started":
            payload["idempotent"] = True
        return new_evidence(AGENT_ID, EvidenceKind.ACTION_BOUNDARY, payload, now=self.agents.clock())


def action_of(entry: Evidence) -> str:
    return str(entry.payload.get("action")) if isinstance(entry.payload, Mapping) else "?"


def phase_of(entry: Evidence) -> str:
    return str(entry.payload.get("phase")) if isinstance(entry.payload, Mapping) else "?"


def resume_position(decision: Decision) -> int | None:
    """The index of the document to work on next, or None when a human must decide."""
    if decision.action is RecoveryAction.START:
        return 0
    payload = decision.boundary.payload if decision.boundary is not None else None
    index = payload.get("document") if isinstance(payload, Mapping) else None
    if not isinstance(index, int):
        return None
    if decision.action is RecoveryAction.RETRY_IDEMPOTENT:
        return index
    if decision.action is RecoveryAction.SKIP_COMPLETED:
        return index + 1
    return None


def send(agents: Agents, kind: SignalKind, payload: JsonValue = None) -> Signal:
    with agents.transactions.begin():
        return agents.signals.send(new_signal(AGENT_ID, kind, payload, now=agents.clock()))


def claim(agents: Agents, runner: str) -> RunnerLease | None:
    return agents.states.claim_resumable(runner, lease_for=LEASE)


def report(runner: Runner, index: int, consumed: Sequence[Signal]) -> None:
    state = runner.state
    say(
        f"{runner.name}: {DOCUMENTS[index]} done; boundary committed: state version {state.version}, "
        f"status {state.status.value}, signals consumed: {kinds(consumed)}"
    )


def run(transactions: SqlAlchemyTransactionManager) -> None:
    """Create the agent, run it with a pause and a resume, kill its runner, resume it elsewhere."""
    agents = wire(transactions)
    with transactions.begin():  # the agent's state exists before any signal or evidence names it
        created = agents.states.save(
            new_agent_state(
                AGENT_ID,
                "summariser",
                status=AgentStatus.ACTIVE,
                metadata={"next": 0, "summaries": {}, "notes": []},
            )
        )
    say(f"created agent {AGENT_ID} to summarise {len(DOCUMENTS)} documents: state version {created.version}")

    lease = claim(agents, "runner-1")
    assert lease is not None
    first = Runner("runner-1", agents, lease)
    say(f"runner-1 claimed it: a {LEASE.seconds} s lease and a fresh fencing token")
    report(first, 0, first.act(0))
    pause = send(agents, SignalKind.PAUSE)
    say(f"sent signal #{pause.sequence}: pause")
    report(first, 1, first.act(1))
    say(f"runner-1 polls at a safe point: consumed {kinds(first.poll_while_paused())}; it stays paused")
    resume = send(agents, SignalKind.RESUME)
    message = send(agents, SignalKind.USER_MESSAGE, "list the deadlines")
    say(f"sent signal #{resume.sequence}: resume, and #{message.sequence}: user_message")
    consumed = first.poll_while_paused()
    with transactions.begin(read_only=True):
        pending = agents.signals.pending_count(AGENT_ID)
    say(
        f"runner-1 polls: consumed {kinds(consumed)} -> state version {first.state.version}, "
        f"status {first.state.status.value}; {pending} signal pending until its next boundary"
    )

    first.start(2)
    summary = first.work(2)
    try:
        first.finish(2, summary, killed=True)
    except KilledError:
        say(
            f"runner-1 started {DOCUMENTS[2]} (state version {first.state.version}), summarised it and was "
            "killed inside its completing boundary transaction, before the commit"
        )
    with transactions.begin(read_only=True):
        state = agents.states.get(AGENT_ID)
        pending = agents.signals.pending_count(AGENT_ID)
        last = agents.evidence.last(AGENT_ID)
    assert last is not None
    outbox = agents.relay_store.stats().pending
    say(
        f"after the kill: state version {state.version} ({state.current_activity}), {pending} signal "
        f"pending, last evidence #{last.sequence}: {last.kind} '{action_of(last)}' {phase_of(last)}, "
        f"{outbox} outbox messages pending: the whole boundary rolled back"
    )

    say(
        f"runner-2 tries to claim it at once: claim_resumable -> {claim(agents, 'runner-2')} (runner-1's lease holds)"
    )
    agents.clock.advance(LEASE)
    lease = claim(agents, "runner-2")
    assert lease is not None
    second = Runner("runner-2", agents, lease)
    say(
        f"the clock moves on {LEASE.seconds} s, runner-1's lease expires: runner-2 claims the agent at state "
        f"version {lease.state.version}, with a new fencing token"
    )
    try:
        first.finish(2, summary)
    except LeaseLostError as error:
        say(f"if runner-1 had only stalled, its late save of that boundary is refused: {error}")

    with transactions.begin(read_only=True):
        decision = decide_from_log(second.state, agents.evidence)
    say(
        f"runner-2 reads the last action boundary; decide_from_log() -> {decision.action.value}: {decision.reason}"
    )
    position = resume_position(decision)
    if position is None:
        say("a human must decide: runner-2 gives the agent up")
        agents.states.release(second.lease)
        return
    with transactions.begin():
        recorded = agents.evidence.append(
            new_evidence(
                AGENT_ID,
                EvidenceKind.DECISION,
                {"recovery": decision.action.value, "runner": "runner-2", "from_document": position},
                now=agents.clock(),
            )
        )
    say(
        f"runner-2 records the decision as evidence #{recorded.sequence} and resumes at {DOCUMENTS[position]}"
    )
    for index in range(position, len(DOCUMENTS)):
        report(second, index, second.act(index))
    say(f"runner-2 releases its lease: release -> {agents.states.release(second.lease)}")

    with transactions.begin(read_only=True):
        state = agents.states.get(AGENT_ID)
        entries = agents.evidence.list_by_agent(AGENT_ID)
        verified = agents.evidence.verify(AGENT_ID)
        pending = agents.signals.pending_count(AGENT_ID)
    summaries = state.metadata.get("summaries")
    say(
        f"final: state version {state.version}, status {state.status.value}, "
        f"{len(summaries) if isinstance(summaries, Mapping) else 0} summaries, {pending} signals pending"
    )
    say(f"evidence: {len(entries)} entries, verify() -> ok={verified.ok} (the hash chain is intact)")
    say(
        f"outbox: {agents.relay_store.stats().pending} messages pending for the relay, one per document "
        f"(the killed boundary's message was never committed)"
    )
