"""The outbox policy: how a relay store retries, dead-letters and finishes messages."""

from __future__ import annotations

import datetime as dt
import random as _random
from collections.abc import Callable
from typing import Final

import attrs

from hexalchemy.ports import ConfigError, OutboxMessage
from hexalchemy.rules.arguments import (
    MAX_BIGINT,
    check_duration,
    check_instance,
    check_int,
    check_positive_int,
    random_fraction,
)

__all__ = ["OutboxPolicy", "crashed_before", "exhausted_error"]

_MAX_EXPONENT: Final = 62


_MAX_ATTEMPTS: Final = 2**31 - 1
"""The attempts column is a 32-bit integer."""


def _check_max_attempts(_instance: object, _attribute: object, value: object) -> None:
    check_positive_int("max_attempts", value, maximum=_MAX_ATTEMPTS, error=ConfigError)


def _check_delay(_instance: object, attribute: attrs.Attribute[dt.timedelta], value: object) -> None:
    check_duration(attribute.name, value, error=ConfigError)


def _check_archive(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError("archive", value, "must be a bool")


@attrs.frozen(kw_only=True)
class OutboxPolicy:
    """How a relay store retries and finishes messages; every value is checked (``ConfigError``).

    - ``max_attempts``: how many times a message is claimed before it is dead-lettered.
      An attempt is counted when the message is claimed, so a message whose delivery
      kills the relay every time (the lease expires with no outcome) still reaches the
      dead letters: the claim that finds it at ``max_attempts`` moves it there instead of
      leasing it again.
    - ``base_delay``, ``max_delay``: a rejected message without ``retry_after`` waits a
      random delay between 0 and ``min(max_delay, base_delay * 2 ** (attempts - 1))``
      ("full jitter").
    - ``archive``: keep acknowledged messages in the archive table instead of deleting them
      (the tables must have been built with ``outbox_tables(..., archive=True)``).
    """

    max_attempts: int = attrs.field(default=10, validator=_check_max_attempts)
    base_delay: dt.timedelta = attrs.field(default=dt.timedelta(seconds=1), validator=_check_delay)
    max_delay: dt.timedelta = attrs.field(default=dt.timedelta(minutes=5), validator=_check_delay)
    archive: bool = attrs.field(default=False, validator=_check_archive)

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.base_delay:
            raise ConfigError("max_delay", self.max_delay, f"must be >= base_delay ({self.base_delay})")

    def retry_delay(self, attempts: int, *, random: Callable[[], float] = _random.random) -> dt.timedelta:
        """The backoff before the next attempt of a message rejected after ``attempts`` claims.

        Uniform between 0 and ``min(max_delay, base_delay * 2 ** (attempts - 1))``;
        ``random`` returns a float in [0, 1).
        """
        check_int("attempts", attempts, minimum=0, maximum=MAX_BIGINT)
        exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
        cap = min(self.max_delay.total_seconds(), self.base_delay.total_seconds() * 2.0**exponent)
        return dt.timedelta(seconds=cap * random_fraction(random))


def exhausted_error(attempts: int) -> str:
    """The error recorded for a message a claim dead-letters at the attempt limit."""
    return (
        f"gave up after {attempts} attempts: each lease expired, or each relay died while "
        "publishing it, before the relay acknowledged or rejected the message"
    )


def crashed_before(message: OutboxMessage) -> bool:
    """Whether an earlier claim of ``message`` ended with no outcome: a suspect of killing its relay.

    A claimed message counts this claim in ``attempts``; a rejection records ``last_error``
    and a release gives the attempt back. So a message claimed more than once with no
    error recorded was last claimed by a relay that neither acknowledged, rejected nor
    released it: the relay died (or outlived its lease). Relays publish such a message
    alone, so that a message that kills its relay cannot take innocent batch-mates to the
    dead letters with it.
    """
    check_instance("message", message, OutboxMessage)
    return message.attempts > 1 and message.last_error is None
