"""The relay's pure logic: settings, delays, counters and the sorting of publisher results."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from hexalchemy.outbox import RelayCounters, RelaySettings
from hexalchemy.ports import ConfigError, InvalidArgumentError, OutboxMessage, PublishResult
from hexalchemy.rules import describe_error, new_message, sort_results
from hexalchemy.rules.outbox_results import MISSING_RESULT


def message(key: str | None = None) -> OutboxMessage:
    return new_message("orders", b"{}", ordering_key=key)


# --- settings ----------------------------------------------------------------------------------


def test_settings_accept_seconds_and_timedeltas() -> None:
    settings = RelaySettings(
        lease_for=5,
        min_idle_delay=dt.timedelta(milliseconds=20),
        max_idle_delay=1,
        error_backoff=0.25,
        max_error_backoff=dt.timedelta(seconds=4),
    )
    assert settings.lease_for == dt.timedelta(seconds=5)
    assert settings.min_idle_delay == 0.02
    assert settings.max_idle_delay == 1.0
    assert settings.max_error_backoff == 4.0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("batch_size", 0),
        ("batch_size", True),
        ("batch_size", 1.5),
        ("lease_for", 0),
        ("lease_for", -1),
        ("lease_for", "30"),
        ("min_idle_delay", -0.1),
        ("max_idle_delay", float("inf")),
        ("error_backoff", float("nan")),
        ("max_error_backoff", None),
        ("pipelined", 1),
        ("pipelined", "yes"),
    ],
)
def test_settings_refuse_bad_values_naming_the_option(option: str, value: object) -> None:
    arguments: dict[str, Any] = {option: value}
    with pytest.raises(ConfigError) as raised:
        RelaySettings(**arguments)
    assert raised.value.option == option


def test_pipelining_is_for_leased_delivery_only() -> None:
    assert RelaySettings(pipelined=True).pipelined
    with pytest.raises(ConfigError, match="leased delivery only") as raised:
        RelaySettings(pipelined=True, delivery="locked")
    assert raised.value.option == "pipelined"


def test_settings_refuse_a_minimum_above_its_maximum() -> None:
    with pytest.raises(ConfigError, match="max_idle_delay"):
        RelaySettings(min_idle_delay=3, max_idle_delay=2)
    with pytest.raises(ConfigError, match="max_error_backoff"):
        RelaySettings(error_backoff=3, max_error_backoff=2)


def test_the_idle_delay_doubles_up_to_its_cap() -> None:
    settings = RelaySettings(min_idle_delay=0.1, max_idle_delay=0.5)
    assert [settings.idle_delay(polls) for polls in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert settings.idle_delay(10_000) == 0.5
    with pytest.raises(InvalidArgumentError, match="idle_polls"):
        settings.idle_delay(0)


def test_the_error_delay_is_jittered_within_a_doubling_cap() -> None:
    settings = RelaySettings(error_backoff=1, max_error_backoff=3)
    assert settings.error_delay(1, random=lambda: 0.0) == 0.5
    assert settings.error_delay(1, random=lambda: 0.999) == pytest.approx(0.9995)
    assert settings.error_delay(2, random=lambda: 0.0) == 1.0
    assert settings.error_delay(5, random=lambda: 0.0) == 1.5
    assert settings.error_delay(100_000, random=lambda: 1.0) == 3.0
    assert RelaySettings(error_backoff=0).error_delay(3) == 0.0
    with pytest.raises(InvalidArgumentError, match="failures"):
        settings.error_delay(0)


# --- counters ----------------------------------------------------------------------------------


def test_counters_add_up_field_by_field() -> None:
    total = RelayCounters(published=1, batches=1) + RelayCounters(published=2, lease_lost=1, errors=3)
    assert total == RelayCounters(published=3, lease_lost=1, errors=3, batches=1)
    assert sum([RelayCounters(retried=1)] * 3, RelayCounters()) == RelayCounters(retried=3)


# --- sorting the publisher's results -----------------------------------------------------------


def test_results_in_any_order_are_matched_by_id() -> None:
    first, second, third = message(), message(), message()
    outcome = sort_results(
        [first, second, third],
        [PublishResult(third.id), PublishResult(first.id), PublishResult(second.id, "broker said no")],
    )
    assert outcome.published == (first.id, third.id)
    assert outcome.failed == ((second, "broker said no"),)


def test_a_message_without_a_result_failed() -> None:
    first, second = message(), message()
    outcome = sort_results([first, second], [PublishResult(first.id)])
    assert outcome.published == (first.id,)
    assert outcome.failed == ((second, MISSING_RESULT),)


def test_a_failure_wins_over_a_success_for_the_same_message() -> None:
    only = message()
    for results in (
        [PublishResult(only.id), PublishResult(only.id, "nope")],
        [PublishResult(only.id, "nope"), PublishResult(only.id)],
    ):
        outcome = sort_results([only], results)
        assert outcome.published == ()
        assert outcome.failed == ((only, "nope"),)


def test_results_for_unknown_messages_are_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    known, stranger = message(), message()
    with caplog.at_level(logging.WARNING, logger="hexalchemy.outbox"):
        outcome = sort_results([known], [PublishResult(known.id), PublishResult(stranger.id)])
    assert outcome.published == (known.id,)
    assert str(stranger.id) in caplog.text


@pytest.mark.parametrize("results", [None, "ok", 3, [None], [("id", None)]])
def test_results_of_the_wrong_type_are_a_type_error(results: object) -> None:
    with pytest.raises(InvalidArgumentError, match="PublishResult"):
        sort_results([message()], results)


def test_describe_error_names_the_exception_type() -> None:
    assert describe_error(ConnectionError("broker down")) == "ConnectionError: broker down"
    assert describe_error(TimeoutError()) == "TimeoutError"
