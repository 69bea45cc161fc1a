"""The reference's examples run in a real Jupyter kernel, with their classes defined in cells.

A notebook's ``__main__`` has no file, and the kernel's own threads (plus numpy's and
torch's, imported first) make the engine choose forkserver: the runner classes must reach
the producers by value. A kernel interrupt stops a call without leaving a producer behind.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("easycore.common.parallel")  # the reference's imports

from _notebooks import run_notebook

SETUP = """
import numpy, torch
torch.ones(400, 400) @ torch.ones(400, 400)  # torch's thread pool runs in the kernel now
"""

EXAMPLE_1 = """
from easycore.common.parallel import UnorderedRunner

class Runner(UnorderedRunner):
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

runner = Runner(devices=3, progress=True)
result = runner(list(range(100)))
runner.close()
print("example 1:", runner.start_method, result)
"""

EXAMPLE_2 = """
import torch.nn as nn
import torch.nn.functional as F
from easycore.common.parallel import OrderedRunner

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 3)

    def forward(self, x):
        return F.relu(self.fc(x))

class Predictor(OrderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        torch.manual_seed(0)
        cfg.model = Net()
        cfg.model.to(device)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            data = torch.Tensor([[data]]).to(device)
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

predictor = Predictor(devices=["cpu", "cpu"], progress=True)
result = predictor(list(range(100)))
predictor.close()
torch.manual_seed(0)
expected = F.relu(Net().fc(torch.arange(100.0).view(-1, 1))).detach()
print("example 2:", tuple(result.shape), bool(torch.allclose(result, expected)))
"""

EXAMPLE_4 = """
from easycore.common.config import CfgNode as CN
from easycore.common.parallel import UnorderedRunner

class PowerRunner(UnorderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return data ** cfg.exponent

    @staticmethod
    def consumer_init(cfg):
        cfg.sum = 0

    @staticmethod
    def consumer_work(cfg, data):
        cfg.sum += data

    @staticmethod
    def consumer_end(cfg):
        return cfg.sum

cfg = CN()
cfg.exponent = 3
runner = PowerRunner(devices=3, cfg=cfg, progress=True)
print("example 4:", runner(list(range(100))))
runner.close()
"""


@pytest.mark.timeout(600)
def test_reference_examples_run_in_a_notebook_by_default(tmp_path):
    pytest.importorskip("torch")
    printed = run_notebook([SETUP, EXAMPLE_1, EXAMPLE_2, EXAMPLE_4], tmp_path)
    assert printed[1].strip() == "example 1: forkserver 328350"
    assert printed[2].strip() == "example 2: (100, 3) True"
    assert printed[3].strip() == "example 4: 24502500"


STUCK_RUNNER = """
import os, time
from easycore_parallel import UnorderedRunner

class Slow(UnorderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        with open(f"{os.getpid()}.pid", "w"):
            pass
        if data > 0:
            time.sleep(600)
        return data

    @staticmethod
    def consumer_init(cfg):
        cfg.out = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append(data)

    @staticmethod
    def consumer_end(cfg):
        return sorted(cfg.out)

runner = Slow(2)
print("ready")
"""


def execute(client: Any, code: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``code`` in the kernel; return its reply and what it printed."""
    msg_id = client.execute(code)
    printed = []
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    reply = shell_reply(client, msg_id, timeout)
    return {"status": reply["content"]["status"], "reply": reply, "printed": "".join(printed)}


def shell_reply(client: Any, msg_id: str, timeout: float) -> dict[str, Any]:
    """Return the kernel's reply to ``msg_id``, skipping replies to earlier requests."""
    while True:
        reply: dict[str, Any] = client.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.timeout(300)
def test_kernel_interrupt_stops_the_call_leaves_no_producer_and_runner_restarts(tmp_path):
    psutil = pytest.importorskip("psutil")
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        assert execute(client, SETUP)["status"] == "ok"
        assert execute(client, STUCK_RUNNER)["printed"].strip() == "ready"
        msg_id = client.execute("runner(range(4))")
        assert wait_for(lambda: len(list(tmp_path.glob("*.pid"))) == 2, 60)
        pids = {int(path.stem) for path in tmp_path.glob("*.pid")}
        manager.interrupt_kernel()
        reply = shell_reply(client, msg_id, 60)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert wait_for(lambda: not any(psutil.pid_exists(pid) for pid in pids), 20), pids
        again = execute(client, "runner.activate()\nprint(runner([0, 0]))")
        assert again["status"] == "ok", again["reply"]["content"]
        assert again["printed"].strip() == "[0, 0]"
        assert execute(client, "runner.close()")["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
