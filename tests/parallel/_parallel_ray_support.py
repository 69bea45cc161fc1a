"""Helpers of the Ray backend tests: finding actor processes, and a real local cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
RAY = str(Path(sys.executable).with_name("ray"))
# The nodes and the driver script of the cluster test: no auth token (the nodes would
# each need the same one), no usage reports.
CLUSTER_ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
# Ports Ray would otherwise take at fixed defaults, which a second test run on this
# machine would hold already.
_NODE_PORT_OPTIONS = (
    "--node-manager-port",
    "--object-manager-port",
    "--metrics-export-port",
    "--runtime-env-agent-port",
    "--dashboard-agent-grpc-port",
    "--dashboard-agent-listen-port",
)


def producer_processes() -> list[psutil.Process]:
    """Return the live Ray actor processes of our runners under this process's Ray."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            command = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if command and command[0].startswith("ray::_RayProducer"):
            found.append(child)
    return found


def assert_no_producers(wait: float = 10.0) -> None:
    """Assert that every actor process of our runners is gone (after ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while producer_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [(p.pid, p.cmdline()) for p in producer_processes()]
    assert not left, f"Ray actor processes left behind: {left}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCluster:
    """A Ray cluster of real nodes on 127.0.0.1, each started by ``ray start``.

    Each node gets its own temporary directory and process group, so ``stop()`` ends
    exactly its processes and none of another Ray on this machine (``ray stop`` would
    end every Ray of this user).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.groups: list[int] = []
        self.dirs: list[str] = []

    def start_head(self, num_cpus: int) -> None:
        self._start(
            "--head",
            f"--port={self.port}",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",  # its headless part still listens
            num_cpus=num_cpus,
        )

    def add_node(self, num_cpus: int) -> None:
        self._start(f"--address={self.address}", num_cpus=num_cpus)

    def _start(self, *options: str, num_cpus: int) -> None:
        # Unix socket paths live under it and must stay short (about 100 characters).
        temp_dir = tempfile.mkdtemp(prefix="ecray-", dir="/tmp")
        self.dirs.append(temp_dir)
        command = [
            RAY,
            "start",
            *options,
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
        ]
        for option in _NODE_PORT_OPTIONS:
            command.append(f"{option}={free_port()}")
        process = subprocess.Popen(
            command,
            env=CLUSTER_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its daemons stay in this group: stop() ends them
        )
        self.groups.append(process.pid)
        out, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{out}")

    def processes(self) -> list[psutil.Process]:
        """Return the live processes of the nodes (their daemons; workers run apart)."""
        found = []
        for process in psutil.process_iter():
            try:
                if os.getpgid(process.pid) in self.groups and process.status() != "zombie":
                    found.append(process)
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return found

    def stop(self) -> None:
        """End every node's processes: SIGTERM, then SIGKILL after a few seconds."""
        for how, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for group in self.groups:
                with contextlib.suppress(ProcessLookupError):  # the group is gone
                    os.killpg(group, how)
            deadline = time.monotonic() + wait
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.processes():
                break
        for temp_dir in self.dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)
