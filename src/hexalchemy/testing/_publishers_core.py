"""What the collecting publishers do, written once: :class:`Collector` and :class:`CollectingShell`.

:class:`~hexalchemy.testing.CollectingPublisher` is generated from
:class:`~hexalchemy.testing.AsyncCollectingPublisher` (``_async/publishers.py``); each
inherits its configuration and inspection methods from :class:`CollectingShell` and
publishes through its :class:`Collector`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence

from hexalchemy.ports import ConfigError, InvalidArgumentError, OutboxMessage, PublishResult
from hexalchemy.rules import check_callable, check_instance, check_items, check_uuid

FailRule = Callable[[OutboxMessage], "str | None"]
"""Decides a message's fate: an error text to refuse it, ``None`` to accept it."""


def _check_error_text(error: object) -> None:
    if not isinstance(error, str) or not error:
        raise InvalidArgumentError("error", error, "must be a non-empty str (the broker's refusal)")


class Collector:
    """Records deliveries and applies the failure rules; every method takes the lock."""

    __slots__ = ("_batches", "_delivered", "_failed", "_lock", "_raise", "_rules", "on_publish")

    def __init__(self, on_publish: Callable[[Sequence[OutboxMessage]], object] | None) -> None:
        if on_publish is not None:
            check_callable("on_publish", on_publish, error=ConfigError)
        self._lock = threading.Lock()
        self._delivered: list[OutboxMessage] = []
        self._failed: list[tuple[OutboxMessage, str]] = []
        self._batches = 0
        self._rules: list[FailRule] = []
        self._raise: Exception | None = None
        self.on_publish = on_publish

    def publish(self, messages: Sequence[OutboxMessage]) -> list[PublishResult]:
        messages = check_items("messages", messages, OutboxMessage)
        if self.on_publish is not None:
            self.on_publish(messages)
        with self._lock:
            self._batches += 1
            if self._raise is not None:
                raise self._raise
            results: list[PublishResult] = []
            for message in messages:
                error = self._error_for(message)
                if error is None:
                    self._delivered.append(message)
                else:
                    self._failed.append((message, error))
                results.append(PublishResult(message.id, error))
            return results

    def _error_for(self, message: OutboxMessage) -> str | None:
        for rule in self._rules:
            error = rule(message)
            if error is not None:
                return error
        return None

    def add_rule(self, rule: FailRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def raise_on_publish(self, error: Exception | None) -> None:
        with self._lock:
            self._raise = error

    def heal(self) -> None:
        with self._lock:
            self._rules.clear()
            self._raise = None

    def clear(self) -> None:
        with self._lock:
            self._delivered.clear()
            self._failed.clear()
            self._batches = 0

    @property
    def delivered(self) -> list[OutboxMessage]:
        with self._lock:
            return list(self._delivered)

    @property
    def failed(self) -> list[tuple[OutboxMessage, str]]:
        with self._lock:
            return list(self._failed)

    @property
    def batches(self) -> int:
        with self._lock:
            return self._batches


class CollectingShell:
    """The configuration and inspection methods of both collecting publishers (over their :class:`Collector`)."""

    _collector: Collector

    @property
    def delivered(self) -> list[OutboxMessage]:
        """A copy of every message accepted so far, in the order they were published (duplicates included)."""
        return self._collector.delivered

    @property
    def delivered_ids(self) -> list[uuid.UUID]:
        """The ids of :attr:`delivered`, in order (duplicates included)."""
        return [message.id for message in self._collector.delivered]

    @property
    def failed(self) -> list[tuple[OutboxMessage, str]]:
        """Every message refused so far, with the error returned for it (not the raised batches)."""
        return self._collector.failed

    @property
    def batches(self) -> int:
        """How many times ``publish`` was called (including the calls that raised)."""
        return self._collector.batches

    def fail_message(self, id: uuid.UUID, error: str = "refused by the test publisher") -> None:
        """Refuse the message with this id on every attempt (a poison message)."""
        check_uuid("id", id)
        _check_error_text(error)
        self._collector.add_rule(lambda message: error if message.id == id else None)

    def fail_when(self, rule: FailRule) -> None:
        """Refuse every message for which ``rule`` returns an error text (it is called under a lock)."""
        self._collector.add_rule(check_callable("rule", rule))

    def fail_always(self, error: str = "the test broker refuses everything") -> None:
        """Refuse every message (the broker answers, but says no)."""
        _check_error_text(error)
        self._collector.add_rule(lambda _message: error)

    def raise_on_publish(self, error: Exception | None) -> None:
        """Raise ``error`` from every ``publish`` call (the broker is unreachable); ``None`` stops that."""
        if error is not None:
            check_instance("error", error, Exception)
        self._collector.raise_on_publish(error)

    def heal(self) -> None:
        """Forget every failure rule and stop raising: accept everything from now on."""
        self._collector.heal()

    def clear(self) -> None:
        """Forget the deliveries, failures and batch count recorded so far (not the rules)."""
        self._collector.clear()
