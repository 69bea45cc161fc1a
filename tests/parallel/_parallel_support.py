"""Helpers of the easycore-parallel tests: start methods, pids and scripts."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
HELPERS = HERE.parent / "_helpers"  # the hooks the runners share (_runner_hooks.py)
START_METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]


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
    """Write a script that can import the test runners (they and tests/_helpers go on sys.path)."""
    header = f"import sys\nsys.path[:0] = {[str(HERE), str(HELPERS)]!r}\n"
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
