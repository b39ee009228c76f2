"""The RabbitMQ publisher's one classification of errors.

Permanent: a message the broker returned as unroutable (``mandatory`` publishing), an
exchange that does not exist, a refused access, a precondition failed (a message over
``max_message_size``), an internal exchange. Retryable: a negative confirmation (the
broker's back-pressure, such as a full queue with ``overflow=reject-publish``), a lost
connection or channel, no confirmation within the timeout.
"""

from __future__ import annotations

from typing import Final

import aiormq.exceptions

__all__ = ["is_retryable"]

_PERMANENT: Final = (
    aiormq.exceptions.PublishError,
    aiormq.exceptions.ChannelNotFoundEntity,
    aiormq.exceptions.ChannelAccessRefused,
    aiormq.exceptions.ChannelPreconditionFailed,
    ValueError,
)


def is_retryable(error: BaseException) -> bool:
    """Whether a RabbitMQ publish error is worth a retry (the one classification of the RabbitMQ publisher)."""
    return not isinstance(error, _PERMANENT)
