"""Helpers of the easycore-torch tests: open descriptors and scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
HELPERS = HERE.parent / "_helpers"  # the hooks the runners share (_runner_hooks.py)

#: Start a runner fast and safely in a test process that already ran torch ops: fork,
#: with one torch thread per producer (the only fork easycore_torch allows there).
FORK = {"start_method": "fork", "threads_per_producer": 1}


def open_fds() -> int:
    """Count the file descriptors this process holds open."""
    return psutil.Process().num_fds()


def run_script(
    tmp_path: Path, source: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a fresh script that can import the test runners."""
    header = f"import sys\nsys.path[:0] = {[str(HERE), str(HELPERS)]!r}\n"
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
