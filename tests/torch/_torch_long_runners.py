"""Torch runners for the long-run tests, at module level for spawned producers.

Items are ints; ``cfg`` names the bad ones as in tests/parallel/_parallel_long_runners.py
(``raise_at``, ``exit_at``, ``hang_at``). Every other item gives a tensor
``[item, item ** 2, pid]`` made by the producer's model-free torch ops; ``cfg.log`` is a
folder where ``producer_init`` and ``producer_end`` leave a file each.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from _runner_hooks import CollectResults

from easycore_torch import OrderedRunner


class FaultyTensors(CollectResults, OrderedRunner):
    """Collect one tensor per item, in input order."""

    @staticmethod
    def producer_init(device, cfg):
        if cfg.get("log"):
            (Path(cfg.log) / f"init-{os.getpid()}-{time.monotonic_ns()}").touch()

    @staticmethod
    def producer_work(device, cfg, data):
        if data in cfg.get("raise_at", ()):
            raise ValueError(f"bad item {data}")
        if data in cfg.get("exit_at", ()):
            os._exit(3)
        if data in cfg.get("hang_at", ()):
            time.sleep(3600)
        value = torch.tensor([float(data)])
        return torch.cat([value, value * value, torch.tensor([float(os.getpid())])])

    @staticmethod
    def producer_end(device, cfg):
        if cfg.get("log"):
            (Path(cfg.log) / f"end-{os.getpid()}-{time.monotonic_ns()}").touch()
