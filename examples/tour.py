"""The easycore tour: every tutorial example of the reference, in order, offline.

Run it with ``hatch run demo``. Each step runs one example script from this folder in
a fresh Python process, under a header, and shows what it prints. Remote URLs are
served by a local HTTP server that the tour starts on 127.0.0.1 (the path tutorial
reads its address from ``EASYCORE_DEMO_URL``), and downloads go to a temporary
``EASYCORE_CACHE``. The tour exits non-zero if any step fails.

    python examples/tour.py            # the whole tour
    python examples/tour.py registry   # only the steps whose name contains "registry"
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

EXAMPLES = Path(__file__).resolve().parent
STEP_TIMEOUT = 120  # seconds: a hung step fails the tour instead of stalling it


class Step(NamedTuple):
    title: str
    script: str
    args: tuple[str, ...] = ()


STEPS = [
    Step("1.2  Light weight config tools", "config_tutorial.py"),
    Step("1.3.2  Parallel example 1: sum of squares", "parallel_example1_sum_of_squares.py"),
    Step(
        "1.3.3  Parallel example 2: a neural network predictor (CPU devices)",
        "parallel_example2_predictor.py",
        ("cpu", "cpu"),
    ),
    Step(
        "1.3.4  Parallel example 3: batched prediction on easycore.torch (CPU devices)",
        "parallel_example3_batched.py",
        ("cpu", "cpu"),
    ),
    Step("1.3.5  Parallel example 4: parameters through cfg", "parallel_example4_cfg.py"),
    Step("1.4  Register mechanism", "registry_tutorial.py"),
    Step("1.5  Path manage tools: local, remote URL, redirect, custom handler", "path_tutorial.py"),
]


def main(argv: list[str]) -> int:
    selected = [s for s in STEPS if not argv or any(a in s.script for a in argv)]
    with tempfile.TemporaryDirectory(prefix="easycore-tour-") as workdir:
        server, base_url = _serve_demo_files(Path(workdir) / "www")
        env = dict(
            os.environ,
            EASYCORE_DEMO_URL=base_url,
            EASYCORE_CACHE=str(Path(workdir) / "cache"),
            NEW_CACHE=str(Path(workdir) / "new-cache"),
        )
        try:
            failed = [step for step in selected if not _run_step(step, env, Path(workdir))]
        finally:
            server.shutdown()
    print("=" * 78)
    if failed:
        print(f"{len(failed)} of {len(selected)} steps failed: {[s.title for s in failed]}")
        return 1
    print(f"all {len(selected)} steps passed")
    return 0


def _run_step(step: Step, env: dict[str, str], workdir: Path) -> bool:
    print("=" * 78)
    print(step.title)
    print(f"$ python examples/{step.script} {' '.join(step.args)}".rstrip())
    print("-" * 78, flush=True)
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / step.script), *step.args],
            cwd=workdir,
            env=env,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"FAILED: no result after {STEP_TIMEOUT} s")
        return False
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(f"FAILED with exit code {result.returncode} after {elapsed:.1f} s")
        return False
    print(f"ok ({elapsed:.1f} s)")
    return True


def _serve_demo_files(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve the files the path tutorial downloads, on 127.0.0.1 at a free port."""
    (root / "download" / "yyy").mkdir(parents=True)
    (root / "yyy.txt").write_text("hello from yyy.txt, served by the tour\n", encoding="utf-8")
    (root / "download" / "yyy" / "zzz.txt").write_text("zzz.txt behind a redirect\n")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
