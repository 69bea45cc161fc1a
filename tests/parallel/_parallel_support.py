"""Helpers of the easycore-parallel tests: leftover-process checks and scripts."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
START_METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]


class Leftovers:
    """Finds producer processes started during a test that are still running."""

    def __init__(self) -> None:
        self.before = {child.pid for child in psutil.Process().children(recursive=True)}

    def running(self) -> list[psutil.Process]:
        me = psutil.Process()
        found = []
        for child in me.children(recursive=True):
            if child.pid in self.before:
                continue
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                command = " ".join(child.cmdline())
                is_helper = child.ppid() == me.pid and (
                    "multiprocessing.forkserver" in command
                    or "multiprocessing.resource_tracker" in command
                )
            except psutil.NoSuchProcess:
                continue
            if not is_helper:  # the forkserver and resource tracker live on, by design
                found.append(child)
        return found

    def assert_none(self, wait: float = 5.0) -> None:
        deadline = time.monotonic() + wait
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        left = self.running()
        assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"


def pid_is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(pids: set[int], wait: float = 10.0) -> set[int]:
    """Return the pids still running after ``wait`` seconds (empty when all are gone)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        alive = {pid for pid in pids if pid_is_running(pid)}
        if not alive:
            return alive
        time.sleep(0.02)
    return {pid for pid in pids if pid_is_running(pid)}


def write_script(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    """Write a script that can import the test runners (this folder goes on sys.path)."""
    header = f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
    path = tmp_path / name
    path.write_text(header + textwrap.dedent(source))
    return path


def start_script(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
