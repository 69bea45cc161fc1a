"""Runners for the Ray backend tests, at module level so that Ray actors import them.

The in-process Ray session (conftest.py) puts this folder and tests/_helpers (the hooks
the runners share) on the actors' PYTHONPATH; the cluster test ships them to the nodes
with ``runtime_env={"working_dir": ..., "py_modules": [...]}``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from _parallel_runners import Collect, Faulty


class Where(Collect):
    """Say where each item ran: (Ray node id, pid, the device the hooks see, CUDA devices)."""

    @staticmethod
    def producer_init(device, cfg):
        import ray

        cfg.node = ray.get_runtime_context().get_node_id()

    @staticmethod
    def producer_work(device, cfg, data):
        return (cfg.node, os.getpid(), device, os.environ.get("CUDA_VISIBLE_DEVICES"))


def all_producers(runner: Any, producers: int) -> set[tuple[Any, ...]]:
    """Call a Where runner until every producer answered; return (node, pid, device, cuda)."""
    seen: set[tuple[Any, ...]] = set()
    for _ in range(200):
        seen |= set(runner([0] * 4 * producers))
        if len({row[1] for row in seen}) == producers:
            return seen
        time.sleep(0.01)
    raise AssertionError(f"only {len(seen)} of {producers} producers answered: {seen}")


class RayFaulty(Faulty):
    """Faulty, plus ``how="ray.kill"``: at item ``cfg.at`` the actor has Ray kill it."""

    @staticmethod
    def producer_work(device, cfg, data):
        if cfg.get("how") == "ray.kill" and data == cfg.get("at"):
            import ray

            ray.kill(ray.get_runtime_context().current_actor)
            time.sleep(60)  # Ray ends this process long before
        return Faulty.producer_work(device, cfg, data)
