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

from hexalchemy._guards import is_instance, is_list_or_tuple
from hexalchemy.ports import Evidence, InvalidArgumentError, VerifyResult
from hexalchemy.rules.arguments import MAX_BIGINT, check_instance, check_int, check_items
from hexalchemy.rules.json_values import canonical_json
from hexalchemy.rules.text import encodes_as_utf8

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

    Something else than an ``Evidence`` (or one whose fields cannot be encoded), or a
    ``payload_json`` that is not a str, is an :class:`~hexalchemy.ports.InvalidArgumentError`.
    """
    check_instance("entry", entry, Evidence)
    if payload_json is not None and (not is_instance(payload_json, str) or not encodes_as_utf8(payload_json)):
        raise InvalidArgumentError(
            "payload_json", payload_json, "must be the payload's canonical JSON text, or None"
        )
    text = canonical_json(entry.payload) if payload_json is None else payload_json
    try:
        return _canonical_evidence_text(entry, text).encode("utf-8")
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:  # a field of the wrong type
        raise InvalidArgumentError("entry", entry, f"cannot be encoded ({exc})") from None


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
    check_instance("entry", entry, Evidence)
    check_int("sequence", sequence, minimum=1, maximum=MAX_BIGINT)
    if previous_hash is not None and (
        not is_instance(previous_hash, str) or not encodes_as_utf8(previous_hash)
    ):
        raise InvalidArgumentError(
            "previous_hash", previous_hash, "must be the previous entry's hash (a str), or None"
        )
    numbered = attrs.evolve(entry, sequence=sequence, previous_hash=previous_hash, hash="")
    # The copy is new and not yet shared: set its hash in place (attrs' way for a frozen
    # class) instead of copying it once more.
    object.__setattr__(numbered, "hash", evidence_hash(numbered, payload_json=payload_json))
    return numbered


def _position(name: str, value: object) -> tuple[int, str | None]:
    """A chain position ``(sequence, hash)``: an int from 0 and a hash str (None at 0)."""
    if (
        not is_list_or_tuple(value)
        or isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or isinstance(value[0], bool)
        or value[0] < 0
        or not (value[1] is None or isinstance(value[1], str))
    ):
        raise InvalidArgumentError(
            name, value, "must be a (sequence, hash) pair: an int >= 0 and a str or None"
        )
    return value[0], value[1]


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

    Something else than an iterable of ``Evidence``, or a ``previous`` or ``recorded_head``
    that is not a ``(sequence, hash)`` pair, is an :class:`~hexalchemy.ports.InvalidArgumentError`.
    """
    found, hash = _position("previous", previous)
    if recorded_head is not None:
        _position("recorded_head", recorded_head)
    for entry in check_items("entries", entries, Evidence):
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
