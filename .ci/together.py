"""Run shell commands at the same time; fail if any of them fails.

``hatch run ci`` uses it to create the environments and run the quick benchmark while
lint, types and docs run: on a small machine most of that time is spent waiting on pip
and disk, not on the CPU. Each command's output is held and printed whole when it ends,
with how long it took, so that the logs do not interleave.

Example:
    python .ci/together.py "hatch env create alone.config" "hatch run lint:check"
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from typing import IO


def main(commands: list[str]) -> int:
    """Start every command in a shell, wait for all, and report each one.

    Args:
        commands: Shell command lines, run from the current directory.

    Returns:
        0 when every command exited 0, else 1 (the failures are named last).
    """
    if not commands:
        print("usage: python .ci/together.py COMMAND [COMMAND ...]", file=sys.stderr)
        return 2
    started = time.monotonic()
    failed = []
    with contextlib.ExitStack() as outputs:
        pending = [
            _Started(command, outputs.enter_context(tempfile.TemporaryFile("w+", errors="replace")))
            for command in commands
        ]
        while pending:
            time.sleep(0.5)
            for job in [job for job in pending if job.process.poll() is not None]:
                pending.remove(job)
                code = job.report(time.monotonic() - started)
                if code != 0:
                    failed.append(f"{job.command} (exit {code})")
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


# -- Internals: one running command ----------------------------------------------------


class _Started:
    """A command running in a shell, its output going to ``output``."""

    def __init__(self, command: str, output: IO[str]) -> None:
        self.command = command
        self.output = output
        self.process = subprocess.Popen(
            command, shell=True, stdout=self.output, stderr=subprocess.STDOUT
        )

    def report(self, seconds: float) -> int:
        """Print the command, its exit code, ``seconds`` and its output; return the code."""
        code = self.process.wait()
        print(f"== {self.command}  (exit {code}, {seconds:.0f} s)", flush=True)
        self.output.seek(0)
        sys.stdout.write(self.output.read())
        sys.stdout.flush()
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
