"""The Redis Streams publisher's logic, written once for the sync and async publishers.

A batch is one pipeline of one ``EVALSHA`` of :data:`SCRIPT` per stream it writes to (per
:data:`SCRIPT_ENTRIES` messages of a stream), sent in one round trip, the replies coming
back together. For each message in turn, the script adds the entry with ``XADD``
(trimming the stream with ``MAXLEN`` as configured) only when the message's dedup key is
absent, then sets that key with the dedup window as its expiry, all atomically: a
message republished within the window is not added twice (its result is a success).
Errors are classified here, once: a lost connection, a timeout, a loading or read-only
server and an out-of-memory refusal are retryable; any other refusal is permanent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlsplit

import attrs
import redis
import redis.asyncio as aioredis
from redis import exceptions
from redis.asyncio.connection import parse_url

from hexalchemy._guards import is_dict, is_instance, is_list_or_tuple
from hexalchemy.brokers._results import Routed, all_failed, route_batch, routing_function
from hexalchemy.ports import ConfigError, OutboxMessage, PublishResult, Route
from hexalchemy.rules import check_positive_int, describe_error
from hexalchemy.rules.arguments import MAX_BIGINT, check_duration

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "MAX_BLOCK",
    "DEFAULT_MAX_LENGTH",
    "SCRIPT",
    "SCRIPT_BYTES",
    "SCRIPT_ENTRIES",
    "RedisCore",
    "ScriptCall",
    "StreamEntry",
    "batch_pipeline",
    "async_redis_client_from_url",
    "check_url",
    "redis_client_from_url",
    "read_entries",
    "stream_entry",
    "unacknowledged",
]

SCRIPT: Final = """
local stream, maxlen, window = KEYS[1], ARGV[1], ARGV[3]
local trim = ARGV[2] == '1' and '~' or '='
local replies = {}
for i = 2, #KEYS do
  local dedup, payload, headers = KEYS[i], ARGV[2 * i], ARGV[2 * i + 1]
  local reply = false
  if redis.call('EXISTS', dedup) == 0 then
    if maxlen ~= '0' then
      reply = redis.pcall('XADD', stream, 'MAXLEN', trim, maxlen, '*', 'payload', payload, 'headers', headers)
    else
      reply = redis.pcall('XADD', stream, '*', 'payload', payload, 'headers', headers)
    end
    if type(reply) ~= 'table' then
      redis.call('SET', dedup, reply, 'EX', window)
    end
  end
  replies[i - 1] = reply
end
return replies
"""
"""Add entries to one stream, each unless its dedup key exists, in order.

KEYS: the stream, then one dedup key per entry; ARGV: maxlen (0: none), approximate
(1: ``MAXLEN ~``), the window in seconds, then ``payload`` and ``headers`` per entry.
Returns one reply per entry: its entry id, nil for a duplicate, or the error ``XADD``
returned (the other entries are added all the same).
"""

SCRIPT_ENTRIES: Final = 1_000
"""The most entries one call of :data:`SCRIPT` adds: Redis runs nothing else while a script runs."""

SCRIPT_BYTES: Final = 16 * 1024 * 1024
"""The payload and headers bytes after which a call of :data:`SCRIPT` takes no more entries.

A call is one command, and Redis closes a connection whose command passes its
``client-query-buffer-limit`` (1 GiB by default): large messages go in more calls. A
message larger than this goes in a call of its own."""

SCRIPT_SHA: Final = hashlib.sha1(SCRIPT.encode()).hexdigest()

DEFAULT_MAX_LENGTH: Final = 1_000_000
"""The stream length kept unless told otherwise (trimmed approximately)."""
DEFAULT_DEDUP_WINDOW: Final = dt.timedelta(hours=24)
"""How long a message's dedup key is kept unless told otherwise."""

_RETRYABLE: Final = (
    exceptions.ConnectionError,
    exceptions.TimeoutError,
    exceptions.BusyLoadingError,
    exceptions.ReadOnlyError,
    exceptions.OutOfMemoryError,
    exceptions.TryAgainError,
)

MAX_BLOCK: Final = dt.timedelta(days=1)
"""The longest a consumer's ``run_once(block=...)`` waits for new entries."""


def is_retryable(error: BaseException) -> bool:
    """Whether a Redis error is worth a retry (the one classification of the Redis publishers)."""
    return isinstance(error, _RETRYABLE) or not isinstance(error, exceptions.ResponseError)


_HEADERS_JSON: Final = json.JSONEncoder(sort_keys=True)
"""How an entry's ``headers`` field is written (as ``json.dumps(headers, sort_keys=True)``, without a new encoder per call)."""


def _headers_json(route: Route) -> str:
    headers = route.headers
    return _HEADERS_JSON.encode(headers if type(headers) is dict else dict(headers))


@attrs.frozen
class ScriptCall:
    """One ``EVALSHA`` of a batch: the positions of its messages in the batch, and its arguments after the sha."""

    positions: list[int]
    arguments: tuple[Any, ...]


class RedisCore:
    """The settings, the commands of a batch and how their replies settle each message."""

    __slots__ = ("_arguments", "dedup_prefix", "route")

    def __init__(
        self,
        *,
        max_length: int | None,
        approximate: bool,
        dedup_window: dt.timedelta,
        dedup_prefix: str,
        route: Callable[[OutboxMessage], Route] | None,
    ) -> None:
        if max_length is not None:
            check_positive_int("max_length", max_length, maximum=MAX_BIGINT, error=ConfigError)
        if not is_instance(approximate, bool):
            raise ConfigError("approximate", approximate, "must be a bool")
        check_duration("dedup_window", dedup_window, error=ConfigError)
        window = int(dedup_window.total_seconds())
        if window < 1:
            raise ConfigError("dedup_window", dedup_window, "must be at least one second")
        if not is_instance(dedup_prefix, str) or not dedup_prefix:
            raise ConfigError("dedup_prefix", dedup_prefix, "must be a non-empty str")
        self.route = routing_function(route)
        self.dedup_prefix = dedup_prefix
        self._arguments = (str(max_length or 0), "1" if approximate else "0", str(window))

    def routed(self, messages: Sequence[OutboxMessage]) -> Routed:
        """The batch routed (messages whose routing function failed are settled already)."""
        return route_batch(messages, self.route)

    def calls(self, routes: Sequence[Route]) -> list[ScriptCall]:
        """The ``EVALSHA`` calls of a batch, in batch order: one per stream and :data:`SCRIPT_ENTRIES` of its messages (or :data:`SCRIPT_BYTES`)."""
        streams: dict[str, list[int]] = {}
        for position, route in enumerate(routes):
            streams.setdefault(route.destination, []).append(position)
        calls: list[ScriptCall] = []
        for stream, positions in streams.items():
            key_prefix = f"{self.dedup_prefix}{stream}:"
            part: list[int] = []
            keys: list[str] = []
            fields: list[bytes | str] = []
            size = 0
            for position in positions:
                route = routes[position]
                headers = _headers_json(route)
                part.append(position)
                keys.append(key_prefix + route.dedup_id)
                fields.append(route.payload)
                fields.append(headers)
                size += len(route.payload) + len(headers)
                if len(part) == SCRIPT_ENTRIES or size >= SCRIPT_BYTES:
                    calls.append(self._call(stream, part, keys, fields))
                    part, keys, fields, size = [], [], [], 0
            if part:
                calls.append(self._call(stream, part, keys, fields))
        return calls

    def _call(self, stream: str, part: list[int], keys: list[str], fields: list[bytes | str]) -> ScriptCall:
        return ScriptCall(part, (len(part) + 1, stream, *keys, *self._arguments, *fields))

    @staticmethod
    def missing_script(replies: Sequence[object]) -> bool:
        """Whether the server had lost the script (it restarted): load it and send the batch again."""
        return any(isinstance(reply, exceptions.NoScriptError) for reply in replies)

    @staticmethod
    def results(
        routed: Routed, calls: Sequence[ScriptCall], replies: Sequence[object]
    ) -> list[PublishResult]:
        """One result per message from its entry's reply: an entry id or nil (a duplicate) succeed, an error fails.

        A call that failed as a whole (its reply is an error) fails each of its messages.
        """
        entries: list[object] = [None] * len(routed.messages)
        for call, reply in zip(calls, replies, strict=True):
            if is_list_or_tuple(reply) and len(reply) == len(call.positions):
                for position, entry in zip(call.positions, reply, strict=True):
                    entries[position] = entry
            else:
                failure = (
                    reply
                    if isinstance(reply, BaseException)
                    else exceptions.DataError(f"the script answered {reply!r}, not one reply per entry")
                )
                for position in call.positions:
                    entries[position] = failure
        results = list(routed.failed)
        for message, entry in zip(routed.messages, entries, strict=True):
            if isinstance(entry, BaseException):
                results.append(
                    PublishResult(message.id, describe_error(entry), permanent=not is_retryable(entry))
                )
            else:
                results.append(PublishResult(message.id))
        return results

    @staticmethod
    def lost(routed: Routed, error: BaseException) -> list[PublishResult]:
        """The batch's results when the pipeline as a whole failed: retryable unless Redis refused it."""
        return [*routed.failed, *all_failed(routed.messages, error, permanent=not is_retryable(error))]


P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


class Pipelining(Protocol[P_co]):
    """A Redis client as the publishers use it: one that makes pipelines (redis-py's, sync or async)."""

    def pipeline(self, transaction: bool = True) -> P_co:
        """A pipeline; with ``transaction`` its commands run as one ``MULTI``/``EXEC``."""
        ...


def batch_pipeline(client: Pipelining[P]) -> P:
    """A pipeline of ``client`` that sends its commands in one round trip, not as a transaction."""
    return client.pipeline(transaction=False)


@attrs.frozen
class StreamEntry:
    """One entry a Redis Streams consumer read: where it is, and what the publisher wrote."""

    stream: str
    entry_id: str
    payload: bytes
    headers: dict[str, str]


def stream_entry(stream: str, entry_id: object, fields: object) -> StreamEntry:
    """The entry of an ``XREADGROUP``/``XAUTOCLAIM`` reply, as the publisher wrote it (``payload``, ``headers``)."""
    values: dict[object, object] = dict(fields) if is_dict(fields) else {}
    payload = values.get(b"payload", values.get("payload", b""))
    raw = values.get(b"headers", values.get("headers", b"{}"))
    headers: object = {}
    if isinstance(raw, str | bytes | bytearray):
        with contextlib.suppress(ValueError):  # not JSON: no headers
            headers = json.loads(raw)
    identifier = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return StreamEntry(
        stream,
        identifier,
        payload if isinstance(payload, bytes) else str(payload).encode(),
        {str(k): str(v) for k, v in headers.items()} if is_dict(headers) else {},
    )


def _entry_order(entry: Any) -> tuple[int, int]:
    milliseconds, _, sequence = _text(entry[0]).partition("-")
    return int(milliseconds), int(sequence or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


URL_SCHEMES: Final = ("redis", "rediss", "unix")
"""The URL schemes redis-py connects with."""


def check_url(url: str) -> str:
    """``url`` if redis-py can connect with it (a redis://, rediss:// or unix:// URL); else ``ConfigError`` naming ``client``."""
    if urlsplit(url).scheme not in URL_SCHEMES:
        raise ConfigError("client", url, "must be a Redis client or a redis://, rediss:// or unix:// URL")
    return url


C_co = TypeVar("C_co", covariant=True)


class _FromUrl(Protocol[C_co]):
    """A client class's ``from_url``, as the publisher calls it (redis-py leaves its ``**kwargs`` untyped)."""

    def from_url(self, url: str) -> C_co: ...


def _from_url(client_class: _FromUrl[C_co], url: str) -> C_co:
    return client_class.from_url(url)


def redis_client_from_url(url: str) -> redis.Redis:
    """A client of its own for ``url`` (checked by :func:`check_url`), as ``redis.Redis.from_url(url)`` makes it."""
    return _from_url(redis.Redis, check_url(url))


def async_redis_client_from_url(url: str) -> aioredis.Redis:
    """The asyncio twin of :func:`redis_client_from_url`: a client owning its pool, as ``from_url`` makes it.

    ``redis.asyncio.Redis.from_url`` is ``from_pool(ConnectionPool(**parse_url(url)))``, written
    here from those typed public parts (the async ``from_url`` cannot be typed through a protocol).
    """
    return aioredis.Redis.from_pool(aioredis.ConnectionPool(**parse_url(check_url(url))))


def read_entries(reply: Any) -> list[Any]:
    """The entries of an ``XREADGROUP`` reply (a list of ``[stream, entries]``), in order."""
    found: list[Any] = []
    streams: list[Any] = list(reply or [])
    for stream_reply in streams:
        entries: list[Any] = list(stream_reply[1])
        found.extend(entries)
    return found


def unacknowledged(mine: list[Any], claimed: list[Any]) -> list[Any]:
    """A consumer's own unacknowledged entries and those it claimed, each once, in stream order.

    ``XAUTOCLAIM`` also returns the consumer's own entries once they are idle long enough;
    an entry deleted (trimmed) while pending comes with no fields, and is kept so that it
    is acknowledged.
    """
    unique = {_text(entry[0]): entry for entry in [*mine, *claimed]}
    return sorted(unique.values(), key=_entry_order)
