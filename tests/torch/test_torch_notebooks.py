"""The reference's torch examples run in a real Jupyter kernel, classes defined in cells.

Example 3 (batches from a generator) and the predictor of example 2 on easycore's torch
runner, with progress bars, numpy and torch imported and a torch op run first.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("easycore.common.parallel")  # the reference's imports

from _notebooks import run_notebook

SETUP = """
import numpy, torch
import torch.nn as nn
import torch.nn.functional as F
torch.ones(400, 400) @ torch.ones(400, 400)  # torch's thread pool runs in the kernel now

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 3)

    def forward(self, x):
        return F.relu(self.fc(x))

def expected(n):
    torch.manual_seed(0)
    return F.relu(Net().fc(torch.arange(float(n)).view(-1, 1))).detach()
"""

EXAMPLE_3 = """
from easycore.torch.parallel import OrderedRunner

def batch_generator(data_list, batch_size):
    for i in range(0, len(data_list), batch_size):
        yield data_list[i : i + batch_size]

class BatchPredictor(OrderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        torch.manual_seed(0)
        cfg.model = Net()
        cfg.model.to(device)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            data = torch.Tensor(data).view(-1, 1).to(device)
            return cfg.model(data).cpu()

    @staticmethod
    def producer_end(device, cfg):
        del cfg.model

    @staticmethod
    def consumer_init(cfg):
        cfg.data_list = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.data_list.append(data)

    @staticmethod
    def consumer_end(cfg):
        return torch.cat(cfg.data_list, dim=0)

predictor = BatchPredictor(devices=["cpu", "cpu"], progress=True)
result = predictor(batch_generator(list(range(100)), batch_size=10))
predictor.close()
same = bool(torch.allclose(result, expected(100)))
print("example 3:", predictor.start_method, tuple(result.shape), same)
"""

PREDICTOR = """
from easycore.common.config import CfgNode
from easycore.torch.parallel import OrderedRunner

class Predictor(OrderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        torch.manual_seed(cfg.SEED)
        cfg.model = Net()  # stored on a frozen config's copy: the reference's pattern
        cfg.model.to(device)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            return cfg.model(torch.Tensor([[data]]).to(device)).cpu()

    @staticmethod
    def consumer_init(cfg):
        cfg.data_list = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.data_list.append(data)

    @staticmethod
    def consumer_end(cfg):
        return torch.cat(cfg.data_list, dim=0)

cfg = CfgNode()
cfg.SEED = 0
cfg.freeze()
with Predictor(devices=["cpu", "cpu"], cfg=cfg, progress=True) as predictor:
    result = predictor(list(range(100)))
same = bool(torch.allclose(result, expected(100)))
print("predictor:", tuple(result.shape), same, cfg.is_frozen())
"""


@pytest.mark.timeout(600)
def test_reference_torch_examples_run_in_a_notebook_by_default(tmp_path):
    printed = run_notebook([SETUP, EXAMPLE_3, PREDICTOR], tmp_path)
    assert printed[1].strip() == "example 3: forkserver (100, 3) True"
    assert printed[2].strip() == "predictor: (100, 3) True True"
