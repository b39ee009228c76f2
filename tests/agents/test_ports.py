"""The agent ports' pure parts: validation, the canonical evidence encoding and chain verification."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hexalchemy.ports import (
    AgentStatus,
    Evidence,
    EvidenceKind,
    InvalidAgentDataError,
    InvalidArgumentError,
    SignalKind,
)
from hexalchemy.rules import (
    canonical_evidence_bytes,
    canonical_json,
    chain_evidence,
    check_lease_for,
    check_limit,
    check_maximum,
    evidence_hash,
    new_agent_state,
    new_evidence,
    new_signal,
    normalize_json,
    validate_agent_state,
    validate_signal,
    verify_chain,
)
from hexalchemy.rules.agent_limits import MAX_PAGE_LIMIT
from hexalchemy.rules.evidence_chain import EVIDENCE_HASH_VERSION

_NOT_JSON: Any = object()

FIXED = Evidence(
    id=uuid.UUID("01890000-0000-7000-8000-000000000001"),
    agent_id="agent-1",
    kind="action_boundary",
    payload={"phase": "started", "action": "é", "n": [1, 2.5, None, True]},
    summary="s",
    created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    sequence=1,
)


def test_the_canonical_encoding_is_pinned() -> None:
    # SQL and memory adapters must agree byte for byte: change EVIDENCE_HASH_VERSION to change this.
    assert (
        canonical_evidence_bytes(FIXED)
        == (
            '{"agent_id":"agent-1","created_at":"2026-01-02T03:04:05.000006+00:00","digest":null,'
            '"id":"01890000-0000-7000-8000-000000000001","kind":"action_boundary","manifest_ref":null,'
            '"payload":{"action":"é","n":[1,2.5,null,true],"phase":"started"},"previous_hash":null,'
            '"reference":null,"sensitive_fields":[],"sequence":1,"summary":"s","v":1}'
        ).encode()
    )
    assert evidence_hash(FIXED) == evidence_hash(attrs.evolve(FIXED, hash="ignored"))
    assert len(evidence_hash(FIXED)) == 64


def test_the_encoding_does_not_depend_on_the_time_zone_or_key_order() -> None:
    other_zone = FIXED.created_at.astimezone(dt.timezone(dt.timedelta(hours=5)))
    reordered: dict[str, Any] = {"n": [1, 2.5, None, True], "phase": "started", "action": "é"}
    assert evidence_hash(attrs.evolve(FIXED, created_at=other_zone, payload=reordered)) == evidence_hash(
        FIXED
    )


def _as_specified(entry: Evidence) -> bytes:
    """The canonical encoding as its docstring specifies it: ``json.dumps`` of the whole document."""
    document = {
        "v": EVIDENCE_HASH_VERSION,
        "id": str(entry.id),
        "agent_id": entry.agent_id,
        "sequence": entry.sequence,
        "kind": str(entry.kind),
        "payload": entry.payload,
        "summary": entry.summary,
        "digest": entry.digest,
        "manifest_ref": entry.manifest_ref,
        "reference": entry.reference,
        "sensitive_fields": list(entry.sensitive_fields),
        "created_at": entry.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "previous_hash": entry.previous_hash,
    }
    return canonical_json(document).encode("utf-8")


_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@given(
    text=_text,
    optional=st.none() | _text,
    payload=_json,
    fields=st.lists(_text, max_size=3),
    sequence=st.integers(min_value=0, max_value=2**62),
    offset=st.integers(min_value=-12, max_value=12),
)
def test_the_encoding_is_json_dumps_of_the_document(
    text: str, optional: str | None, payload: Any, fields: list[str], sequence: int, offset: int
) -> None:
    # canonical_evidence_bytes writes the document key by key; it must be byte for byte
    # what json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) writes.
    entry = Evidence(
        id=uuid.uuid4(),
        agent_id=text,
        kind=text,
        payload=payload,
        summary=optional,
        digest=optional,
        manifest_ref=text,
        reference=optional,
        sensitive_fields=tuple(fields),
        created_at=FIXED.created_at.astimezone(dt.timezone(dt.timedelta(hours=offset))),
        sequence=sequence,
        previous_hash=optional,
    )
    assert canonical_evidence_bytes(entry) == _as_specified(entry)
    assert canonical_evidence_bytes(entry, payload_json=canonical_json(payload)) == _as_specified(entry)


def test_chain_evidence_numbers_links_and_hashes_a_copy() -> None:
    entry = attrs.evolve(FIXED, sequence=0, hash="")
    chained = chain_evidence(entry, 4, "f" * 64)
    assert (chained.sequence, chained.previous_hash) == (4, "f" * 64)
    assert chained.hash == evidence_hash(chained)
    assert chain_evidence(entry, 4, "f" * 64, payload_json=canonical_json(entry.payload)) == chained
    assert (entry.sequence, entry.hash) == (0, "")  # the given entry is left as it was


def _chain(count: int) -> list[Evidence]:
    entries: list[Evidence] = []
    previous: str | None = None
    for sequence in range(1, count + 1):
        entry = attrs.evolve(FIXED, id=uuid.uuid4(), sequence=sequence, previous_hash=previous)
        entry = attrs.evolve(entry, hash=evidence_hash(entry))
        previous = entry.hash
        entries.append(entry)
    return entries


def test_verify_chain_accepts_an_intact_or_empty_chain() -> None:
    assert verify_chain(_chain(3)).ok
    assert verify_chain([]).ok


def test_verify_chain_names_the_first_broken_entry() -> None:
    entries = _chain(4)
    entries[2] = attrs.evolve(entries[2], summary="edited")
    result = verify_chain(entries)
    assert (result.ok, result.first_broken_sequence) == (False, 3)
    gap = verify_chain([entries[0], entries[2]])
    assert (gap.ok, gap.first_broken_sequence) == (False, 2)


def test_verify_chain_continues_from_the_entry_before_a_page() -> None:
    entries = _chain(5)
    first, second = entries[:2], entries[2:]
    assert verify_chain(second, previous=(2, first[-1].hash)).ok
    assert not verify_chain(second).ok
    wrong = verify_chain(second, previous=(2, "0" * 64))
    assert (wrong.ok, wrong.first_broken_sequence) == (False, 3)


@pytest.mark.parametrize(
    ("count", "head", "broken"),
    [(4, 4, None), (0, 0, None), (3, 4, 4), (4, 3, 4), (4, "other", 4)],
)
def test_verify_chain_checks_the_recorded_head(count: int, head: int | str, broken: int | None) -> None:
    """A chain of ``count`` entries against a recorded head; ``"other"``: sequence 4, another hash."""
    full = _chain(4)
    entries = full[:count]
    recorded = (4, "0" * 64) if head == "other" else (int(head), full[int(head) - 1].hash if head else None)
    result = verify_chain(entries, recorded_head=recorded)
    assert (result.ok, result.first_broken_sequence) == (broken is None, broken)


def test_new_values_are_validated_and_normalised() -> None:
    signal = new_signal("a", SignalKind.CANCEL, (1, 2))
    assert signal.payload == [1, 2] and signal.sequence == 0
    entry = new_evidence("a", EvidenceKind.NOTE, sensitive_fields=["secret"])
    assert entry.kind == "note" and type(entry.kind) is str and entry.sensitive_fields == ("secret",)
    assert new_agent_state("a", "t").status is AgentStatus.CREATED


@pytest.mark.parametrize(
    "build",
    [
        lambda: new_agent_state("", "t"),
        lambda: new_agent_state("a", "t", metadata={"x": float("nan")}),
        lambda: new_agent_state("a", "t", metadata={"x": _NOT_JSON}),
        lambda: validate_agent_state(attrs.evolve(new_agent_state("a", "t"), version=-1)),
        lambda: validate_agent_state(attrs.evolve(new_agent_state("a", "t"), reason="x" * 5000)),
        lambda: new_signal("a", SignalKind.CANCEL, "\x00"),
        lambda: validate_signal(
            attrs.evolve(new_signal("a", SignalKind.CANCEL), consumed_at=dt.datetime.now(dt.UTC))
        ),
        lambda: new_evidence("a", "  "),
        lambda: new_evidence("a", "note", sensitive_fields=[""]),
        # a lone surrogate: a Python str may hold one, no database takes it
        lambda: new_agent_state("a\ud800", "t"),
        lambda: new_evidence("a", "note", {"text": "\udc00"}),
        lambda: new_evidence("a", "note", {"\ud800": 1}),
        lambda: new_signal("a", SignalKind.CANCEL, ["\ud800"]),
        lambda: new_evidence("a", "note", summary="\ud800"),
    ],
)
def test_bad_values_are_refused(build: Any) -> None:
    with pytest.raises(InvalidAgentDataError):
        build()


@pytest.mark.parametrize("value", [0, -1, MAX_PAGE_LIMIT + 1, True, 1.5, None])
def test_bad_limits_are_refused(value: object) -> None:
    with pytest.raises(InvalidArgumentError, match="limit"):
        check_limit(value)
    with pytest.raises(InvalidArgumentError, match="maximum"):
        check_maximum(value)


def test_bad_lease_durations_are_refused() -> None:
    for value in (dt.timedelta(0), dt.timedelta(seconds=-1), dt.timedelta(days=366), 5):
        with pytest.raises(InvalidArgumentError, match="lease_for"):
            check_lease_for(value)


def test_normalize_json_limits_the_size() -> None:
    assert normalize_json("p", {"a": "x" * 10}, limit=100) == {"a": "x" * 10}
    with pytest.raises(InvalidAgentDataError):
        normalize_json("p", "x" * 200, limit=100)


@pytest.mark.parametrize(
    ("value", "key", "where"),
    [
        ({1: "a"}, 1, "payload[1]"),
        ({1.5: "a"}, 1.5, "payload[1.5]"),
        ({True: "a"}, True, "payload[True]"),
        ({None: "a"}, None, "payload[None]"),
        ({"a": {"b": [{"c": 1}, {2: "x"}]}}, 2, 'payload["a"]["b"][1][2]'),
        ([("x", {"ok": {3: None}})], 3, 'payload[0][1]["ok"][3]'),
    ],
)
def test_normalize_json_refuses_keys_that_are_not_str(value: object, key: object, where: str) -> None:
    # json.dumps would store {1: "a"} as {"1": "a"}: the value would not come back as given.
    with pytest.raises(InvalidAgentDataError) as raised:
        normalize_json("payload", value)
    assert (raised.value.field, raised.value.value) == ("payload", key)
    assert f"(at {where})" in str(raised.value)
    assert "must be a str" in str(raised.value)


def test_keys_that_are_not_str_are_refused_in_every_json_field() -> None:
    int_keys: Any = {"n": {1: 1}}  # the types refuse them too; the check is for untyped callers
    with pytest.raises(InvalidAgentDataError, match="metadata"):
        new_agent_state("a", "t", metadata=int_keys)
    with pytest.raises(InvalidAgentDataError, match="payload"):
        new_signal("a", SignalKind.CANCEL, int_keys)
    with pytest.raises(InvalidAgentDataError, match="payload"):
        new_evidence("a", "note", [int_keys])


def test_normalize_json_keeps_str_keys_at_every_depth() -> None:
    value = {"a": [{"b": {"c": (1, 2)}}], "d": {"e": None}}
    assert normalize_json("p", value) == {"a": [{"b": {"c": [1, 2]}}], "d": {"e": None}}


def test_normalize_json_refuses_a_value_nested_too_deeply() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidAgentDataError, match="nest more than 200 deep"):
        normalize_json("payload", deep)
