"""Checks shared by the process tests of every component: no process left behind."""

from __future__ import annotations

import time

import psutil

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
