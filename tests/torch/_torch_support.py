"""Helpers of the easycore-torch tests: leftover processes, open descriptors, scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent

#: Start a runner fast and safely in a test process that already ran torch ops: fork,
#: with one torch thread per producer (the only fork easycore_torch allows there).
FORK = {"start_method": "fork", "threads_per_producer": 1}

# Helper processes that outlive a runner by design: the forkserver, the resource tracker.
_HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


class Leftovers:
    """Finds processes started during a test that are still running after it."""

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
                is_helper = child.ppid() == me.pid and any(h in command for h in _HELPERS)
            except psutil.NoSuchProcess:
                continue
            if not is_helper:
                found.append(child)
        return found

    def assert_none(self, wait: float = 5.0) -> None:
        deadline = time.monotonic() + wait
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        left = self.running()
        assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"


def open_fds() -> int:
    """Count the file descriptors this process holds open."""
    return psutil.Process().num_fds()


def run_script(
    tmp_path: Path, source: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a fresh script that can import the test runners."""
    header = f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
    path = tmp_path / "script.py"
    path.write_text(header + textwrap.dedent(source), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
