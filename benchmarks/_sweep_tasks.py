"""Tasks, timing helpers and result rows shared by the runner benchmarks (importable by
worker processes).

The benchmark scripts put ``benchmarks/`` on sys.path (and on Ray actors' PYTHONPATH) so
producers, Pool workers and actors import these by module name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


def burn(n: int) -> int:
    """CPU-bound work whose duration grows linearly with n."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def square(x: int) -> int:
    """The tiny task of the tiny-task rows, for every side: ours, Pool, mpire and joblib."""
    return x * x


def square_pair(x: int) -> list[int]:
    """A tiny task with a mutable result: each one is captured as it is returned."""
    return [x, x * x]


class SumSquares(UnorderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return data * data

    @staticmethod
    def consumer_init(cfg):
        cfg.sum = 0

    @staticmethod
    def consumer_work(cfg, data):
        cfg.sum += data

    @staticmethod
    def consumer_end(cfg):
        return cfg.sum


class SumBurn(SumSquares):
    @staticmethod
    def producer_work(device, cfg, data):
        return burn(data)


def best_of_pairs(
    repeats: int, ours: Callable[[], float], peer: Callable[[], float]
) -> tuple[float, float]:
    """The least time of each side over runs that alternate ours and the peer's.

    Alternating spreads the other load on this shared machine over both sides; the least
    time is the run least disturbed by it.
    """
    ours_times, peer_times = [], []
    for _ in range(repeats):
        ours_times.append(ours())
        peer_times.append(peer())
    return min(ours_times), min(peer_times)


def row(
    name: str,
    ours: float,
    peer: float | None,
    *,
    unit: str,
    higher_is_better: bool,
    min_ratio: float | None = None,
    max_value: float | None = None,
) -> dict[str, Any]:
    """A result row; ``ratio`` is how many times better ours is than the peer."""
    ratio = None
    if peer is not None and ours > 0:
        ratio = ours / peer if higher_is_better else peer / ours
    target, ok = None, None
    if min_ratio is not None:
        target, ok = f">= {min_ratio}x", ratio is not None and ratio >= min_ratio
    if max_value is not None:
        target, ok = f"< {max_value:g} {unit}", ours < max_value
    return {
        "name": name,
        "ours": ours,
        "peer": peer,
        "ratio": ratio,
        "target": target,
        "ok": ok,
        "unit": unit,
    }


def print_rows(rows: list[dict[str, Any]]) -> None:
    """Print rows made by :func:`row` as an aligned table."""
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        peer = f"{r['peer']:.4g}" if r["peer"] is not None else "-"
        verdict = {True: "ok", False: "MISSED", None: ""}[r["ok"]]
        print(
            f"{r['name']:<62} ours {r['ours']:>10.4g} {r['unit']:<7} peer {peer:>10} "
            f"ratio {ratio:>8}  target {r['target'] or '-':<9} {verdict}"
        )
