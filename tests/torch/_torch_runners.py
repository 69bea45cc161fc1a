"""Runners for the easycore-torch tests, at module level so spawned producers import them.

conftest.py puts this folder on sys.path, and spawn/forkserver children inherit sys.path,
so ``import _torch_runners`` works in every producer.
"""

from __future__ import annotations

import gc
import os
import time

import torch
from _runner_hooks import CollectResults, misbehave
from torch import nn

import easycore_torch
from easycore_torch import OrderedRunner, UnorderedRunner

# -- The reference's tutorial (sections 1.3.3 and 1.3.4), on easycore_torch ----------------


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 3)

    def forward(self, x):
        return nn.functional.relu(self.fc(x))


class Predictor(OrderedRunner):
    """Example 2: one number per item."""

    @staticmethod
    def producer_init(device, cfg):
        torch.manual_seed(0)  # the same weights in every producer and in the test
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


class BatchedPredictor(Predictor):
    """Example 3: a list of numbers per item."""

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            data = torch.Tensor(data).view(-1, 1).to(device)
            return cfg.model(data).cpu()


def batch_generator(data_list, batch_size):
    for i in range(0, len(data_list), batch_size):
        yield data_list[i : i + batch_size]


def expected_predictions(numbers):
    torch.manual_seed(0)
    model = Net()
    with torch.no_grad():
        return model(torch.Tensor(numbers).view(-1, 1))


# -- General-purpose runners ----------------------------------------------------------------


class Collect(CollectResults, OrderedRunner):
    """Return the results as a list, in input order."""


class CollectUnordered(CollectResults, UnorderedRunner):
    """Return the results as a list, in the order they arrive."""


class Threads(Collect):
    """Report each producer's torch thread count and pid."""

    @staticmethod
    def producer_work(device, cfg, data):
        time.sleep(0.002)  # let every producer take some items
        return (torch.get_num_threads(), os.getpid())


class Describe(Collect):
    """Report how an input tensor arrived in the producer."""

    @staticmethod
    def producer_work(device, cfg, data):
        return {"shared": data.is_shared(), "sum": float(data.double().sum())}


class MakeTensor(Collect):
    """Return ``torch.full(cfg.shape, item, dtype=cfg.dtype)`` for each item."""

    @staticmethod
    def producer_work(device, cfg, data):
        return torch.full(tuple(cfg.shape), float(data), dtype=getattr(torch, cfg.dtype))


class KeepsBuffer(Collect):
    """A producer that keeps one tensor of cfg.numel zeros and hands it out.

    Item ``"send"`` returns the tensor itself; the consumer fills what it receives with 7.
    Item ``"peek"`` returns the producer's first element: 7.0 when the consumer wrote into
    the very memory the producer holds (shared), 0.0 when it got a copy.
    """

    @staticmethod
    def producer_init(device, cfg):
        cfg.buffer = torch.zeros(cfg.numel)

    @staticmethod
    def producer_work(device, cfg, data):
        if data == "send":
            return cfg.buffer
        return float(cfg.buffer[0])

    @staticmethod
    def consumer_work(cfg, data):
        if isinstance(data, torch.Tensor):
            data.fill_(7.0)
        cfg.out.append(data)


class Echo(Collect):
    """Return each item unchanged (tensors cross twice)."""


class RingHeads(Collect):
    """Item "tensor": a 512 KiB result; any other item: where this producer's ring is at."""

    @staticmethod
    def producer_work(device, cfg, data):
        if data == "tensor":
            return torch.zeros(128 * 1024)
        ring = easycore_torch._PRODUCER.results
        return None if ring is None else ring._head


class Matmul(Collect):
    """Multiply a 512 x 512 matrix enough to use every torch thread of the producer."""

    @staticmethod
    def producer_work(device, cfg, data):
        a = torch.full((512, 512), 1.0 / 512)
        for _ in range(4):
            a = a @ a
        return (float(a.sum()), torch.get_num_threads())


class CudaDevice(Collect):
    """Report the current CUDA device of each producer (GPU tests)."""

    @staticmethod
    def producer_work(device, cfg, data):
        result = torch.ones(2, device=device) * data
        return (device, torch.cuda.current_device(), result.cpu())


class CudaResult(Collect):
    """Return tensors that stay on the producer's device (GPU tests: CUDA IPC)."""

    @staticmethod
    def producer_work(device, cfg, data):
        return torch.full((3,), float(data), device=device)


def _misbehave(cfg, hook, item=None):
    """misbehave(), with one more bad result: cfg.how == "grad" returns a non-leaf tensor."""
    return misbehave(cfg, hook, item, grad=_non_leaf_tensor)


def _non_leaf_tensor():
    return torch.ones(2, requires_grad=True) * 2  # not a leaf: torch refuses it


class Faulty(Collect):
    """Misbehave where cfg says: cfg.hook is the hook, cfg.how what to do, cfg.at the item."""

    @staticmethod
    def producer_init(device, cfg):
        _misbehave(cfg, "producer_init")

    @staticmethod
    def producer_work(device, cfg, data):
        bad = _misbehave(cfg, "producer_work", data)
        return torch.full((2,), float(data)) if bad is None else bad

    @staticmethod
    def producer_end(device, cfg):
        _misbehave(cfg, "producer_end")

    @staticmethod
    def consumer_init(cfg):
        _misbehave(cfg, "consumer_init")
        cfg.out = []

    @staticmethod
    def consumer_work(cfg, data):
        _misbehave(cfg, "consumer_work", int(data[0]))
        cfg.out.append(data)

    @staticmethod
    def consumer_end(cfg):
        _misbehave(cfg, "consumer_end")
        return torch.stack(cfg.out)


class SlowEnd(Collect):
    """A producer whose producer_end takes cfg.seconds."""

    @staticmethod
    def producer_end(device, cfg):
        time.sleep(cfg.seconds)


class Millisecond(Collect):
    """Each item takes about a millisecond and comes back unchanged."""

    @staticmethod
    def producer_work(device, cfg, data):
        time.sleep(0.001)
        return data


class MillisecondCopy(Collect):
    """Each item takes about a millisecond and comes back as a new tensor (a clone)."""

    @staticmethod
    def producer_work(device, cfg, data):
        time.sleep(0.001)
        return data.clone()


# -- Garbage collection, descriptors and races ------------------------------------------------


class Drop(UnorderedRunner):
    """Only producer_work, as the crash was found: results are dropped on arrival.

    With ``cfg.collect`` each producer runs the cyclic garbage collector on every item;
    the item ``"exit"`` ends the producer at once (``os._exit(3)``).
    """

    @staticmethod
    def producer_work(device, cfg, data):
        if isinstance(data, str) and data == "exit":
            os._exit(3)
        if cfg.get("collect"):
            gc.collect()
        return data


class EchoOrExit(Collect):
    """Return each item unchanged; the item ``"exit"`` ends the producer at once."""

    producer_work = Drop.producer_work


class KeepAll(CollectUnordered):
    """Keep every result; with ``cfg.collect`` each producer collects garbage per item."""

    producer_work = Drop.producer_work


class Full(Collect):
    """Return ``torch.full((cfg.numel,), item)``: with 262144 elements, 1 MiB each."""

    @staticmethod
    def producer_work(device, cfg, data):
        return torch.full((cfg.numel,), float(data))


class Shared(Collect):
    """Return a new tensor already in shared memory: torch's way, whatever its size."""

    @staticmethod
    def producer_work(device, cfg, data):
        return torch.full((4,), float(data)).share_memory_()


class Total(Collect):
    """Return the sum of each input tensor."""

    @staticmethod
    def producer_work(device, cfg, data):
        return float(data.sum())


class Layout(Collect):
    """Report how inputs arrived: strides, memory format, and whether views share memory."""

    @staticmethod
    def producer_work(device, cfg, data):
        first, second = data
        return {
            "channels_last": first.is_contiguous(memory_format=torch.channels_last),
            "stride": first.stride(),
            "shared_storage": first.untyped_storage().data_ptr()
            == second.untyped_storage().data_ptr(),
        }
