"""The JetStream publisher's logic: headers, and the one classification of its errors.

A message is published with ``Nats-Msg-Id`` set to its route's ``dedup_id`` (the outbox
message id by default), so JetStream's duplicate window drops a republication; the PubAck
then says ``duplicate`` and the message counts as published.

Retryable: a connection closed, reconnecting or stale, a timeout, a full outbound buffer,
too many publishes in flight, and JetStream answering 503 (no leader yet, or it is
unavailable) or 5xx. Permanent: a payload over the server's limit, no stream bound to
the subject (JetStream's "no responders": unroutable), and any other refusal (4xx).

"No responders" alone does not tell an unroutable subject from a replicated stream whose
leader just died (a cluster electing a new one answers nothing for a moment): the
publisher asks JetStream which stream listens on the subject and passes the answer as
``stream_bound``; only a subject no stream listens on fails for good.
"""

from __future__ import annotations

from typing import Final

import nats.errors
import nats.js.errors

from hexalchemy.ports import Route

__all__ = ["MSG_ID_HEADER", "headers_of", "is_retryable"]

MSG_ID_HEADER: Final = "Nats-Msg-Id"
"""The header JetStream deduplicates on."""

_PERMANENT: Final = (
    nats.errors.MaxPayloadError,
    nats.js.errors.NoStreamResponseError,
    nats.errors.BadSubjectError,
)


def is_retryable(error: BaseException, *, stream_bound: bool = False) -> bool:
    """Whether a NATS error is worth a retry (the one classification of the JetStream publisher).

    ``stream_bound``: JetStream said a stream listens on the message's subject (or could
    not say), so "no responders" means a stream without a leader for now, not an
    unroutable message.
    """
    if isinstance(error, nats.js.errors.NoStreamResponseError) and stream_bound:
        return True
    if isinstance(error, _PERMANENT):
        return False
    if isinstance(error, nats.js.errors.APIError):
        code = error.code or 0
        return code >= 500 or code == 429 or code == 408
    return True


def headers_of(route: Route) -> dict[str, str]:
    """The NATS headers of a message: the route's, and ``Nats-Msg-Id``."""
    headers = dict(route.headers)
    headers[MSG_ID_HEADER] = route.dedup_id
    return headers
