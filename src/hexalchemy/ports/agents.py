"""Durable AI-agent persistence ports: agent state, signal queue and evidence log.

Three stores, each with a sync and an async twin, and the value types they speak:

- :class:`AgentStateStore` keeps one :class:`AgentState` per agent, written with
  compare-and-set on ``version`` (as a versioned repository), listed by status with keyset
  pagination (:class:`Page`), and *owned* by one runner at a time through a
  :class:`RunnerLease` (``claim_resumable`` / ``extend`` / ``release`` / ``save_owned``).
- :class:`SignalQueue` holds the :class:`Signal` values sent to an agent (user messages,
  approvals, cancel...), numbered per agent; ``consume`` takes the longest prefix of
  pending signals whose kinds the agent accepts now, each exactly once.
- :class:`EvidenceLog` is an append-only, hash-chained log of :class:`Evidence` per agent;
  ``verify`` detects an entry edited, deleted or reordered behind the library's back.

Transactions (decided here, the same for every adapter):

- Every method works in the *ambient* transaction of the store's transaction manager, as
  repositories do (``NoActiveTransactionError`` outside one, ``ReadOnlyTransactionError``
  for a write in a read-only one) -- except the three lease calls
  ``claim_resumable``, ``extend`` and ``release``, which run in their *own* transaction
  (so that other runners see a claim at once) and are refused with
  ``TransactionUsageError`` when called inside a transaction of the manager, as the outbox
  relay store's calls are.
- ``save_owned`` works in the ambient transaction and checks the lease when it is called
  (SQL: in the statement that writes the row).

Signals and evidence belong to an agent: sending or appending for an agent with no state
visible to the transaction raises ``EntityNotFoundError(AgentState, agent_id)`` and writes
nothing (the SQL tables have foreign keys to the states table).

Every value is validated before anything is written (:class:`InvalidAgentDataError`);
the limits are the ``MAX_*`` constants below. The canonical encoding and hash of evidence
(:func:`canonical_evidence_bytes`, :func:`evidence_hash`, :func:`verify_chain`) are pure
functions here, so that every adapter computes the same chain.

Standard library and attrs only.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Generic, Protocol, TypeAlias, TypeVar

import attrs

from hexalchemy.ports._text import encodes_as_utf8
from hexalchemy.ports.errors import HexalchemyError
from hexalchemy.ports.outbox import time_ordered_uuid

__all__ = [
    "ACTIVE_STATUSES",
    "EVIDENCE_HASH_VERSION",
    "MAX_AGENT_ID_LENGTH",
    "MAX_AGENT_PAYLOAD_BYTES",
    "MAX_AGENT_TEXT_LENGTH",
    "MAX_PAGE_LIMIT",
    "AgentState",
    "AgentStateStore",
    "AgentStatus",
    "AsyncAgentStateStore",
    "AsyncEvidenceLog",
    "AsyncSignalQueue",
    "Evidence",
    "EvidenceKind",
    "EvidenceLog",
    "InvalidAgentDataError",
    "JsonValue",
    "LeaseLostError",
    "Page",
    "RunnerLease",
    "Signal",
    "SignalKind",
    "SignalQueue",
    "VerifyResult",
    "canonical_evidence_bytes",
    "canonical_json",
    "chain_evidence",
    "check_after_sequence",
    "check_agent_id",
    "check_evidence_kind",
    "check_lease_for",
    "check_limit",
    "check_maximum",
    "check_runner",
    "evidence_hash",
    "normalize_json",
    "verify_chain",
]

T = TypeVar("T")

JsonValue: TypeAlias = "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
"""A JSON-able value: stored values come back as ``dict`` / ``list`` (tuples become lists)."""

MAX_AGENT_ID_LENGTH: Final = 255
"""The longest id, agent type, runner name, idempotency key, kind or reference, in characters."""
MAX_AGENT_TEXT_LENGTH: Final = 4096
"""The longest free text (reason, activity, summary, transition...), in characters."""
MAX_AGENT_PAYLOAD_BYTES: Final = 64 * 1024
"""The largest JSON payload or metadata, in bytes of its canonical UTF-8 encoding."""
MAX_PAGE_LIMIT: Final = 1000
"""The largest ``limit`` (or ``maximum``) of one list or consume call."""
EVIDENCE_HASH_VERSION: Final = 1
"""The version of the canonical evidence encoding, included in every hashed document."""


# -- errors -------------------------------------------------------------------------------------


class InvalidAgentDataError(HexalchemyError):
    """A value given to an agent store is not valid (blank id, unknown kind...); nothing was written."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid agent data: {field}={shown}: {reason}")


class LeaseLostError(HexalchemyError):
    """The runner's lease on an agent expired or was taken over; the write was refused."""

    def __init__(self, agent_id: str, runner: str, reason: str) -> None:
        self.agent_id = agent_id
        self.runner = runner
        self.reason = reason
        super().__init__(f"runner {runner!r} lost its lease on agent {agent_id!r}: {reason}")


# -- validation helpers (shared by every adapter) ---------------------------------------------


def _check_text(field: str, value: object, limit: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidAgentDataError(field, value, "must be a str")
    if not value.strip():
        raise InvalidAgentDataError(field, value, "must not be blank")
    if len(value) > limit:
        raise InvalidAgentDataError(field, value, f"is longer than {limit} characters")
    if "\x00" in value:
        raise InvalidAgentDataError(field, value, "must not contain NUL characters")
    if not encodes_as_utf8(value):
        raise InvalidAgentDataError(field, value, "must be valid Unicode (it holds a lone surrogate)")


def _check_datetime(field: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise InvalidAgentDataError(field, value, "must be a timezone-aware datetime")


def _encode_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_keys(field: str, value: object) -> None:
    """Raise :class:`InvalidAgentDataError` on the first mapping key, at any depth, that is not a str.

    ``json.dumps`` would silently turn an int, float, bool or None key into a str (``{1: "a"}``
    is stored as ``{"1": "a"}``), so such a value would not come back as it was given.
    ``value`` has been encoded already (no cycles); the walk is iterative, so depth is no limit.
    """
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        children: Iterable[tuple[object, object]]
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    where = f"{field}{path}"
                    raise InvalidAgentDataError(
                        field, key, f"mapping keys must be str, not {type(key).__name__} (a key of {where})"
                    )
            children = item.items()
        elif isinstance(item, (list, tuple)):
            children = enumerate(item)
        else:
            continue
        for key, child in children:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, f"{path}[{key!r}]"))


def normalize_json(field: str, value: object, *, limit: int = MAX_AGENT_PAYLOAD_BYTES) -> JsonValue:
    """Return ``value`` as stored (dicts and lists), or raise :class:`InvalidAgentDataError` naming ``field``.

    Refuses values JSON cannot hold (NaN, objects, values nested too deeply), mapping keys
    that are not str at any depth (JSON would turn ``{1: "a"}`` into ``{"1": "a"}``), NUL
    characters in strings, and encodings larger than ``limit`` bytes.
    """
    try:
        text = _encode_json(value)
    except (TypeError, ValueError) as exc:
        raise InvalidAgentDataError(field, value, f"must be JSON-able ({exc})") from exc
    except RecursionError as exc:
        raise InvalidAgentDataError(field, "<nested value>", "is nested too deeply") from exc
    if "\\u0000" in text:
        raise InvalidAgentDataError(field, value, "must not contain NUL characters")
    try:
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidAgentDataError(
            field, value, "must be valid Unicode (a str holds a lone surrogate)"
        ) from exc
    if size > limit:
        raise InvalidAgentDataError(field, f"<{size} bytes>", f"is larger than {limit} bytes")
    try:
        loaded: JsonValue = json.loads(text)
        changed = loaded != value
    except RecursionError as exc:
        raise InvalidAgentDataError(field, "<nested value>", "is nested too deeply") from exc
    if changed:
        # A key JSON turned into a str ({1: "a"} came back as {"1": "a"}), or only tuples
        # that came back as lists: the walk tells which (and raises on the first bad key).
        _check_keys(field, value)
    return loaded


def check_limit(limit: object, field: str = "limit") -> int:
    """Return ``limit`` if it is an int in 1..:data:`MAX_PAGE_LIMIT`, else raise :class:`InvalidAgentDataError`."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidAgentDataError(field, limit, f"must be an int from 1 to {MAX_PAGE_LIMIT}")
    return limit


def check_maximum(maximum: object) -> int:
    """Validate the ``maximum`` of :meth:`SignalQueue.consume` (1..:data:`MAX_PAGE_LIMIT`)."""
    return check_limit(maximum, "maximum")


def check_after_sequence(after_sequence: object) -> int:
    """Return ``after_sequence`` if it is an int >= 0 (a listing's cursor), else raise :class:`InvalidAgentDataError`."""
    if not isinstance(after_sequence, int) or isinstance(after_sequence, bool) or after_sequence < 0:
        raise InvalidAgentDataError("after_sequence", after_sequence, "must be an int >= 0")
    return after_sequence


def check_evidence_kind(kind: object) -> str:
    """Return ``kind`` as stored (an :class:`EvidenceKind`'s value, or a non-blank str), else raise."""
    if isinstance(kind, EvidenceKind):
        return kind.value
    _check_text("kind", kind, MAX_AGENT_ID_LENGTH)
    assert isinstance(kind, str)
    return kind


def check_lease_for(lease_for: object) -> dt.timedelta:
    """Return ``lease_for`` if it is a positive timedelta, else raise :class:`InvalidAgentDataError`."""
    if not isinstance(lease_for, dt.timedelta) or lease_for <= dt.timedelta(0):
        raise InvalidAgentDataError("lease_for", lease_for, "must be a timedelta > 0")
    return lease_for


def check_agent_id(agent_id: object, field: str = "agent_id") -> str:
    """Return ``agent_id`` if it is a valid agent id (non-blank str), else raise :class:`InvalidAgentDataError`."""
    _check_text(field, agent_id, MAX_AGENT_ID_LENGTH)
    assert isinstance(agent_id, str)
    return agent_id


def check_runner(runner: object) -> str:
    """Return ``runner`` if it is a valid runner name, else raise :class:`InvalidAgentDataError`."""
    _check_text("runner", runner, MAX_AGENT_ID_LENGTH)
    assert isinstance(runner, str)
    return runner


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- agent state --------------------------------------------------------------------------------


class AgentStatus(enum.Enum):
    """Where an agent is in its life; stored as the lower-case value."""

    CREATED = "created"
    ACTIVE = "active"
    INTERRUPTED = "interrupted"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES: Final = frozenset({AgentStatus.ACTIVE, AgentStatus.INTERRUPTED})
"""The statuses of resume candidates (``list_resume_candidates``, ``claim_resumable``)."""

_STATE_TEXT_FIELDS: Final = ("transition", "reason", "current_activity")
_STATE_REF_FIELDS: Final = ("input_ref", "output_ref", "last_event_cursor", "recovery_marker")


@attrs.frozen(kw_only=True)
class AgentState:
    """The durable state of one agent; saved with compare-and-set on ``version``.

    A new state has ``version`` 0 (build it with :meth:`create`). The store sets
    ``created_at`` at the first save (and keeps it afterwards) and ``updated_at`` at every
    save, from its clock (at the first save both are the same instant); the values given
    are ignored. ``metadata`` is JSON-able.
    """

    id: str
    agent_type: str
    status: AgentStatus = AgentStatus.CREATED
    transition: str | None = None
    """The name of the last transition taken (free text)."""
    reason: str | None = None
    """Why the agent is in its status (a failure, a cancel reason...)."""
    current_activity: str | None = None
    input_ref: str | None = None
    output_ref: str | None = None
    last_event_cursor: str | None = None
    recovery_marker: str | None = None
    metadata: Mapping[str, JsonValue] = attrs.field(factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    version: int = 0

    @classmethod
    def create(
        cls,
        id: str,
        agent_type: str,
        *,
        status: AgentStatus = AgentStatus.CREATED,
        metadata: Mapping[str, JsonValue] | None = None,
        input_ref: str | None = None,
    ) -> AgentState:
        """Build and validate a new state (version 0); set the other fields with ``attrs.evolve``."""
        state = cls(
            id=id,
            agent_type=agent_type,
            status=status,
            metadata=dict(metadata) if metadata is not None else {},
            input_ref=input_ref,
        )
        return state.validate()

    def validate(self) -> AgentState:
        """Raise :class:`InvalidAgentDataError` on the first bad field; return the state as stored (normalised metadata)."""
        _check_text("id", self.id, MAX_AGENT_ID_LENGTH)
        _check_text("agent_type", self.agent_type, MAX_AGENT_ID_LENGTH)
        if not isinstance(self.status, AgentStatus):
            raise InvalidAgentDataError("status", self.status, "must be an AgentStatus")
        for field in _STATE_TEXT_FIELDS:
            _check_text(field, getattr(self, field), MAX_AGENT_TEXT_LENGTH, optional=True)
        for field in _STATE_REF_FIELDS:
            _check_text(field, getattr(self, field), MAX_AGENT_ID_LENGTH, optional=True)
        if not isinstance(self.metadata, Mapping):
            raise InvalidAgentDataError("metadata", self.metadata, "must be a mapping of str to JSON")
        metadata = normalize_json("metadata", self.metadata)
        _check_datetime("created_at", self.created_at, optional=True)
        _check_datetime("updated_at", self.updated_at, optional=True)
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 0:
            raise InvalidAgentDataError("version", self.version, "must be an int >= 0")
        assert isinstance(metadata, dict)
        return attrs.evolve(self, metadata=metadata)


@attrs.frozen
class Page(Generic[T]):
    """One page of a keyset-paginated listing.

    ``next_cursor`` is None exactly when no item follows this page; otherwise pass it as
    ``after`` to get the next page. Cursors are opaque strings (today: the last item's id).
    """

    items: tuple[T, ...]
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class RunnerLease:
    """One runner's ownership of one agent until ``expires_at``; ``token`` fences its writes.

    ``state`` is the agent's committed state when the lease was claimed.
    """

    agent_id: str
    runner: str
    token: uuid.UUID
    expires_at: dt.datetime
    state: AgentState


# -- signals ------------------------------------------------------------------------------------


class SignalKind(enum.Enum):
    """What a signal asks of an agent; stored as the lower-case value."""

    USER_MESSAGE = "user_message"
    APPROVAL_DECISION = "approval_decision"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    STEERING_INSTRUCTION = "steering_instruction"
    EXTERNAL_EVENT = "external_event"
    SCHEDULER_WAKE_UP = "scheduler_wake_up"


@attrs.frozen(kw_only=True)
class Signal:
    """A message to one agent, waiting in its queue until consumed.

    Build new signals with :meth:`create`. ``sequence`` (per agent, from 1) is assigned by
    the queue when the signal is sent; ``consumed_at`` is set by ``consume``.
    """

    id: uuid.UUID
    agent_id: str
    kind: SignalKind
    payload: JsonValue = None
    idempotency_key: str | None = None
    sequence: int = 0
    sent_at: dt.datetime
    consumed_at: dt.datetime | None = None

    @classmethod
    def create(
        cls,
        agent_id: str,
        kind: SignalKind,
        payload: JsonValue = None,
        *,
        idempotency_key: str | None = None,
        now: dt.datetime | None = None,
    ) -> Signal:
        """Validate and build a new signal; raise :class:`InvalidAgentDataError` on bad input."""
        sent_at = now if now is not None else _utcnow()
        signal = cls(
            id=time_ordered_uuid(sent_at),
            agent_id=agent_id,
            kind=kind,
            payload=payload,
            idempotency_key=idempotency_key,
            sent_at=sent_at,
        )
        return signal.validate()

    def validate(self) -> Signal:
        """Raise :class:`InvalidAgentDataError` on the first bad field; return the signal as stored."""
        if not isinstance(self.id, uuid.UUID):
            raise InvalidAgentDataError("id", self.id, "must be a UUID")
        _check_text("agent_id", self.agent_id, MAX_AGENT_ID_LENGTH)
        if not isinstance(self.kind, SignalKind):
            raise InvalidAgentDataError("kind", self.kind, "must be a SignalKind")
        payload = normalize_json("payload", self.payload)
        _check_text("idempotency_key", self.idempotency_key, MAX_AGENT_ID_LENGTH, optional=True)
        _check_datetime("sent_at", self.sent_at)
        if self.consumed_at is not None:
            raise InvalidAgentDataError("consumed_at", self.consumed_at, "a new signal is not consumed")
        return attrs.evolve(self, payload=payload)


# -- evidence -----------------------------------------------------------------------------------


class EvidenceKind(enum.Enum):
    """Well-known evidence kinds; :attr:`Evidence.kind` is a free str, these are its usual values."""

    ACTION_BOUNDARY = "action_boundary"
    """Marks a phase of an action: payload ``{"action": str, "phase": "started" | "completed", "idempotent": bool}``."""
    OBSERVATION = "observation"
    DECISION = "decision"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    MESSAGE = "message"
    NOTE = "note"


@attrs.frozen(kw_only=True)
class Evidence:
    """One entry of an agent's append-only evidence log.

    Build new entries with :meth:`create`. ``sequence`` (per agent, from 1),
    ``previous_hash`` (None for the first entry) and ``hash`` are set by the log at append:
    ``hash == evidence_hash(entry)``. ``kind`` is free text (see :class:`EvidenceKind`).
    """

    id: uuid.UUID
    agent_id: str
    kind: str
    payload: JsonValue = None
    summary: str | None = None
    digest: str | None = None
    """A digest of an artefact outside the log (e.g. ``sha256:...``), given by the caller."""
    manifest_ref: str | None = None
    reference: str | None = None
    sensitive_fields: tuple[str, ...] = ()
    """Payload keys the reader should treat as sensitive (the log stores them as given)."""
    created_at: dt.datetime
    sequence: int = 0
    previous_hash: str | None = None
    hash: str = ""

    @classmethod
    def create(
        cls,
        agent_id: str,
        kind: str | EvidenceKind,
        payload: JsonValue = None,
        *,
        summary: str | None = None,
        digest: str | None = None,
        manifest_ref: str | None = None,
        reference: str | None = None,
        sensitive_fields: Iterable[str] = (),
        now: dt.datetime | None = None,
    ) -> Evidence:
        """Validate and build a new entry; raise :class:`InvalidAgentDataError` on bad input."""
        created_at = now if now is not None else _utcnow()
        entry = cls(
            id=time_ordered_uuid(created_at),
            agent_id=agent_id,
            kind=kind.value if isinstance(kind, EvidenceKind) else kind,
            payload=payload,
            summary=summary,
            digest=digest,
            manifest_ref=manifest_ref,
            reference=reference,
            sensitive_fields=tuple(sensitive_fields),
            created_at=created_at,
        )
        return entry.validate()

    def validate(self) -> Evidence:
        """Raise :class:`InvalidAgentDataError` on the first bad field; return the entry as stored.

        The entry returned has its payload normalised and ``created_at`` in UTC, rounded to
        microseconds (what every adapter stores and hashes).
        """
        if not isinstance(self.id, uuid.UUID):
            raise InvalidAgentDataError("id", self.id, "must be a UUID")
        _check_text("agent_id", self.agent_id, MAX_AGENT_ID_LENGTH)
        _check_text("kind", self.kind, MAX_AGENT_ID_LENGTH)
        payload = normalize_json("payload", self.payload)
        _check_text("summary", self.summary, MAX_AGENT_TEXT_LENGTH, optional=True)
        for field in ("digest", "manifest_ref", "reference"):
            _check_text(field, getattr(self, field), MAX_AGENT_ID_LENGTH, optional=True)
        if not isinstance(self.sensitive_fields, tuple):
            raise InvalidAgentDataError("sensitive_fields", self.sensitive_fields, "must be a tuple of str")
        for name in self.sensitive_fields:
            _check_text("sensitive_fields", name, MAX_AGENT_ID_LENGTH)
        _check_datetime("created_at", self.created_at)
        return attrs.evolve(
            self, kind=str(self.kind), payload=payload, created_at=self.created_at.astimezone(dt.UTC)
        )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_json(value: object) -> str:
    """The canonical JSON text of a JSON-able ``value``: sorted keys, no whitespace, characters as they are.

    What evidence hashes cover and how a validated payload is stored. Raises ``TypeError``
    or ``ValueError`` for a value JSON cannot hold (``normalize_json`` validates first).
    """
    return _encode_json(value)


_json_string = json.encoder.encode_basestring
"""A str as a JSON string literal, as ``json.dumps(..., ensure_ascii=False)`` writes it."""


def _json_scalar(value: object) -> str:
    """``value`` as :func:`canonical_json` writes it, without the encoder's set-up for a str, an int or None."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__repr__(value)
    return _encode_json(value)


def _canonical_evidence_text(entry: Evidence, payload_json: str) -> str:
    # The JSON object of canonical_evidence_bytes, written key by key in sorted order
    # (json.dumps with sort_keys builds, sorts and walks a dict for every entry).
    return "".join(
        (
            '{"agent_id":',
            _json_scalar(entry.agent_id),
            ',"created_at":"',
            _iso(entry.created_at),
            '","digest":',
            _json_scalar(entry.digest),
            ',"id":"',
            str(entry.id),
            '","kind":',
            _json_scalar(str(entry.kind)),
            ',"manifest_ref":',
            _json_scalar(entry.manifest_ref),
            ',"payload":',
            payload_json,
            ',"previous_hash":',
            _json_scalar(entry.previous_hash),
            ',"reference":',
            _json_scalar(entry.reference),
            ',"sensitive_fields":[',
            ",".join(map(_json_scalar, entry.sensitive_fields)),
            '],"sequence":',
            _json_scalar(entry.sequence),
            ',"summary":',
            _json_scalar(entry.summary),
            ',"v":',
            _json_scalar(EVIDENCE_HASH_VERSION),
            "}",
        )
    )


def canonical_evidence_bytes(entry: Evidence, *, payload_json: str | None = None) -> bytes:
    """The canonical encoding of ``entry`` that its hash covers (every field but ``hash``).

    A JSON object with sorted keys, no whitespace, UTF-8, ``"v": EVIDENCE_HASH_VERSION``,
    the id as its hyphenated str, ``created_at`` as ISO 8601 UTC with microseconds
    (``2026-01-02T03:04:05.000006+00:00``), ``sensitive_fields`` as a list and
    ``previous_hash`` as null for the first entry. ``payload_json``: the payload's
    :func:`canonical_json`, when the caller has it already.
    """
    text = canonical_json(entry.payload) if payload_json is None else payload_json
    return _canonical_evidence_text(entry, text).encode("utf-8")


def evidence_hash(entry: Evidence, *, payload_json: str | None = None) -> str:
    """The SHA-256 (lower-case hex) of :func:`canonical_evidence_bytes` of ``entry``."""
    return hashlib.sha256(canonical_evidence_bytes(entry, payload_json=payload_json)).hexdigest()


def chain_evidence(
    entry: Evidence, sequence: int, previous_hash: str | None, *, payload_json: str | None = None
) -> Evidence:
    """``entry`` as the log stores it: numbered ``sequence``, linked to ``previous_hash``, and hashed.

    ``entry`` is a validated entry (see :meth:`Evidence.validate`); ``payload_json`` is its
    payload's :func:`canonical_json`, when the caller has it already. Every adapter chains
    with this function, so that they all compute the same chain.
    """
    numbered = attrs.evolve(entry, sequence=sequence, previous_hash=previous_hash, hash="")
    # The copy is new and not yet shared: set its hash in place (attrs' way for a frozen
    # class) instead of copying it once more.
    object.__setattr__(numbered, "hash", evidence_hash(numbered, payload_json=payload_json))
    return numbered


@attrs.frozen
class VerifyResult:
    """The outcome of verifying an agent's evidence chain.

    ``ok`` is True when every entry is intact; otherwise ``first_broken_sequence`` is the
    first sequence number where the chain breaks and ``reason`` says how.
    """

    ok: bool
    first_broken_sequence: int | None = None
    reason: str | None = None


def verify_chain(
    entries: Iterable[Evidence],
    *,
    previous: tuple[int, str | None] = (0, None),
    recorded_head: tuple[int, str | None] | None = None,
) -> VerifyResult:
    """Verify one agent's entries, read in sequence order.

    The chain holds when the sequences are 1, 2, 3... without a gap, each entry's
    ``previous_hash`` is the previous entry's ``hash`` (None for the first), and each
    ``hash`` equals :func:`evidence_hash` of its entry. An empty log is intact.

    ``previous``: the ``(sequence, hash)`` of the entry just before the first of
    ``entries``, to verify a long chain a page at a time (``(0, None)``: from the start).
    ``recorded_head``: the ``(sequence, hash)`` of the last entry the log appended
    (``(0, None)`` before the first), kept apart from the entries. Given, the chain must
    also end there: that catches entries deleted from the end, which the chain alone
    cannot show, and entries added after it.
    """
    found, hash = previous
    for entry in entries:
        expected = found + 1
        if entry.sequence != expected:
            return VerifyResult(False, expected, f"expected sequence {expected}, found {entry.sequence}")
        if entry.previous_hash != hash:
            return VerifyResult(False, expected, "previous_hash does not match the previous entry's hash")
        if entry.hash != evidence_hash(entry):
            return VerifyResult(False, expected, "the entry's hash does not match its content")
        found, hash = expected, entry.hash
    if recorded_head is not None:
        last, head = recorded_head
        if found < last:
            return VerifyResult(False, found + 1, f"entries {found + 1} to {last} are missing")
        if found > last or hash != head:
            return VerifyResult(False, found, "the last entry is not the chain's recorded head")
    return VerifyResult(True)


# -- the ports ----------------------------------------------------------------------------------


class AgentStateStore(Protocol):
    """Agent states in the ambient transaction, and runner leases in their own transactions."""

    def get(self, id: str, /) -> AgentState:
        """Return the agent's state; raise ``EntityNotFoundError`` if there is none."""
        ...

    def get_or_none(self, id: str, /) -> AgentState | None:
        """Return the agent's state, or None."""
        ...

    def save(self, state: AgentState, /) -> AgentState:
        """Create (``version`` 0) or update (compare-and-set on ``version``); return the stored state.

        ``DuplicateEntityError`` for a second create, ``VersionConflictError`` when the
        stored version differs, ``EntityNotFoundError`` to update a missing agent. It does
        not look at runner leases (use :meth:`save_owned` for that).
        """
        ...

    def save_owned(self, state: AgentState, lease: RunnerLease, /) -> AgentState:
        """:meth:`save`, only while ``lease`` still holds the agent; else ``LeaseLostError``."""
        ...

    def list_by_status(
        self, status: AgentStatus, /, *, limit: int = 100, after: str | None = None
    ) -> Page[AgentState]:
        """The agents in ``status``, ordered by id, one page at a time."""
        ...

    def list_resume_candidates(self, *, limit: int = 100, after: str | None = None) -> Page[AgentState]:
        """The agents in :data:`ACTIVE_STATUSES`, ordered by id, one page at a time."""
        ...

    def claim_resumable(self, runner: str, /, *, lease_for: dt.timedelta) -> RunnerLease | None:
        """Lease one resume candidate no live lease holds (least recently updated first), or None.

        Runs in its own transaction; of concurrent claimers of one agent exactly one wins.
        """
        ...

    def extend(self, lease: RunnerLease, /, *, lease_for: dt.timedelta) -> RunnerLease:
        """Extend a lease still held to now + ``lease_for``; else ``LeaseLostError``."""
        ...

    def release(self, lease: RunnerLease, /) -> bool:
        """Give the agent up; False when the lease was already lost (nothing changed)."""
        ...


class AsyncAgentStateStore(Protocol):
    """Agent states and runner leases (async; see :class:`AgentStateStore`)."""

    async def get(self, id: str, /) -> AgentState:
        """Return the agent's state; raise ``EntityNotFoundError`` if there is none."""
        ...

    async def get_or_none(self, id: str, /) -> AgentState | None:
        """Return the agent's state, or None."""
        ...

    async def save(self, state: AgentState, /) -> AgentState:
        """Create (``version`` 0) or update (compare-and-set on ``version``); return the stored state."""
        ...

    async def save_owned(self, state: AgentState, lease: RunnerLease, /) -> AgentState:
        """:meth:`save`, only while ``lease`` still holds the agent; else ``LeaseLostError``."""
        ...

    async def list_by_status(
        self, status: AgentStatus, /, *, limit: int = 100, after: str | None = None
    ) -> Page[AgentState]:
        """The agents in ``status``, ordered by id, one page at a time."""
        ...

    async def list_resume_candidates(self, *, limit: int = 100, after: str | None = None) -> Page[AgentState]:
        """The agents in :data:`ACTIVE_STATUSES`, ordered by id, one page at a time."""
        ...

    async def claim_resumable(self, runner: str, /, *, lease_for: dt.timedelta) -> RunnerLease | None:
        """Lease one resume candidate no live lease holds, or None (own transaction)."""
        ...

    async def extend(self, lease: RunnerLease, /, *, lease_for: dt.timedelta) -> RunnerLease:
        """Extend a lease still held to now + ``lease_for``; else ``LeaseLostError``."""
        ...

    async def release(self, lease: RunnerLease, /) -> bool:
        """Give the agent up; False when the lease was already lost."""
        ...


class SignalQueue(Protocol):
    """Each agent's queue of signals, in the ambient transaction."""

    def send(self, signal: Signal, /) -> Signal:
        """Queue a signal and return it with its sequence.

        When the agent already has a signal with the same ``idempotency_key`` (pending or
        consumed), nothing is queued and that signal is returned. ``EntityNotFoundError``
        (``AgentState``, the agent id) when the agent has no state the transaction sees
        (committed, or saved earlier in it); nothing is queued.
        """
        ...

    def list_pending(self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0) -> list[Signal]:
        """The agent's pending signals with a sequence above ``after_sequence``, in sequence order.

        The next page starts after the last signal's ``sequence``.
        """
        ...

    def consume(
        self, agent_id: str, accepted_kinds: Iterable[SignalKind], /, *, maximum: int = 100
    ) -> list[Signal]:
        """Consume the longest prefix of pending signals whose kinds are accepted, up to ``maximum``.

        The first pending signal of another kind stops the prefix. The signals returned
        carry their ``consumed_at``; each signal is consumed exactly once, even by
        concurrent consumers (one of two overlapping transactions waits or fails with a
        conflict at commit).
        """
        ...

    def pending_count(self, agent_id: str, /) -> int:
        """How many signals of the agent are pending."""
        ...


class AsyncSignalQueue(Protocol):
    """Each agent's queue of signals (async; see :class:`SignalQueue`)."""

    async def send(self, signal: Signal, /) -> Signal:
        """Queue a signal (or find it by its idempotency key) and return it with its sequence."""
        ...

    async def list_pending(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Signal]:
        """The agent's pending signals with a sequence above ``after_sequence``, in sequence order."""
        ...

    async def consume(
        self, agent_id: str, accepted_kinds: Iterable[SignalKind], /, *, maximum: int = 100
    ) -> list[Signal]:
        """Consume the longest prefix of pending signals whose kinds are accepted, up to ``maximum``."""
        ...

    async def pending_count(self, agent_id: str, /) -> int:
        """How many signals of the agent are pending."""
        ...


class EvidenceLog(Protocol):
    """Each agent's append-only, hash-chained evidence, in the ambient transaction."""

    def append(self, entry: Evidence, /) -> Evidence:
        """Append one entry; return it with its sequence, previous_hash and hash."""
        ...

    def append_all(self, entries: Iterable[Evidence], /) -> list[Evidence]:
        """Append entries in order (each agent's chain continues in that order); return them stored.

        All or nothing: ``DuplicateEntityError`` for an id already stored, and
        ``EntityNotFoundError`` (``AgentState``, the agent id) for the first entry, in the
        batch's order, whose agent has no state the transaction sees (committed, or saved
        earlier in it); either way no entry is written.
        """
        ...

    def get(self, id: uuid.UUID, /) -> Evidence:
        """Return the entry with this id; raise ``EntityNotFoundError`` if there is none."""
        ...

    def list_by_agent(self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0) -> list[Evidence]:
        """The agent's entries with a sequence above ``after_sequence``, in append order."""
        ...

    def list_by_manifest_ref(
        self, manifest_ref: str, /, *, limit: int = 100, after: str | None = None
    ) -> Page[Evidence]:
        """The entries with this ``manifest_ref`` (any agent), ordered by id, one page at a time."""
        ...

    def last(self, agent_id: str, /, *, kind: str | EvidenceKind | None = None) -> Evidence | None:
        """The agent's entry with the highest sequence (of this ``kind``, when given), or None.

        One read, however long the log: what a resume needs (the last ``action_boundary``;
        see :func:`hexalchemy.agents.decide_from_log`).
        """
        ...

    def verify(self, agent_id: str, /) -> VerifyResult:
        """Check the agent's whole chain with :func:`verify_chain`, and that it ends at the last entry appended.

        The second check catches entries deleted from the end of the chain, which the chain
        alone cannot show.
        """
        ...


class AsyncEvidenceLog(Protocol):
    """Each agent's append-only, hash-chained evidence (async; see :class:`EvidenceLog`)."""

    async def append(self, entry: Evidence, /) -> Evidence:
        """Append one entry; return it with its sequence, previous_hash and hash."""
        ...

    async def append_all(self, entries: Iterable[Evidence], /) -> list[Evidence]:
        """Append entries in order; return them stored."""
        ...

    async def get(self, id: uuid.UUID, /) -> Evidence:
        """Return the entry with this id; raise ``EntityNotFoundError`` if there is none."""
        ...

    async def list_by_agent(
        self, agent_id: str, /, *, limit: int = 100, after_sequence: int = 0
    ) -> list[Evidence]:
        """The agent's entries with a sequence above ``after_sequence``, in append order."""
        ...

    async def list_by_manifest_ref(
        self, manifest_ref: str, /, *, limit: int = 100, after: str | None = None
    ) -> Page[Evidence]:
        """The entries with this ``manifest_ref`` (any agent), ordered by id, one page at a time."""
        ...

    async def last(self, agent_id: str, /, *, kind: str | EvidenceKind | None = None) -> Evidence | None:
        """The agent's entry with the highest sequence (of this ``kind``, when given), or None."""
        ...

    async def verify(self, agent_id: str, /) -> VerifyResult:
        """Check the agent's whole chain, and that it ends at the last entry appended."""
        ...
