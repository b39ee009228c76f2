"""Evidence hashing: the canonical encoding of an evidence entry, its hash, and the chain they make.

Every evidence log chains with these functions, so that every adapter computes the same
chain and any of them can verify another's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Final

import attrs

from hexalchemy.ports import Evidence, VerifyResult
from hexalchemy.rules.json_values import canonical_json

__all__ = [
    "EVIDENCE_HASH_VERSION",
    "canonical_evidence_bytes",
    "chain_evidence",
    "evidence_hash",
    "verify_chain",
]

EVIDENCE_HASH_VERSION: Final = 1
"""The version of the canonical evidence encoding, included in every hashed document."""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


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
    return canonical_json(value)


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

    ``entry`` is a validated entry (see :func:`~hexalchemy.rules.validate_evidence`); ``payload_json`` is its
    payload's :func:`canonical_json`, when the caller has it already. Every adapter chains
    with this function, so that they all compute the same chain.
    """
    numbered = attrs.evolve(entry, sequence=sequence, previous_hash=previous_hash, hash="")
    # The copy is new and not yet shared: set its hash in place (attrs' way for a frozen
    # class) instead of copying it once more.
    object.__setattr__(numbered, "hash", evidence_hash(numbered, payload_json=payload_json))
    return numbered


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
