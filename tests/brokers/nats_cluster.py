"""A 3-node NATS JetStream cluster owned by one test: its own nats-server processes on free loopback ports.

Each node keeps its JetStream store and its log in a directory of its own under the
test's temporary directory; :meth:`NatsCluster.close` kills every node still running.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Final

import attrs

from tests.brokers.services import reachable

NAME: Final = "hx-test-cluster"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.define
class Node:
    name: str
    client_port: int
    cluster_port: int
    store: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


class NatsCluster:
    """Three nats-server nodes with JetStream, routed to each other on loopback."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        executable = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.directory = directory
        self.nodes = [
            Node(f"n{number}", _free_port(), _free_port(), directory / f"n{number}") for number in range(size)
        ]
        for node in self.nodes:
            node.store.mkdir(parents=True, exist_ok=True)
            routes = ",".join(
                f"nats://127.0.0.1:{other.cluster_port}" for other in self.nodes if other is not node
            )
            arguments = ["-a", "127.0.0.1", "-p", str(node.client_port), "-js", "-sd", str(node.store)]
            arguments += ["--server_name", node.name, "--cluster_name", NAME, "--routes", routes]
            arguments += [
                "--cluster",
                f"nats://127.0.0.1:{node.cluster_port}",
                "-l",
                str(directory / f"{node.name}.log"),
            ]
            node.process = subprocess.Popen(
                [executable, *arguments],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def wait_until_up(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not all(reachable(url, timeout=0.2) for url in self.urls):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the NATS cluster did not start within {seconds} s")
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        """SIGKILL the node ``name``."""
        for node in self.nodes:
            if node.name == name and node.process is not None:
                node.process.kill()
                node.process.wait(10)

    def close(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
                node.process.wait(10)
