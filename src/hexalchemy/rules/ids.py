"""Ids: UUIDs version 7, which sort in the order they were made."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid

from hexalchemy.ports import InvalidArgumentError

__all__ = ["time_ordered_uuid"]

_uuid_lock = threading.Lock()
_last_uuid_ms = 0
_last_uuid_counter = 0


def _timestamp(now: object) -> float:
    if not isinstance(now, dt.datetime):
        raise InvalidArgumentError("now", now, "must be a datetime or None")
    try:
        return now.timestamp()
    except (
        OverflowError,
        ValueError,
        OSError,
    ):  # naive: read as local time, which may fall outside years 1..9999
        raise InvalidArgumentError("now", now, "must fall within years 1..9999") from None


def time_ordered_uuid(now: dt.datetime | None = None) -> uuid.UUID:
    """Return a new UUID version 7: its first 48 bits are the Unix time in milliseconds.

    UUIDs made by one process sort in the order they were made (a 12-bit counter orders
    those made in the same millisecond), so they index well and read as creation order.
    """
    global _last_uuid_ms, _last_uuid_counter
    millis = int((time.time() if now is None else _timestamp(now)) * 1000)
    with _uuid_lock:
        if millis <= _last_uuid_ms:
            millis = _last_uuid_ms
            _last_uuid_counter += 1
            if _last_uuid_counter > 0xFFF:
                millis += 1
                _last_uuid_counter = 0
        else:
            _last_uuid_counter = 0
        _last_uuid_ms = millis
        counter = _last_uuid_counter
    random_bits = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | random_bits
    return uuid.UUID(int=value)
