"""CUDA devices: spawn, one current device per producer, clear errors where CUDA is missing.

Tests marked ``gpu`` need a CUDA device and are skipped cleanly without one; the others
run everywhere and check what a machine without the requested device reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _torch_runners import (
    BatchedPredictor,
    Collect,
    CudaDevice,
    CudaResult,
    Predictor,
    batch_generator,
    expected_predictions,
)

HAS_CUDA = torch.cuda.is_available()
GPUS = torch.cuda.device_count() if HAS_CUDA else 0

requires_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device (torch finds none)")


def _missing_device() -> str:
    """A CUDA device this machine lacks: any, or one past the last."""
    return f"cuda:{GPUS}" if HAS_CUDA else "cuda:0"


@pytest.mark.timeout(120)
def test_missing_cuda_device_fails_at_start_naming_the_device(leftovers) -> None:
    device = _missing_device()
    with pytest.raises(ValueError, match=rf"device '{device}'") as info:
        Collect(["cpu", device])
    message = str(info.value)
    if HAS_CUDA:
        assert f"{GPUS} CUDA device(s) are visible" in message
    else:
        assert "CUDA is not available to its producer" in message
        assert "['cpu', 'cpu']" in message  # says what to use instead
    assert info.value.__cause__.hook == "_setup_producer"
    leftovers.assert_none()


@pytest.mark.parametrize("device", ["cuda:0", "cuda"], ids=["indexed", "bare"])
def test_cuda_devices_get_spawn(device) -> None:
    import easycore_torch

    assert easycore_torch._default_start_method(["cpu", device]) == "spawn"


@pytest.mark.gpu
@requires_cuda
@pytest.mark.timeout(180)
def test_each_producer_runs_on_its_own_cuda_device(leftovers) -> None:
    devices = [f"cuda:{i}" for i in range(GPUS)] + ["cpu"]
    with CudaDevice(devices) as runner:
        assert runner.start_method == "spawn"
        results = runner(range(4 * len(devices)))
    seen = {device: current for device, current, _ in results}
    for i in range(GPUS):
        assert seen[f"cuda:{i}"] == i
    assert all(value.device.type == "cpu" for _, _, value in results)
    assert [float(value[0]) for _, _, value in results] == [float(i) for i in range(len(results))]
    leftovers.assert_none()


@pytest.mark.gpu
@requires_cuda
@pytest.mark.timeout(180)
def test_tutorial_examples_run_on_cuda_devices(leftovers) -> None:
    devices = [f"cuda:{i}" for i in range(GPUS)] * (2 if GPUS == 1 else 1)
    data_list = list(range(100))
    with Predictor(devices=devices) as predictor:
        result = predictor(data_list)
    assert result.shape == (100, 3)
    torch.testing.assert_close(result, expected_predictions(data_list))
    with BatchedPredictor(devices=devices) as predictor:
        result = predictor(batch_generator(data_list, batch_size=10))
    torch.testing.assert_close(result, expected_predictions(data_list))
    leftovers.assert_none()


@pytest.mark.gpu
@requires_cuda
@pytest.mark.timeout(180)
def test_cuda_tensor_results_arrive_through_cuda_ipc(leftovers) -> None:
    with CudaResult(["cuda:0"]) as runner:  # read while the producer lives: its memory
        results = runner(range(5))
        assert [r.device.type for r in results] == ["cuda"] * 5
        assert [float(r.sum().cpu()) for r in results] == [3.0 * i for i in range(5)]
    leftovers.assert_none()


GPU_CHECK = Path(__file__).resolve().parents[2] / "benchmarks" / "torch" / "gpu_check.py"


@pytest.mark.timeout(120)
def test_gpu_check_says_there_is_no_cuda_and_exits_0_without_it() -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a GPU machine
    done = subprocess.run(
        [sys.executable, str(GPU_CHECK)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "no CUDA here" in done.stdout
    assert "nothing to check" in done.stdout


@pytest.mark.gpu
@requires_cuda
@pytest.mark.timeout(360)
def test_gpu_check_passes_on_this_machines_gpus() -> None:
    done = subprocess.run(
        [sys.executable, str(GPU_CHECK), "--no-tests"],  # this run is the tests already
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checks passed" in done.stdout
