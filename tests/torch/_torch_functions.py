"""Functions for the easycore-torch imap tests, at module level so producers started by
forkserver or spawn import them by name (conftest.py puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any

import torch
from _torch_runners import Net

FAILING_ITEM = 11


def load_net(device: str, cfg: Any) -> Net:
    """An init: the tutorial's model, with the same weights in every producer."""
    torch.manual_seed(cfg.seed)
    return Net().to(device).eval()


def predict(model: Net, number: float) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([[float(number)]])).cpu()


def double(tensor: torch.Tensor) -> torch.Tensor:
    return tensor * 2


def double_or_fail(tensor: torch.Tensor) -> torch.Tensor:
    if int(tensor.flatten()[0]) == FAILING_ITEM:
        raise ValueError(f"tensor {FAILING_ITEM} is bad")
    return tensor * 2
