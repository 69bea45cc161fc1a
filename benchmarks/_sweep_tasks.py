"""Tasks of a chosen size for the runner throughput sweep (importable by worker processes)."""

from __future__ import annotations

import time
from typing import Any

from easycore_parallel import UnorderedRunner


def busy(microseconds: int) -> int:
    """Spin for about ``microseconds`` of CPU time and return 1."""
    deadline = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < deadline:
        pass
    return 1


def busy_serial(items: list[int]) -> int:
    return sum(busy(item) for item in items)


class BusyRunner(UnorderedRunner):
    """Spins each item's number of microseconds and counts the results."""

    @staticmethod
    def producer_work(device: str, cfg: Any, data: int) -> int:
        return busy(data)

    @staticmethod
    def consumer_init(cfg: Any) -> None:
        cfg.count = 0

    @staticmethod
    def consumer_work(cfg: Any, data: int) -> None:
        cfg.count += data

    @staticmethod
    def consumer_end(cfg: Any) -> int:
        return int(cfg.count)
