"""easycore-torch on real GPUs: the checks a CPU-only machine cannot run, in one short script.

    python benchmarks/torch/gpu_check.py            # on a machine with CUDA (under 5 minutes)
    python benchmarks/torch/gpu_check.py --no-tests # the same, without the gpu-marked tests

On a machine where torch finds no CUDA device it says so and exits 0. Otherwise it runs,
each under a watchdog that ends the script with every thread's traceback if a check hangs:

- the reference's predictor examples (2 and 3) on ``cuda:0`` and on every visible GPU,
  compared with the same model on the CPU;
- CUDA tensors returned as they are: the consumer gets them on the producer's GPU;
- the missing-device error (one past the last GPU) and an unknown device type;
- the never-hang checks with CUDA producers: a hook that raises, a producer that exits,
  a producer killed by SIGKILL; each ends the call at once, and no process is left;
- the MLP of ``bench_torch.py`` on every GPU (one producer each) against the same loop on
  ``cuda:0``, in batches per second, measured side by side;
- the tests marked ``gpu`` (``pytest -m gpu tests/torch``), if pytest is installed.

It prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import faulthandler
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from easycore_torch import OrderedRunner, ProducerDiedError, UnorderedRunner

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHECK_SECONDS = 120  # a check that takes longer hangs: the watchdog ends the script
TESTS_SECONDS = 180  # the gpu-marked tests, each under its own pytest timeout too
WIDTH = 1024
BATCH_SIZE = 512
BATCHES = 200


# -- Runners (module level: spawned producers import this file by its path) ----------------


class Net(nn.Module):
    """The reference's network of examples 2 and 3."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu(self.fc(x))


class Predictor(OrderedRunner):
    """Example 2: one number per item (or example 3 when the items are lists)."""

    @staticmethod
    def producer_init(device, cfg):
        torch.manual_seed(0)
        cfg.model = Net().to(device)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            numbers = data if isinstance(data, list) else [data]
            return cfg.model(torch.Tensor(numbers).view(-1, 1).to(device)).cpu()

    @staticmethod
    def consumer_init(cfg):
        cfg.data_list = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.data_list.append(data)

    @staticmethod
    def consumer_end(cfg):
        return torch.cat(cfg.data_list, dim=0)


class OnDevice(UnorderedRunner):
    """Return a tensor left on the producer's GPU; the consumer sums it there."""

    @staticmethod
    def producer_work(device, cfg, data):
        return torch.full((1024,), float(data), device=device)

    @staticmethod
    def consumer_init(cfg):
        cfg.seen = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.seen.append((str(data.device), float(data.sum().item())))

    @staticmethod
    def consumer_end(cfg):
        return cfg.seen


class Misbehave(UnorderedRunner):
    """Item "raise", "exit" or "sigkill" misbehaves on the GPU producer; others pass."""

    @staticmethod
    def producer_work(device, cfg, data):
        torch.ones(8, device=device).sum().item()  # the producer is using its GPU
        if data == "raise":
            raise ValueError("raised on purpose")
        if data == "exit":
            os._exit(3)
        if data == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        return data


def make_mlp() -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, WIDTH)).eval()


class MLP(OrderedRunner):
    """The benchmark's work: batches made in the caller, outputs back on the CPU, kept."""

    @staticmethod
    def producer_init(device, cfg):
        cfg.model = make_mlp().to(device)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            return cfg.model(data.to(device, non_blocking=True)).cpu()

    @staticmethod
    def consumer_init(cfg):
        cfg.outputs = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.outputs.append(data)

    @staticmethod
    def consumer_end(cfg):
        return cfg.outputs


# -- Checks ---------------------------------------------------------------------------------


def check_examples(gpus: list[str]) -> str:
    numbers = list(range(100))
    torch.manual_seed(0)
    with torch.no_grad():
        expected = Net()(torch.Tensor(numbers).view(-1, 1))
    for devices in (["cuda:0"], gpus):
        with Predictor(devices=devices) as predictor:
            one_each = predictor(numbers)
            batched = predictor([numbers[i : i + 10] for i in range(0, 100, 10)])
        torch.testing.assert_close(one_each, expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(batched, expected, rtol=1e-4, atol=1e-4)
    return f"examples 2 and 3 match the CPU on cuda:0 and on {gpus}"


def check_cuda_results(gpus: list[str]) -> str:
    with OnDevice(devices=gpus) as runner:  # read while the producers live (CUDA IPC)
        seen = runner(range(20))
    assert sorted(total for _, total in seen) == [1024.0 * i for i in range(20)]
    devices = {device for device, _ in seen}
    assert devices <= set(gpus), devices
    return f"CUDA results arrived on {sorted(devices)}"


def check_missing_devices(gpus: list[str]) -> str:
    missing = f"cuda:{len(gpus)}"
    for device, words in ((missing, f"device '{missing}' does not exist"), ("mps", "'mps'")):
        try:
            OnDevice(devices=["cuda:0", device])
        except ValueError as err:
            if words not in str(err):
                raise AssertionError(f"the error does not name {device}: {err}") from err
        else:
            raise AssertionError(f"{device} was accepted")
    return f"{missing} and mps fail at start, named"


def check_never_hang(gpus: list[str]) -> str:
    timings = []
    for item, error in (("raise", ValueError), ("exit", ProducerDiedError)):
        with Misbehave(devices=gpus) as runner:
            started = time.monotonic()
            try:
                runner([1, 2, item, 3])
            except error:
                timings.append(f"{item}: {time.monotonic() - started:.1f} s")
            else:
                raise AssertionError(f"{item} did not fail the call")
    with Misbehave(devices=gpus) as runner:
        started = time.monotonic()
        try:
            runner(["sigkill"])
        except ProducerDiedError as err:
            if "SIGKILL" not in str(err):
                raise AssertionError(f"the error does not name SIGKILL: {err}") from err
            timings.append(f"sigkill: {time.monotonic() - started:.1f} s")
        else:
            raise AssertionError("a producer killed by SIGKILL did not fail the call")
        assert not runner.is_activate
    left = multiprocessing.active_children()  # producers are multiprocessing processes
    assert not left, f"processes left behind: {left}"
    return "calls ended at once (" + ", ".join(timings) + "), no process left"


def check_throughput(gpus: list[str]) -> str:
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randn(BATCH_SIZE, WIDTH, generator=generator) for _ in range(BATCHES)]
    model = make_mlp().to("cuda:0")

    def loop() -> list[torch.Tensor]:
        with torch.no_grad():
            return [model(batch.to("cuda:0")).cpu() for batch in batches]

    with MLP(devices=gpus) as runner:
        expected = loop()
        best = {"runner": float("inf"), "loop": float("inf")}
        for _ in range(3):  # alternate, keep the best of each
            for name, work in (("runner", lambda: runner(batches)), ("loop", loop)):
                started = time.perf_counter()
                outputs = work()
                best[name] = min(best[name], time.perf_counter() - started)
                assert all(
                    torch.allclose(got, want, atol=1e-3)
                    for got, want in zip(outputs, expected, strict=True)
                )
    ours, peer = BATCHES / best["runner"], BATCHES / best["loop"]
    return (
        f"MLP {WIDTH} wide, {BATCHES} batches of {BATCH_SIZE}: {len(gpus)} GPU producers "
        f"{ours:.0f} batches/s vs loop on cuda:0 {peer:.0f} -> {ours / peer:.2f}x"
    )


def check_gpu_tests() -> str:
    try:
        import pytest  # noqa: F401  (only to know whether the tests can run)
    except ImportError:
        return "skipped: pytest is not installed here"
    done = subprocess.run(
        # Not the test that runs this script: it would run every check here twice.
        [sys.executable, "-m", "pytest", "-m", "gpu", "-k", "not gpu_check", "-q", "tests/torch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    if done.returncode != 0:
        raise AssertionError(f"{summary}\n{done.stdout[-3000:]}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-tests", action="store_true", help="skip the gpu-marked tests")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        why = "built without CUDA" if torch.version.cuda is None else "finds no CUDA device"
        print(f"gpu_check: no CUDA here (torch {torch.__version__} {why}); nothing to check.")
        return 0
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    names = [torch.cuda.get_device_name(i) for i in range(len(gpus))]
    print(f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, GPUs {names}")
    checks: list[tuple[str, Callable[[], str]]] = [
        ("examples", lambda: check_examples(gpus)),
        ("cuda results", lambda: check_cuda_results(gpus)),
        ("missing devices", lambda: check_missing_devices(gpus)),
        ("never hang", lambda: check_never_hang(gpus)),
        ("throughput", lambda: check_throughput(gpus)),
    ]
    if not args.no_tests:
        checks.append(("gpu tests", check_gpu_tests))
    failed = 0
    for name, check in checks:
        limit = TESTS_SECONDS if name == "gpu tests" else CHECK_SECONDS
        failed += not _run_check(name, check, limit)
    print(f"gpu_check: {len(checks) - failed} of {len(checks)} checks passed")
    return 1 if failed else 0


def _run_check(name: str, check: Callable[[], Any], limit: float) -> bool:
    # A hang is a failure too: the watchdog prints every thread's stack and exits.
    faulthandler.dump_traceback_later(limit, exit=True)
    started = time.monotonic()
    try:
        detail = check()
    except Exception as err:
        print(f"  FAILED {name} ({time.monotonic() - started:.0f} s): {type(err).__name__}: {err}")
        return False
    finally:
        faulthandler.cancel_dump_traceback_later()
    print(f"  ok     {name} ({time.monotonic() - started:.0f} s): {detail}")
    return True


if __name__ == "__main__":
    sys.exit(main())
