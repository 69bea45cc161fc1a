"""A torch runner for the Ray backend tests, apart so that the other runners need no torch."""

from __future__ import annotations

import os

import torch
from _runner_hooks import CollectResults

from easycore_torch import OrderedRunner


class TorchScale(CollectResults, OrderedRunner):
    """Multiply tensors by a tensor built in producer_init; report the producer's threads."""

    @staticmethod
    def producer_init(device, cfg):
        cfg.scale = torch.tensor(2.0, device=device)

    @staticmethod
    def producer_work(device, cfg, data):
        return (data * cfg.scale).cpu(), torch.get_num_threads(), os.getpid(), device
