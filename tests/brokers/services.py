"""Where the brokers of the broker tests are, and what a test does when one is unreachable.

A broker test needs its real broker (Redis 127.0.0.1:6379, NATS with JetStream
127.0.0.1:4222, RabbitMQ 127.0.0.1:5672 guest/guest; ``TEST_REDIS_URL``, ``TEST_NATS_URL``,
``TEST_AMQP_URL`` override them). Without it the test is skipped, except in CI
(``CI=true``) or under ``TEST_REQUIRE_BROKERS=1`` (set by ``.ci/run``), where it fails.
The restart commands are the machine's own (``/work/.library/env/machines/python-svc.md``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Final, NoReturn
from urllib.parse import urlsplit

import pytest

REDIS_URL: Final = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL: Final = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP_URL: Final = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REQUIRE_BROKERS: Final = os.environ.get("TEST_REQUIRE_BROKERS") == "1" or os.environ.get("CI") == "true"

RESTART: Final = {
    "redis": [
        "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
        "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ],
    "nats": [
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
        "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
    ],
    "rabbitmq": ["rabbitmq-server -detached"],
}
"""The machine's own start command of each broker."""

STOP: Final = {
    "redis": "redis-cli -p 6379 shutdown nosave",
    "nats": "start-stop-daemon --stop --oknodo --exec /usr/sbin/nats-server",
    "rabbitmq": "rabbitmqctl stop_app",
}


def reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``url``'s host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, url: str) -> None:
    """Skip the test (fail it in CI) when the broker at ``url`` is unreachable."""
    if not reachable(url):
        without_broker(f"{name} is unreachable at {url}")


def without_broker(message: str) -> NoReturn:
    """Skip the test, or fail it when the brokers are required (CI)."""
    if REQUIRE_BROKERS:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def wait_until_reachable(url: str, seconds: float) -> None:
    """Wait up to ``seconds`` for the broker at ``url`` to accept connections; fail the test otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(url, timeout=0.5):
            return
        time.sleep(0.1)
    pytest.fail(f"the broker at {url} did not come back within {seconds} s", pytrace=False)


def restart(
    name: str, url: str, *, down_for: float = 0.5, seconds: float = 60.0, stop: str | None = None
) -> None:
    """Stop the broker ``name`` (with ``stop``, a shell command, instead of :data:`STOP`'s) and start it again with the machine's own command."""
    subprocess.run(stop or STOP[name], shell=True, check=False, capture_output=True, timeout=60)
    deadline = time.monotonic() + 20
    while reachable(url, timeout=0.2) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(down_for)
    for command in RESTART[name]:
        if name == "rabbitmq":
            subprocess.run("rabbitmqctl start_app", shell=True, check=False, capture_output=True, timeout=120)
        else:
            subprocess.run(command, shell=True, check=False, capture_output=True, timeout=60)
    wait_until_reachable(url, seconds)
