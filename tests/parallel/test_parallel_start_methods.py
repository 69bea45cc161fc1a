"""Every start method works, the default is safe, and pickling problems are named clearly."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from _parallel_runners import Collect, Devices, SumOfPowers, SumOfSquares
from _parallel_support import START_METHODS, start_script, write_script

from easycore_parallel import NotPicklableError, UnorderedRunner


@pytest.mark.timeout(60)
def test_tutorial_sum_of_squares_runs_under_every_start_method(start_method, leftovers):
    runner = SumOfSquares(devices=3, start_method=start_method)
    assert runner.start_method == start_method
    assert runner(list(range(100))) == 328350
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_ordered_results_under_every_start_method(start_method):
    with Collect(2, start_method=start_method) as runner:
        assert runner(range(20000)) == list(range(20000))


@pytest.mark.timeout(60)
def test_cuda_devices_get_spawn_and_their_device_strings():
    with Devices(["cuda:0", "cuda:1"]) as runner:
        assert runner.start_method == "spawn"
        assert sorted(set(runner(range(200)))) == ["cuda:0", "cuda:1"]


DEFAULT_METHOD = """
from _parallel_runners import SumOfSquares
if __name__ == "__main__":
    with SumOfSquares(2) as runner:
        assert runner(range(10)) == 285
        print(runner.start_method)
"""


@pytest.mark.timeout(60)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is the default on Linux")
def test_default_is_fork_in_a_plain_process(tmp_path):
    result = subprocess.run(
        [sys.executable, str(write_script(tmp_path, DEFAULT_METHOD))],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "fork"), result.stderr


# A stand-in for torch's intra-op pool: a native thread, invisible to `threading`, that
# holds a pthread mutex forever. A forked child inherits the mutex locked, with no thread
# left to unlock it, so a producer that takes it waits forever.
NATIVE_LOCK = """
import ctypes, ctypes.util, os, sys, threading, time
from easycore_parallel import UnorderedRunner

libc = ctypes.CDLL(ctypes.util.find_library("c"))
MUTEX = ctypes.create_string_buffer(64)  # zeroed: an unlocked default pthread mutex
BODY = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)

def hold(_arg):
    libc.pthread_mutex_lock(MUTEX)
    libc.pause()

class NeedsTheLock(UnorderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        libc.pthread_mutex_lock(MUTEX)
        libc.pthread_mutex_unlock(MUTEX)

    @staticmethod
    def producer_work(device, cfg, data):
        return data + 1

if __name__ == "__main__":
    body = BODY(hold)
    thread_id = ctypes.c_ulong()
    assert libc.pthread_create(ctypes.byref(thread_id), None, body, None) == 0
    while libc.pthread_mutex_trylock(MUTEX) == 0:  # until the native thread holds it
        libc.pthread_mutex_unlock(MUTEX)
        time.sleep(0.001)
    assert threading.active_count() == 1  # Python does not see the native thread
    method = sys.argv[1] if len(sys.argv) > 1 else None
    print("starting", flush=True)
    with NeedsTheLock(2, start_method=method) as runner:
        print(runner.start_method, runner([1, 2, 3]), flush=True)
"""


@pytest.mark.timeout(60)
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_native_threads_in_parent_make_default_avoid_fork(tmp_path):
    result = subprocess.run(
        [sys.executable, str(write_script(tmp_path, NATIVE_LOCK))],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[1].split()[0] == "forkserver"


@pytest.mark.timeout(60)
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_native_lock_stand_in_really_deadlocks_forked_producers(tmp_path):
    # The control for the test above: forced fork hangs, so the stand-in is a real trap.
    process = start_script(write_script(tmp_path, NATIVE_LOCK), "fork")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "starting"
        with pytest.raises(subprocess.TimeoutExpired):
            process.communicate(timeout=3)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


TORCH_PARENT = """
import sys
import torch
from easycore_parallel import OrderedRunner

class MatMul(OrderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        x = torch.full((256, 256), float(data))
        return float((x @ x).sum())

    @staticmethod
    def consumer_init(cfg):
        cfg.out = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append(data)

    @staticmethod
    def consumer_end(cfg):
        return cfg.out

if __name__ == "__main__":
    x = torch.randn(1500, 1500)
    x @ x  # torch's intra-op thread pool is running in the parent now
    with MatMul(2) as runner:
        out = runner(range(4))
        assert out == [256.0 * 256 * 256 * d * d for d in range(4)], out
        print(runner.start_method)
"""


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_parent_that_ran_torch_ops_does_not_deadlock_producers(tmp_path):
    pytest.importorskip("torch")
    result = subprocess.run(
        [sys.executable, str(write_script(tmp_path, TORCH_PARENT))],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "forkserver"


def test_local_runner_class_works_under_fork(leftovers):
    class Local(UnorderedRunner):
        @staticmethod
        def producer_work(device, cfg, data):
            return data + 1

    with Local(1, start_method="fork") as runner:
        assert runner([1]) is None
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", [m for m in START_METHODS if m != "fork"])
def test_local_runner_class_travels_by_value_without_fork(method, leftovers):
    class Local(UnorderedRunner):
        @staticmethod
        def producer_work(device, cfg, data):
            return data + 1

        @staticmethod
        def consumer_init(cfg):
            cfg.out = []

        @staticmethod
        def consumer_work(cfg, data):
            cfg.out.append(data)

        @staticmethod
        def consumer_end(cfg):
            return sorted(cfg.out)

    with Local(1, start_method=method) as runner:
        assert runner([1, 2]) == [2, 3]
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", [m for m in START_METHODS if m != "fork"])
def test_unpicklable_local_runner_class_is_refused_clearly_without_fork(method, leftovers):
    lock = threading.Lock()

    class Local(UnorderedRunner):
        @staticmethod
        def producer_work(device, cfg, data):
            with lock:  # a lock cannot be pickled, not even by value
                return data

    with pytest.raises(
        NotPicklableError, match=r"the runner class .*Local cannot be pickled .*module level"
    ):
        Local(1, start_method=method)
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_unpicklable_cfg_value_is_named_under_spawn(leftovers):
    class Handle:  # copies (each producer shares it under fork), never pickles
        def __deepcopy__(self, memo):
            return self

        def __reduce__(self):
            raise TypeError("a Handle cannot be pickled")

    cfg = {"exponent": 2, "handle": Handle()}
    with pytest.raises(NotPicklableError, match=r"cfg\['handle'\] .*Handle.*start_method='spawn'"):
        SumOfPowers(1, cfg, start_method="spawn")
    with SumOfPowers(1, cfg, start_method="fork") as runner:  # fork copies, never pickles
        assert runner(range(4)) == 14
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_lambda_in_cfg_travels_by_value_under_spawn(leftovers):
    cfg = {"exponent": 2, "transform": lambda x: x}
    with SumOfPowers(1, cfg, start_method="spawn") as runner:
        assert runner(range(4)) == 14
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_runner_module_that_producers_cannot_import_is_explained(tmp_path, leftovers):
    path = tmp_path / "hidden_runners.py"
    path.write_text(
        textwrap.dedent(
            """
            from easycore_parallel import UnorderedRunner
            class Hidden(UnorderedRunner):
                pass
            """
        )
    )
    spec = importlib.util.spec_from_file_location("hidden_runners", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hidden_runners"] = module  # importable here, not from sys.path
    try:
        spec.loader.exec_module(module)
        with pytest.raises(
            NotPicklableError, match=r"could not load the runner class.*importable"
        ) as info:
            module.Hidden(1, start_method="spawn")
        assert info.value.device == "cpu"
        assert "No module named 'hidden_runners'" in str(info.value)
    finally:
        del sys.modules["hidden_runners"]
    leftovers.assert_none()
