"""Start methods: safe defaults with torch, and the fork-after-torch trap never hangs.

A process that ran a parallel torch op has torch's intra-op (OpenMP) thread pool up; a
child forked from it that uses its copy of the pool waits forever (the original easycore
hangs exactly so). These tests run such parents as fresh scripts, so the state is exact.
"""

from __future__ import annotations

import multiprocessing

import pytest
from _torch_runners import Collect
from _torch_support import run_script

import easycore_torch

METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("start_method", METHODS)
def test_tensors_round_trip_under_every_start_method(start_method, leftovers) -> None:
    import torch

    threads = 1 if start_method == "fork" else None
    with Collect(["cpu", "cpu"], start_method=start_method, threads_per_producer=threads) as runner:
        assert runner.start_method == start_method
        results = runner([torch.full((3,), float(i)) for i in range(50)])
    assert [float(r[0]) for r in results] == [float(i) for i in range(50)]
    leftovers.assert_none()


@pytest.mark.parametrize(
    ("devices", "expected"),
    [(["cpu", "cpu"], "forkserver"), (["cpu", "cuda:0"], "spawn"), (["cuda"], "spawn")],
    ids=["cpu", "cpu-and-cuda", "cuda"],
)
def test_default_start_method_is_never_fork(devices, expected) -> None:
    assert easycore_torch._default_start_method(devices) == expected


def test_fork_is_refused_for_cuda_devices_before_anything_starts(leftovers) -> None:
    with pytest.raises(ValueError, match=r"start_method='fork' cannot run CUDA devices"):
        Collect(["cuda:0", "cuda:1"], start_method="fork")
    assert not leftovers.running()


PARENT_RAN_TORCH_OPS = """
    import torch
    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    for _ in range(10):
        a = torch.tanh(a @ a)  # torch's intra-op thread pool is up now
"""


@pytest.mark.timeout(120)
def test_parent_that_ran_torch_ops_runs_producers_with_many_threads(tmp_path) -> None:
    result = run_script(
        tmp_path,
        PARENT_RAN_TORCH_OPS
        + """
    from _torch_runners import Matmul

    if __name__ == "__main__":
        with Matmul(["cpu"], threads_per_producer=2) as runner:
            print(runner.start_method, runner(range(6)))
    """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("forkserver ")
    assert result.stdout.count(", 2)") == 6  # every item ran on 2 torch threads


@pytest.mark.timeout(120)
def test_fork_after_torch_ops_with_several_threads_fails_fast(tmp_path) -> None:
    result = run_script(
        tmp_path,
        PARENT_RAN_TORCH_OPS
        + """
    from _torch_runners import Matmul

    try:
        Matmul(["cpu"], start_method="fork", threads_per_producer=2)
    except ValueError as err:
        print("refused:", err)
    """,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "refused: start_method='fork' with 2 torch threads per producer would hang" in (
        result.stdout
    )
    assert "threads_per_producer=1" in result.stdout


@pytest.mark.timeout(120)
def test_fork_after_torch_ops_with_one_thread_per_producer_works(tmp_path) -> None:
    result = run_script(
        tmp_path,
        PARENT_RAN_TORCH_OPS
        + """
    from _torch_runners import Matmul

    with Matmul(["cpu", "cpu"], start_method="fork", threads_per_producer=1) as runner:
        print(runner(range(6)))
    """,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(", 1)") == 6
