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


class DiesBeforeItsReplyIsRead(CollectResults, OrderedRunner):
    """One producer's reply holds a tensor in shared memory; it dies before the caller reads it.

    Items: ``"first"`` (returned as is: ``consumer_work`` then sleeps ``cfg.nap``), an int
    ``n`` (a tensor of ``n`` ones, returned after ``cfg.pause``: large enough to travel in
    shared memory, whose descriptor the producer hands over when the caller asks), and
    ``"exit"`` (``os._exit``). The caller reads the tensor's reply only after its nap, when
    the producer that could hand the descriptor over is gone.
    """

    @staticmethod
    def producer_work(device, cfg, data):
        if data == "exit":
            os._exit(3)
        if data == "first":
            return data
        time.sleep(cfg.pause)
        return torch.ones(data)

    @staticmethod
    def consumer_work(cfg, data):
        if isinstance(data, str):
            time.sleep(cfg.nap)
        cfg.out.append(data)
